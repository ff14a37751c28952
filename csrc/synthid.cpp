#include "synthid.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "dispatch.hpp"
#include "parallel.hpp"

namespace fp {
namespace sid {

namespace {

[[noreturn]] void bad(const std::string& m) { throw std::invalid_argument(m); }

inline uint64_t context_hash(const Config& c, const int64_t* p) {
  uint64_t h = c.iv;
  for (int64_t i = 0; i + 1 < c.ngram_len; ++i) h = acc(h, static_cast<uint64_t>(p[i]));
  return h;
}

// Auto-vectorising the layer loops below with SSE2/AVX2 emulations of the 64-bit multiplication
// is slower than scalar code (measured: about 20% with GCC 12), so vectorisation is turned off
// for this function where the compiler allows it.
#if defined(__clang__)
#define FP_SID_NO_VECTORIZE
#define FP_SID_SCALAR_LOOP _Pragma("clang loop vectorize(disable)")
#elif defined(__GNUC__)
#define FP_SID_NO_VECTORIZE __attribute__((optimize("no-tree-vectorize")))
#define FP_SID_SCALAR_LOOP
#else
#define FP_SID_NO_VECTORIZE
#define FP_SID_SCALAR_LOOP
#endif

// g-values of the n-gram whose hash through its last token is `h`. The layers are independent
// chains: process them in blocks so the multiplications of several layers overlap.
FP_SID_NO_VECTORIZE inline void g_row(const Config& c, uint64_t h, uint8_t* out) {
  const int64_t D = c.depth;
  const uint64_t hm = h * kMul;
  if (c.mode == MODE_SYNTHID_TEXT) {
    constexpr int64_t kBlock = 16;
    uint64_t k[kBlock];
    for (int64_t d0 = 0; d0 < D; d0 += kBlock) {
      const int64_t m = std::min<int64_t>(kBlock, D - d0);
      for (int64_t i = 0; i < m; ++i) k[i] = hm + c.key_mul[d0 + i];
      for (int r = 0; r < 12; ++r) {
        FP_SID_SCALAR_LOOP
        for (int64_t i = 0; i < m; ++i) k[i] = regen(k[i]);
      }
      for (int64_t i = 0; i < m; ++i) out[d0 + i] = static_cast<uint8_t>((k[i] >> 30) & 1ULL);
    }
  } else {
    const int64_t s = c.table_size;
    const bool pow2 = (s & (s - 1)) == 0;
    for (int64_t d = 0; d < D; ++d) {
      const uint64_t k = hm + c.key_mul[d];
      int64_t idx;
      if (pow2) {
        idx = static_cast<int64_t>(k & static_cast<uint64_t>(s - 1));  // floor-mod of the int64
      } else {
        int64_t v = static_cast<int64_t>(k) % s;  // C++ truncates toward zero: fix the sign
        idx = v < 0 ? v + s : v;
      }
      out[d] = c.table[idx];
    }
  }
}

// g-values [rows, depth] of the n-grams whose hashes are h[0..rows), rows in order. The
// synthid-text hashing runs on the AVX-512 kernel set when the CPU has it (same bits).
inline void g_rows(const Config& c, const uint64_t* h, int64_t rows, uint8_t* out) {
#if defined(FP_HAVE_X86_KERNELS)
  if (c.mode == MODE_SYNTHID_TEXT && simd_level() >= SIMD_AVX512) {
    avx512::g_rows_text(h, rows, c.key_mul, c.depth, out);
    return;
  }
#endif
  for (int64_t j = 0; j < rows; ++j) g_row(c, h[j], out + j * c.depth);
}

// Rows per batch of hashes handed to g_rows.
constexpr int64_t kBatchRows = 256;

inline int64_t rows_of(const Config& c, int64_t len) { return len >= c.ngram_len ? len - c.ngram_len + 1 : 0; }

// Context hashes seen so far in one text, with the row where each was last seen: open
// addressing, insert/update only (no deletion), sized for the text. The references' window of the
// last `history` hashes, initially `history` zeros, holds h at row j exactly when h was last seen
// at a row >= j - history, or h == 0 and j < history.
class Seen {
 public:
  void reset(int64_t rows) {
    size_t cap = 16;
    while (cap < static_cast<size_t>(rows) * 2 + 2) cap <<= 1;
    keys_.assign(cap, 0ULL);
    rows_.assign(cap, -1);
    mask_ = cap - 1;
  }
  // Returns the row where h was last seen (-1 if never), then records row j for h.
  int64_t last_then_set(uint64_t h, int64_t j) {
    size_t i = static_cast<size_t>(mix(h)) & mask_;
    while (rows_[i] >= 0 && keys_[i] != h) i = (i + 1) & mask_;
    const int64_t prev = rows_[i];
    keys_[i] = h;
    rows_[i] = j;
    return prev;
  }

 private:
  static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
  }
  std::vector<uint64_t> keys_;
  std::vector<int64_t> rows_;
  size_t mask_ = 0;
};

inline bool in_window(const Config& c, uint64_t h, int64_t j, int64_t prev) {
  if (c.history == 0) return false;
  if (prev >= 0 && prev >= j - c.history) return true;
  return h == 0ULL && j < c.history;
}

int64_t first_eos(const Config& c, const int64_t* p, int64_t len) {
  if (!c.has_eos) return len;
  for (int64_t i = 0; i < len; ++i)
    if (p[i] == c.eos) return i;
  return len;
}

}  // namespace

namespace {
struct Prepared {
  Config c;
  std::vector<uint64_t> key_mul;
  explicit Prepared(const Config& in) : c(in), key_mul(static_cast<size_t>(in.depth)) {
    for (int64_t d = 0; d < in.depth; ++d) key_mul[d] = static_cast<uint64_t>(in.keys[d]) * kMul + 1ULL;
    c.key_mul = key_mul.data();
  }
};
}  // namespace

void check_config(const Config& c) {
  if (c.mode != MODE_SYNTHID_TEXT && c.mode != MODE_TRANSFORMERS) bad("mode: unknown");
  if (c.depth < 1 || !c.keys) bad("keys: expected at least one key");
  if (c.ngram_len < 1) bad("ngram_len must be >= 1");
  if (c.history < 0) bad("context_history_size must be >= 0");
  if (c.mode == MODE_TRANSFORMERS) {
    if (!c.table || c.table_size < 1) bad("table: expected a non-empty sampling table");
    for (int64_t i = 0; i < c.table_size; ++i)
      if (c.table[i] > 1) bad("table: entries must be 0 or 1");
  }
}

void check_ragged(const int64_t* offsets, int64_t B, int64_t n_ids) {
  if (B < 0) bad("offsets: expected length B+1 >= 1");
  if (offsets[0] != 0) bad("offsets: must start at 0");
  for (int64_t b = 0; b < B; ++b)
    if (offsets[b + 1] < offsets[b]) bad("offsets: must be non-decreasing");
  if (offsets[B] != n_ids) bad("offsets: last entry must equal the number of ids");
}

namespace {
std::vector<int64_t> row_starts(const Config& c, const int64_t* offsets, int64_t B, int64_t out_rows) {
  std::vector<int64_t> r(static_cast<size_t>(B) + 1, 0);
  for (int64_t b = 0; b < B; ++b) r[b + 1] = r[b] + rows_of(c, offsets[b + 1] - offsets[b]);
  if (r[B] != out_rows) bad("output: row count does not match the texts");
  return r;
}
}  // namespace

void g_values(const Config& c_in, const int64_t* ids, int64_t n_ids, const int64_t* offsets, int64_t B,
              uint8_t* out, int64_t out_rows, int num_threads) {
  check_config(c_in);
  Prepared prep(c_in);
  const Config& c = prep.c;
  check_ragged(offsets, B, n_ids);
  std::vector<int64_t> rs = row_starts(c, offsets, B, out_rows);
  const int64_t D = c.depth, n = c.ngram_len;
  fp::parallel_for(B, num_threads, [&](int64_t b0, int64_t b1) {
    uint64_t hs[kBatchRows];
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t* p = ids + offsets[b];
      const int64_t R = rs[b + 1] - rs[b];
      for (int64_t j0 = 0; j0 < R; j0 += kBatchRows) {
        const int64_t m = std::min(kBatchRows, R - j0);
        for (int64_t j = 0; j < m; ++j)
          hs[j] = acc(context_hash(c, p + j0 + j), static_cast<uint64_t>(p[j0 + j + n - 1]));
        g_rows(c, hs, m, out + (rs[b] + j0) * D);
      }
    }
  });
}

void masks(const Config& c_in, const int64_t* ids, int64_t n_ids, const int64_t* offsets, int64_t B,
           uint8_t* rep, uint8_t* eos, int64_t out_rows, int num_threads) {
  check_config(c_in);
  Prepared prep(c_in);
  const Config& c = prep.c;
  check_ragged(offsets, B, n_ids);
  std::vector<int64_t> rs = row_starts(c, offsets, B, out_rows);
  fp::parallel_for(B, num_threads, [&](int64_t b0, int64_t b1) {
    Seen seen;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t* p = ids + offsets[b];
      const int64_t len = offsets[b + 1] - offsets[b];
      const int64_t R = rs[b + 1] - rs[b];
      const int64_t fe = first_eos(c, p, len);
      seen.reset(R);
      for (int64_t j = 0; j < R; ++j) {
        const uint64_t ch = context_hash(c, p + j);
        rep[rs[b] + j] = in_window(c, ch, j, seen.last_then_set(ch, j)) ? 0 : 1;
        eos[rs[b] + j] = (j + c.ngram_len - 1) < fe ? 1 : 0;
      }
    }
  });
}

void detect(const Config& c_in, const int64_t* ids, int64_t n_ids, const int64_t* offsets, int64_t B,
            const DetectOut& out, int num_threads) {
  check_config(c_in);
  Prepared prep(c_in);
  const Config& c = prep.c;
  check_ragged(offsets, B, n_ids);
  const int64_t D = c.depth, n = c.ngram_len;
  fp::parallel_for(B, num_threads, [&](int64_t b0, int64_t b1) {
    std::vector<uint8_t> g(static_cast<size_t>(kBatchRows * D));
    std::vector<int64_t> lc(static_cast<size_t>(D)), ld(static_cast<size_t>(D));
    uint64_t hs[kBatchRows];
    bool firsts[kBatchRows];
    int64_t pending = 0;
    // g-values of the pending scored rows, added to the per-layer counts
    auto flush = [&] {
      g_rows(c, hs, pending, g.data());
      for (int64_t k = 0; k < pending; ++k) {
        const uint8_t* gp = g.data() + k * D;
        int64_t* a = lc.data();
        for (int64_t d = 0; d < D; ++d) a[d] += gp[d];
        if (firsts[k]) {
          int64_t* e = ld.data();
          for (int64_t d = 0; d < D; ++d) e[d] += gp[d];
        }
      }
      pending = 0;
    };
    Seen seen;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t* p = ids + offsets[b];
      const int64_t len = offsets[b + 1] - offsets[b];
      const int64_t R = rows_of(c, len);
      const int64_t fe = first_eos(c, p, len);
      std::fill(lc.begin(), lc.end(), 0);
      std::fill(ld.begin(), ld.end(), 0);
      int64_t scored = 0, trials = 0;
      seen.reset(R);
      for (int64_t j = 0; j < R; ++j) {
        const uint64_t ch = context_hash(c, p + j);
        const int64_t prev = seen.last_then_set(ch, j);
        const bool repeated = in_window(c, ch, j, prev);
        const bool first = prev < 0;
        if (repeated || (j + n - 1) >= fe) continue;
        hs[pending] = acc(ch, static_cast<uint64_t>(p[j + n - 1]));
        firsts[pending++] = first;
        ++scored;
        if (first) ++trials;
        if (pending == kBatchRows) flush();
      }
      flush();
      std::copy(lc.begin(), lc.end(), out.counts + b * D);
      std::copy(ld.begin(), ld.end(), out.counts_dedup + b * D);
      out.num_scored[b] = scored;
      out.num_trials[b] = trials;
      out.num_rows[b] = R;
    }
  });
}

uint64_t vocab_g_values(const Config& c_in, const int64_t* context, int64_t vocab, uint8_t* out, int num_threads) {
  check_config(c_in);
  Prepared prep(c_in);
  const Config& c = prep.c;
  if (vocab < 0) bad("vocab must be >= 0");
  const uint64_t ch = context_hash(c, context);
  const int64_t D = c.depth;
  fp::parallel_for(vocab, num_threads, [&](int64_t v0, int64_t v1) {
    uint64_t hs[kBatchRows];
    for (int64_t j0 = v0; j0 < v1; j0 += kBatchRows) {
      const int64_t m = std::min(kBatchRows, v1 - j0);
      for (int64_t j = 0; j < m; ++j) hs[j] = acc(ch, static_cast<uint64_t>(j0 + j));
      g_rows(c, hs, m, out + j0 * D);
    }
  });
  return ch;
}

}  // namespace sid
}  // namespace fp
