// The avx512 kernel set of the dense divergence panel (see divergence_kernel.hpp).
#include <immintrin.h>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "divergence.hpp"

namespace fp {
namespace avx512 {
#include "simd_avx512.hpp"
#include "divergence_kernel.hpp"
}  // namespace avx512
}  // namespace fp
