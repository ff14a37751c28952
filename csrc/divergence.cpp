#include "divergence.hpp"

#include "dispatch.hpp"
#include "parallel.hpp"

namespace fp {

void dense_panel(const DenseArgs& args, int num_threads) {
  void (*rows)(const DenseArgs&, int64_t, int64_t) = generic::dense_rows;
#if defined(FP_HAVE_X86_KERNELS)
  switch (simd_level()) {
    case SIMD_AVX512: rows = avx512::dense_rows; break;
    case SIMD_AVX2: rows = avx2::dense_rows; break;
    default: break;
  }
#endif
  parallel_for(args.n, num_threads, [&](int64_t b, int64_t e) { rows(args, b, e); });
}

}  // namespace fp
