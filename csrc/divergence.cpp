#include "divergence.hpp"

#include <algorithm>

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
  // Ranges of about 256K logits each, handed to whichever thread is free: a thread that gets
  // less CPU (the cores may be shared) takes fewer rows. Rows are independent, so the results
  // do not depend on the split.
  const int64_t chunk = std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(1, args.vocab));
  parallel_for_chunks(args.n, num_threads, chunk, [&](int64_t b, int64_t e) { rows(args, b, e); });
}

}  // namespace fp
