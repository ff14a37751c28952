// The generic kernel set of the dense divergence panel (see divergence_kernel.hpp).

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "divergence.hpp"

namespace fp {
namespace generic {
#include "simd_generic.hpp"
#include "divergence_kernel.hpp"
}  // namespace generic
}  // namespace fp
