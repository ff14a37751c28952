// The AVX-512 kernel set of the torch-compatible generator (torch_rng_kernel.hpp): 16-lane
// membership scan; the twist loops are vectorised by the compiler at this width.
#include <immintrin.h>

#include <cstdint>

#include "torch_rng.hpp"

#define FP_TRNG_AVX2 1
#define FP_TRNG_AVX512 1
namespace fp {
namespace trng {
namespace avx512 {
#include "torch_rng_kernel.hpp"
}  // namespace avx512
}  // namespace trng
}  // namespace fp
