// The AVX2 kernel set of the torch-compatible generator (torch_rng_kernel.hpp).
#include <immintrin.h>

#include <cstdint>

#include "torch_rng.hpp"

#define FP_TRNG_AVX2 1
namespace fp {
namespace trng {
namespace avx2 {
#include "torch_rng_kernel.hpp"
}  // namespace avx2
}  // namespace trng
}  // namespace fp
