// The generic (baseline ISA) kernel set of the torch-compatible generator (torch_rng_kernel.hpp).
#include <cstdint>

#include "torch_rng.hpp"

namespace fp {
namespace trng {
namespace generic {
#include "torch_rng_kernel.hpp"
}  // namespace generic
}  // namespace trng
}  // namespace fp
