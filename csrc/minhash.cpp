// MinHash / SimHash document signatures; see minhash.hpp for the definitions.
#include "minhash.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include "dispatch.hpp"
#include "parallel.hpp"

#if defined(FP_HAVE_X86_KERNELS) && (defined(__GNUC__) || defined(__clang__))
#define FP_MH_AVX2 1
#include <immintrin.h>
#endif

namespace fp {
namespace mh {

namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;

inline uint64_t mix64(uint64_t z) {
  z ^= z >> 30;
  z *= 0xBF58476D1CE4E5B9ULL;
  z ^= z >> 27;
  z *= 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return z;
}

// (a * x + b) mod (2^61 - 1) for a, x, b < 2^61. Exact, so every implementation agrees.
inline uint64_t affine_mod(uint64_t a, uint64_t x, uint64_t b) {
#if defined(__SIZEOF_INT128__)
  unsigned __int128 t = static_cast<unsigned __int128>(a) * x + b;  // < 2^123
  uint64_t r = (static_cast<uint64_t>(t) & kPrime) + static_cast<uint64_t>(t >> 61);  // < 2^62 + 2^61
#else
  // 32-bit halves (the AVX2 formula): a*x = a1 x1 2^64 + (a0 x1 + a1 x0) 2^32 + a0 x0, 2^61 = 1.
  const uint64_t a0 = a & 0xFFFFFFFFu, a1 = a >> 32, x0 = x & 0xFFFFFFFFu, x1 = x >> 32;
  const uint64_t p00 = a0 * x0, p01 = a0 * x1 + a1 * x0, p11 = a1 * x1;
  uint64_t r = (p11 << 3) + (p01 >> 29) + ((p01 & ((uint64_t(1) << 29) - 1)) << 32) +
               (p00 & kPrime) + (p00 >> 61) + b;
#endif
  r = (r & kPrime) + (r >> 61);
  if (r >= kPrime) r -= kPrime;
  return r;
}

void check_corpus(const int64_t* offsets, int64_t num_docs, int64_t n, int64_t ngram) {
  if (num_docs < 0) fail("number of documents must be >= 0");
  if (n < 0) fail("number of ids must be >= 0");
  if (ngram < 1) fail("ngram must be >= 1, got " + std::to_string(ngram));
  if (offsets[0] != 0) fail("offsets must start at 0");
  for (int64_t d = 0; d < num_docs; ++d)
    if (offsets[d + 1] < offsets[d]) fail("offsets must be non-decreasing (at " + std::to_string(d) + ")");
  if (offsets[num_docs] != n) fail("offsets must end at the number of ids " + std::to_string(n));
}

void check_ids(const int64_t* ids, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i)
    if (ids[i] < 0) fail("ids must be >= 0; ids[" + std::to_string(i) + "] = " + std::to_string(ids[i]));
}

void minhash_doc_generic(const uint64_t* h, int64_t m, const uint64_t* a, const uint64_t* b,
                         int64_t num_perm, uint64_t* sig) {
  // Eight permutations per pass over the shingles, their minima in registers.
  constexpr int64_t kBlock = 8;
  int64_t k = 0;
  for (; k + kBlock <= num_perm; k += kBlock) {
    uint64_t acc[kBlock];
    for (int64_t j = 0; j < kBlock; ++j) acc[j] = kPrime;  // above every value in [0, p)
    for (int64_t i = 0; i < m; ++i) {
      const uint64_t x = h[i] >> 3;
      for (int64_t j = 0; j < kBlock; ++j) {
        const uint64_t v = affine_mod(a[k + j], x, b[k + j]);
        acc[j] = v < acc[j] ? v : acc[j];
      }
    }
    for (int64_t j = 0; j < kBlock; ++j) sig[k + j] = acc[j];
  }
  for (; k < num_perm; ++k) {
    uint64_t acc = kPrime;
    for (int64_t i = 0; i < m; ++i) {
      const uint64_t v = affine_mod(a[k], h[i] >> 3, b[k]);
      acc = v < acc ? v : acc;
    }
    sig[k] = acc;
  }
}

#ifdef FP_MH_AVX2
// Four permutations per vector (64-bit lanes), sixteen per pass over the shingles (four
// accumulators). a * x is built from four 32 x 32 -> 64-bit products with 2^61 = 1 (mod p):
// a * x = a1 x1 2^64 + (a0 x1 + a1 x0) 2^32 + a0 x0, a = a1 2^32 + a0, x = x1 2^32 + x0,
// a1, x1 < 2^29. All intermediate values stay below 2^63, so the signed 64-bit compare of AVX2
// orders them correctly. The result is exact: identical to the scalar code.
#define FP_MH_TARGET __attribute__((target("avx2")))

struct Lanes {
  __m256i a0, a1, b;
};

FP_MH_TARGET inline __m256i affine_mod4(const Lanes& L, __m256i x0, __m256i x1, __m256i x1_8) {
  const __m256i P = _mm256_set1_epi64x(static_cast<long long>(kPrime));
  const __m256i M29 = _mm256_set1_epi64x((1LL << 29) - 1);
  const __m256i p00 = _mm256_mul_epu32(L.a0, x0);
  const __m256i p01 = _mm256_add_epi64(_mm256_mul_epu32(L.a0, x1), _mm256_mul_epu32(L.a1, x0));
  __m256i s = _mm256_mul_epu32(L.a1, x1_8);  // a1 x1 2^64 = 8 a1 x1 (mod p); x1 < 2^29
  s = _mm256_add_epi64(s, _mm256_srli_epi64(p01, 29));
  s = _mm256_add_epi64(s, _mm256_slli_epi64(_mm256_and_si256(p01, M29), 32));
  s = _mm256_add_epi64(s, _mm256_and_si256(p00, P));
  s = _mm256_add_epi64(s, _mm256_srli_epi64(p00, 61));
  s = _mm256_add_epi64(s, L.b);
  __m256i r = _mm256_add_epi64(_mm256_and_si256(s, P), _mm256_srli_epi64(s, 61));
  const __m256i ge = _mm256_cmpgt_epi64(r, _mm256_set1_epi64x(static_cast<long long>(kPrime - 1)));
  return _mm256_sub_epi64(r, _mm256_and_si256(ge, P));
}

FP_MH_TARGET inline __m256i min4(__m256i acc, __m256i v) {
  return _mm256_blendv_epi8(acc, v, _mm256_cmpgt_epi64(acc, v));
}

FP_MH_TARGET inline Lanes load_lanes(const uint64_t* a, const uint64_t* b) {
  const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
  return Lanes{av, _mm256_srli_epi64(av, 32), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b))};
}

// x = h >> 3 split once per document: xs[3i] = x0, xs[3i+1] = x1, xs[3i+2] = 8 x1 (< 2^32),
// each broadcast from memory.
template <int V>
FP_MH_TARGET inline void avx2_pass(const uint64_t* xs, int64_t m, const uint64_t* a,
                                   const uint64_t* b, uint64_t* sig) {
  Lanes L[V];
  __m256i acc[V];
  for (int v = 0; v < V; ++v) {
    L[v] = load_lanes(a + 4 * v, b + 4 * v);
    acc[v] = _mm256_set1_epi64x(static_cast<long long>(kPrime));
  }
  for (int64_t i = 0; i < m; ++i) {
    const __m256i x0 = _mm256_set1_epi64x(static_cast<long long>(xs[3 * i]));
    const __m256i x1 = _mm256_set1_epi64x(static_cast<long long>(xs[3 * i + 1]));
    const __m256i x1_8 = _mm256_set1_epi64x(static_cast<long long>(xs[3 * i + 2]));
    for (int v = 0; v < V; ++v) acc[v] = min4(acc[v], affine_mod4(L[v], x0, x1, x1_8));
  }
  for (int v = 0; v < V; ++v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(sig + 4 * v), acc[v]);
}

FP_MH_TARGET void minhash_doc_avx2(const uint64_t* h, int64_t m, const uint64_t* a,
                                   const uint64_t* b, int64_t num_perm, uint64_t* sig,
                                   std::vector<uint64_t>& xs) {
  xs.resize(static_cast<size_t>(3 * m));
  for (int64_t i = 0; i < m; ++i) {
    const uint64_t x = h[i] >> 3;
    xs[3 * i] = x & 0xFFFFFFFFu;
    xs[3 * i + 1] = x >> 32;
    xs[3 * i + 2] = (x >> 32) << 3;
  }
  int64_t k = 0;
  for (; k + 16 <= num_perm; k += 16) avx2_pass<4>(xs.data(), m, a + k, b + k, sig + k);
  for (; k + 4 <= num_perm; k += 4) avx2_pass<1>(xs.data(), m, a + k, b + k, sig + k);
  if (k < num_perm) minhash_doc_generic(h, m, a + k, b + k, num_perm - k, sig + k);
}
#endif

}  // namespace

void permutations(uint64_t seed, int64_t num_perm, uint64_t* a, uint64_t* b) {
  if (num_perm < 1) fail("num_perm must be >= 1");
  uint64_t s = seed;
  for (int64_t k = 0; k < num_perm; ++k) {
    s += kGolden;
    a[k] = 1 + mix64(s) % (kPrime - 1);
    s += kGolden;
    b[k] = mix64(s) % kPrime;
  }
}

int64_t num_shingles(int64_t len, int64_t ngram) {
  if (len <= 0) return 0;
  return len >= ngram ? len - ngram + 1 : 1;
}

void shingle_hashes(const int64_t* ids, int64_t len, int64_t ngram, uint64_t* out) {
  const int64_t m = num_shingles(len, ngram);
  const int64_t w = len >= ngram ? ngram : len;
  for (int64_t i = 0; i < m; ++i) {
    uint64_t h = 0;
    for (int64_t j = 0; j < w; ++j) h = mix64(h + static_cast<uint64_t>(ids[i + j]) + kGolden);
    out[i] = h;
  }
}

void minhash_batch(const int64_t* ids, int64_t n, const int64_t* offsets, int64_t num_docs,
                   int64_t ngram, const uint64_t* a, const uint64_t* b, int64_t num_perm,
                   uint64_t* out, int num_threads) {
  check_corpus(offsets, num_docs, n, ngram);
  if (num_perm < 1) fail("num_perm must be >= 1");
  if (num_threads < 1) fail("num_threads must be >= 1");
  for (int64_t k = 0; k < num_perm; ++k)
    if (a[k] < 1 || a[k] >= kPrime || b[k] >= kPrime) fail("permutation parameters out of range");
  bool avx2 = false;
#ifdef FP_MH_AVX2
  avx2 = simd_level() >= SIMD_AVX2;
#endif
  parallel_for(num_docs, num_threads, [&](int64_t begin, int64_t end) {
    std::vector<uint64_t> h, xs;
    for (int64_t d = begin; d < end; ++d) {
      const int64_t s = offsets[d], len = offsets[d + 1] - offsets[d];
      uint64_t* sig = out + d * num_perm;
      check_ids(ids, s, s + len);
      const int64_t m = num_shingles(len, ngram);
      if (m == 0) {
        for (int64_t k = 0; k < num_perm; ++k) sig[k] = kEmpty;
        continue;
      }
      h.resize(static_cast<size_t>(m));
      shingle_hashes(ids + s, len, ngram, h.data());
#ifdef FP_MH_AVX2
      if (avx2) {
        minhash_doc_avx2(h.data(), m, a, b, num_perm, sig, xs);
        continue;
      }
#endif
      (void)avx2;
      minhash_doc_generic(h.data(), m, a, b, num_perm, sig);
    }
  });
}

void simhash_batch(const int64_t* ids, int64_t n, const int64_t* offsets, int64_t num_docs,
                   int64_t ngram, int bits, const double* weights, uint64_t* out, int num_threads) {
  check_corpus(offsets, num_docs, n, ngram);
  if (bits < 1 || bits > 64) fail("bits must be in [1, 64], got " + std::to_string(bits));
  if (num_threads < 1) fail("num_threads must be >= 1");
  parallel_for(num_docs, num_threads, [&](int64_t begin, int64_t end) {
    std::vector<uint64_t> h;
    for (int64_t d = begin; d < end; ++d) {
      const int64_t s = offsets[d], len = offsets[d + 1] - offsets[d];
      check_ids(ids, s, s + len);
      const int64_t m = num_shingles(len, ngram);
      h.resize(static_cast<size_t>(m));
      shingle_hashes(ids + s, len, ngram, h.data());
      uint64_t r = 0;
      if (weights == nullptr) {
        int64_t v[64] = {0};
        for (int64_t i = 0; i < m; ++i)
          for (int j = 0; j < bits; ++j) v[j] += ((h[i] >> j) & 1) ? 1 : -1;
        for (int j = 0; j < bits; ++j)
          if (v[j] > 0) r |= uint64_t(1) << j;
      } else {
        double v[64] = {0.0};
        for (int64_t i = 0; i < m; ++i) {
          const double w = weights[s + i];
          for (int j = 0; j < bits; ++j) v[j] += ((h[i] >> j) & 1) ? w : -w;
        }
        for (int j = 0; j < bits; ++j)
          if (v[j] > 0) r |= uint64_t(1) << j;
      }
      out[d] = r;
    }
  });
}

}  // namespace mh
}  // namespace fp
