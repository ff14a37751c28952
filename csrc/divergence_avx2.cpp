// The avx2 kernel set of the dense divergence panel (see divergence_kernel.hpp).
#include <immintrin.h>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "divergence.hpp"

namespace fp {
namespace avx2 {
#include "simd_avx2.hpp"
#include "divergence_kernel.hpp"
}  // namespace avx2
}  // namespace fp
