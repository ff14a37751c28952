// SynthID-Text g-values (synthid-text hashing) with AVX-512F/DQ: eight layers per vector, the
// 64-bit multiply-low (vpmullq) and the arithmetic shift (vpsraq) native, eight rows in flight so
// the multiplier's latency is hidden. Compiled only with AVX-512 flags; chosen at run time
// (csrc/dispatch.hpp). Same arithmetic as the scalar path (synthid.hpp: regen), so the bits agree.
#include <immintrin.h>

#include <cstdint>

#include "synthid.hpp"

namespace fp {
namespace sid {
namespace avx512 {

namespace {
constexpr int kRows = 8;  // rows in flight per layer block
constexpr int kRounds = 12;
}  // namespace

void g_rows_text(const uint64_t* h, int64_t rows, const uint64_t* key_mul, int64_t depth, uint8_t* out) {
  const __m512i mul = _mm512_set1_epi64(static_cast<long long>(kMul));
  const __m512i inc = _mm512_set1_epi64(static_cast<long long>(kMul + 1ULL));
  const __m512i one = _mm512_set1_epi64(1);
  for (int64_t d0 = 0; d0 < depth; d0 += 8) {
    const int64_t m = depth - d0 < 8 ? depth - d0 : 8;
    const __mmask8 lanes = static_cast<__mmask8>((1u << m) - 1u);
    const __m512i kv = _mm512_maskz_loadu_epi64(lanes, key_mul + d0);
    int64_t r = 0;
    for (; r + kRows <= rows; r += kRows) {
      __m512i k[kRows];
      for (int i = 0; i < kRows; ++i)
        k[i] = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(h[r + i] * kMul)), kv);
      for (int t = 0; t < kRounds; ++t)
        for (int i = 0; i < kRows; ++i)
          k[i] = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mullo_epi64(k[i], mul), inc), 5);
      for (int i = 0; i < kRows; ++i)
        _mm512_mask_cvtepi64_storeu_epi8(out + (r + i) * depth + d0, lanes,
                                         _mm512_and_si512(_mm512_srli_epi64(k[i], 30), one));
    }
    for (; r < rows; ++r) {
      __m512i k = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(h[r] * kMul)), kv);
      for (int t = 0; t < kRounds; ++t)
        k = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mullo_epi64(k, mul), inc), 5);
      _mm512_mask_cvtepi64_storeu_epi8(out + r * depth + d0, lanes,
                                       _mm512_and_si512(_mm512_srli_epi64(k, 30), one));
    }
  }
}

}  // namespace avx512
}  // namespace sid
}  // namespace fp
