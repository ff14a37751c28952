#include "watermark.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include "parallel.hpp"
#include "torch_rng.hpp"

namespace fp {
namespace wm {

namespace {

constexpr uint64_t kM64 = UINT64_MAX;  // 2^64 - 1, the modulus lm-watermarking applies to seeds

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

inline int64_t wrap_mul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
inline int64_t wrap_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

// Python's v % (2^64 - 1) for a signed 64-bit v.
inline uint64_t mod_m64(int64_t v) {
  if (v >= 0) return static_cast<uint64_t>(v);
  return static_cast<uint64_t>(v) - 1u;  // v + 2^64 - 1
}

// a * b mod (2^64 - 1) for unsigned a, b (2^64 = 1 modulo 2^64 - 1, so hi + lo).
inline uint64_t mulmod_m64(uint64_t a, uint64_t b) {
  uint64_t lo = a * b;
  uint64_t hi = trng::mulhi64(a, b);
  uint64_t s = lo + hi;
  if (s < lo) s += 1;  // carry out of 2^64 is worth 1
  return s == kM64 ? 0 : s;
}

// Python's (key * x) % (2^64 - 1) with exact integers, key >= 0, x any int64.
inline uint64_t exact_key_mod(uint64_t key, int64_t x) {
  if (x >= 0) return mulmod_m64(key, static_cast<uint64_t>(x));
  uint64_t mag = 0u - static_cast<uint64_t>(x);  // |x|, also for INT64_MIN
  uint64_t r = mulmod_m64(key, mag);
  return r == 0 ? 0 : kM64 - r;
}

inline int64_t hashint(const int32_t* table, int64_t x) {
  int64_t r = x % kHashTableSize;  // torch's % on int64 tensors is a floor modulo
  if (r < 0) r += kHashTableSize;
  return int64_t(table[r]) + 1;
}

bool prf_uses_table(int prf) {
  return !(prf == PRF_ADDITIVE || prf == PRF_MULTIPLICATIVE || prf == PRF_MINFUNC || prf == PRF_POSITION);
}

}  // namespace

void check_config(const KgwConfig& c) {
  if (c.prf < 0 || c.prf >= PRF_COUNT) fail("unknown PRF code " + std::to_string(c.prf));
  if (c.vocab < 2 || c.vocab >= trng::kRandpermSmallLimit)
    fail("vocab_size must be in [2, " + std::to_string(trng::kRandpermSmallLimit) + "), got " + std::to_string(c.vocab));
  if (c.green_size < 1 || c.green_size >= c.vocab)
    fail("green list size must be in [1, vocab_size), got " + std::to_string(c.green_size));
  if (c.prf_width < 1) fail("PRF width must be >= 1");
  if (c.prf == PRF_MINSKIPGRAM && c.prf_width < 2) fail("minskipgram_prf needs a context width >= 2");
  if (c.ngram_len < c.prf_width + (c.self_salt ? 0 : 1)) fail("n-gram length shorter than the PRF window");
  if (c.min_len < c.ngram_len) fail("minimum length shorter than the n-gram");
  if (c.key >= (uint64_t(1) << 63)) fail("hash key must be < 2^63");
  if (prf_uses_table(c.prf) && c.table == nullptr) fail("this PRF needs the hashint table");
}

namespace {
inline int64_t key_i64(const KgwConfig& c) { return static_cast<int64_t>(c.key); }
}  // namespace

uint64_t kgw_seed(const KgwConfig& c, const int64_t* w, int64_t h) {
  const int64_t key = key_i64(c);
  const int32_t* T = c.table;
  switch (c.prf) {
    case PRF_ADDITIVE: {
      int64_t s = 0;
      for (int64_t i = 0; i < h; ++i) s = wrap_add(s, w[i]);
      return exact_key_mod(c.key, s);
    }
    case PRF_MULTIPLICATIVE: {
      int64_t p = 1;
      for (int64_t i = 0; i < h; ++i) p = wrap_mul(p, w[i]);
      return exact_key_mod(c.key, p);
    }
    case PRF_MINFUNC: {
      int64_t m = w[0];
      for (int64_t i = 1; i < h; ++i) m = std::min(m, w[i]);
      return exact_key_mod(c.key, m);
    }
    case PRF_SIMPLE_SKIP: {
      int64_t p = 1;
      for (int64_t i = 0; i < h; i += 2) p = wrap_mul(p, hashint(T, wrap_mul(key, w[i])));
      return mod_m64(p);
    }
    case PRF_SKIPGRAM:
      return mod_m64(hashint(T, wrap_mul(key, w[0])));
    case PRF_ANCHORED_SKIPGRAM:
      return mod_m64(wrap_mul(hashint(T, wrap_mul(key, w[0])), hashint(T, wrap_mul(key, w[h - 1]))));
    case PRF_MINHASH: {
      int64_t m = hashint(T, wrap_mul(key, w[0]));
      for (int64_t i = 1; i < h; ++i) m = std::min(m, hashint(T, wrap_mul(key, w[i])));
      return mod_m64(m);
    }
    case PRF_ANCHORED_MINHASH: {
      const int64_t anchor = hashint(T, w[h - 1]);
      int64_t m = INT64_MAX;
      for (int64_t i = 0; i < h; ++i) m = std::min(m, wrap_mul(wrap_mul(key, hashint(T, w[i])), anchor));
      return mod_m64(m);
    }
    case PRF_MINSKIPGRAM: {
      int64_t m = INT64_MAX;
      for (int64_t i = 0; i < h; ++i) {
        const int64_t hi = hashint(T, wrap_mul(key, w[i]));
        for (int64_t j = i + 1; j < h; ++j) m = std::min(m, wrap_mul(hi, hashint(T, wrap_mul(key, w[j]))));
      }
      return mod_m64(m);
    }
    case PRF_NONCOMM: {
      int64_t k = key;
      for (int64_t i = 0; i < h; ++i) {
        k = wrap_mul(k, hashint(T, wrap_mul(k, w[i])));
        k &= int64_t(0xFFFFFFFF);  // floor modulo 2^32 of a two's-complement value
      }
      return mod_m64(k);
    }
    case PRF_POSITION: {
      int64_t s = 0;
      for (int64_t i = 0; i < h; ++i) s = wrap_add(s, wrap_mul(wrap_mul(key, w[i]), i + 1));
      return mod_m64(s);
    }
    default:
      fail("unknown PRF code " + std::to_string(c.prf));
  }
}

namespace {

// The text's first token index after BOS removal.
inline int64_t text_start(const KgwConfig& c, const int64_t* ids, int64_t s, int64_t e) {
  return (c.bos >= 0 && e > s && ids[s] == c.bos) ? s + 1 : s;
}

inline uint64_t window_seed(const KgwConfig& c, const int64_t* ids, int64_t t) {
  const int64_t last = c.self_salt ? t : t - 1;  // the window ends at the prefix's last token
  return kgw_seed(c, ids + last - c.prf_width + 1, c.prf_width);
}

// Open-addressing set of n-grams (identified by their end position in ids).
class NgramSet {
 public:
  void reset(int64_t expected, const int64_t* ids, int64_t n) {
    ids_ = ids;
    n_ = n;
    size_t cap = 16;
    while (cap < size_t(expected) * 2 + 2) cap <<= 1;
    slots_.assign(cap, -1);
    mask_ = cap - 1;
  }
  // Inserts the n-gram ending at t; returns true if it was not there.
  bool insert(int64_t t) {
    uint64_t h = 0x243F6A8885A308D3ull;
    for (int64_t k = t - n_ + 1; k <= t; ++k) {
      h = (h ^ static_cast<uint64_t>(ids_[k])) * 0x9E3779B97F4A7C15ull;
      h ^= h >> 29;
    }
    size_t i = static_cast<size_t>(h) & mask_;
    while (true) {
      const int64_t q = slots_[i];
      if (q < 0) {
        slots_[i] = t;
        return true;
      }
      if (std::equal(ids_ + q - n_ + 1, ids_ + q + 1, ids_ + t - n_ + 1)) return false;
      i = (i + 1) & mask_;
    }
  }

 private:
  const int64_t* ids_ = nullptr;
  int64_t n_ = 1;
  std::vector<int64_t> slots_;
  size_t mask_ = 0;
};

}  // namespace

std::vector<uint64_t> kgw_position_seeds(const KgwConfig& c, const int64_t* ids, int64_t n) {
  check_config(c);
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= c.vocab)
      fail("ids[" + std::to_string(i) + "] = " + std::to_string(ids[i]) + " is outside [0, " + std::to_string(c.vocab) + ")");
  std::vector<uint64_t> out;
  const int64_t s = text_start(c, ids, 0, n);
  if (n - s < c.min_len) return out;
  for (int64_t t = s + c.ngram_len - 1; t < n; ++t) out.push_back(window_seed(c, ids, t));
  return out;
}

void kgw_detect_batch(const KgwConfig& c, const int64_t* ids, int64_t n_ids, const int64_t* off,
                      int64_t n_texts, const KgwBatchOut& out, int num_threads) {
  check_config(c);
  if (n_texts < 0) fail("negative number of texts");
  if (off[0] != 0 || off[n_texts] != n_ids) fail("offsets must start at 0 and end at the number of ids");
  for (int64_t b = 0; b < n_texts; ++b)
    if (off[b + 1] < off[b]) fail("offsets must be non-decreasing (at " + std::to_string(b) + ")");
  const uint64_t V = static_cast<uint64_t>(c.vocab);

  // 1. (seed32 << 32 | token) of every scored position; kNone elsewhere.
  constexpr uint64_t kNone = UINT64_MAX;  // never a valid key: tokens are < 2^31
  std::vector<uint64_t> key(static_cast<size_t>(n_ids), kNone);
  parallel_for(n_texts, num_threads, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t s0 = off[b], e = off[b + 1];
      for (int64_t i = s0; i < e; ++i)
        if (static_cast<uint64_t>(ids[i]) >= V)
          fail("ids[" + std::to_string(i) + "] = " + std::to_string(ids[i]) + " is outside [0, " +
               std::to_string(c.vocab) + ")");
      const int64_t s = text_start(c, ids, s0, e);
      if (e - s < c.min_len) continue;
      for (int64_t t = s + c.ngram_len - 1; t < e; ++t) {
        const uint32_t seed32 = static_cast<uint32_t>(window_seed(c, ids, t) & 0xFFFFFFFFu);
        key[size_t(t)] = (uint64_t(seed32) << 32) | static_cast<uint64_t>(ids[t]);
      }
    }
  });

  // 2. Distinct pairs over the whole batch, grouped by seed (sorted by seed, then token).
  std::vector<uint64_t> uniq;
  uniq.reserve(key.size());
  for (uint64_t k : key)
    if (k != kNone) uniq.push_back(k);
  std::sort(uniq.begin(), uniq.end());
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());

  // 3. Green flag of each distinct pair: one generator stream per seed (tracked tokens, or a
  //    built prefix for seeds with many tokens).
  const int64_t steps = c.select_head ? c.green_size : c.vocab - c.green_size;
  std::vector<uint8_t> green(uniq.size(), 0);
  trng::prefix_flags_sorted(uniq.data(), int64_t(uniq.size()), c.vocab, steps, green.data(), num_threads);
  if (!c.select_head)
    for (uint8_t& g : green) g = g ? 0 : 1;

  // 4. Per-text counts.
  parallel_for(n_texts, num_threads, [&](int64_t b0, int64_t b1) {
    NgramSet ngrams;
    std::vector<int64_t> pair_idx;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t s0 = off[b], e = off[b + 1];
      if (out.green_mask) std::fill(out.green_mask + s0, out.green_mask + e, uint8_t(0));
      if (out.counted_mask) std::fill(out.counted_mask + s0, out.counted_mask + e, uint8_t(0));
      const int64_t s = text_start(c, ids, s0, e);
      int64_t scored = 0, ngreen = 0, trials = 0, gtrials = 0, repeated = 0;
      const bool short_text = e - s < c.min_len;
      if (!short_text) {
        const int64_t first = s + c.ngram_len - 1;
        const int64_t m = e - first;
        if (c.ignore_repeated) ngrams.reset(m, ids, c.ngram_len);
        pair_idx.clear();
        for (int64_t t = first; t < e; ++t) {
          const uint64_t k = key[size_t(t)];
          const int64_t u = std::lower_bound(uniq.begin(), uniq.end(), k) - uniq.begin();
          const uint8_t gflag = green[size_t(u)];
          pair_idx.push_back(u);
          if (out.green_mask) out.green_mask[t] = gflag;
          const bool counted = c.ignore_repeated ? ngrams.insert(t) : true;
          if (counted) {
            ++scored;
            ngreen += gflag;
            if (out.counted_mask) out.counted_mask[t] = 1;
          }
        }
        std::sort(pair_idx.begin(), pair_idx.end());
        int64_t distinct = 0, gdistinct = 0, gall = 0;
        for (size_t i = 0; i < pair_idx.size(); ++i) {
          const uint8_t gflag = green[size_t(pair_idx[i])];
          gall += gflag;
          if (i == 0 || pair_idx[i] != pair_idx[i - 1]) {
            ++distinct;
            gdistinct += gflag;
          }
        }
        repeated = m - distinct;
        if (c.ignore_repeated) {
          trials = distinct;
          gtrials = gdistinct;
        } else {
          trials = m;
          gtrials = gall;
        }
      }
      out.num_scored[b] = scored;
      out.num_green[b] = ngreen;
      out.num_trials[b] = trials;
      out.num_green_trials[b] = gtrials;
      out.num_repeated[b] = repeated;
      out.too_short[b] = short_text ? 1 : 0;
    }
  });
}

void green_membership(const uint32_t* seeds32, const int64_t* tokens, int64_t n, int64_t vocab,
                      int64_t green_size, bool select_head, uint8_t* out, int num_threads) {
  if (vocab < 2 || vocab >= trng::kRandpermSmallLimit) fail("vocab_size out of range");
  if (green_size < 1 || green_size >= vocab) fail("green list size must be in [1, vocab_size)");
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      fail("tokens[" + std::to_string(i) + "] = " + std::to_string(tokens[i]) + " is outside [0, " + std::to_string(vocab) + ")");
  if (n == 0) return;
  const int64_t steps = select_head ? green_size : vocab - green_size;
  auto table = trng::perm_table(vocab, steps);
  parallel_for(n, num_threads, [&](int64_t a, int64_t z) {
    uint32_t toks8[8];
    uint8_t res8[8];
    for (int64_t i = a; i < z; i += 8) {
      const int cnt = static_cast<int>(std::min<int64_t>(8, z - i));
      for (int k = 0; k < cnt; ++k) toks8[k] = static_cast<uint32_t>(tokens[i + k]);
      trng::in_prefix8(seeds32 + i, toks8, cnt, steps, *table, res8);
      for (int k = 0; k < cnt; ++k) out[i + k] = (bool(res8[k]) == select_head) ? 1 : 0;
    }
  });
}

void green_list(uint32_t seed32, int64_t vocab, int64_t green_size, bool select_head, int64_t* out) {
  if (vocab < 2 || vocab >= trng::kRandpermSmallLimit) fail("vocab_size out of range");
  if (green_size < 1 || green_size >= vocab) fail("green list size must be in [1, vocab_size)");
  if (select_head) {
    trng::randperm_prefix(seed32, vocab, green_size, out);
  } else {
    std::vector<int64_t> perm(static_cast<size_t>(vocab));
    trng::randperm(seed32, vocab, perm.data());
    std::copy(perm.end() - green_size, perm.end(), out);
  }
}

void unigram_counts(const uint8_t* green, int64_t vocab, const int64_t* ids, int64_t n_ids,
                    const int64_t* off, int64_t n_texts, int64_t* total, int64_t* green_total,
                    int64_t* unique, int64_t* green_unique, int num_threads) {
  if (vocab < 1) fail("vocab_size must be >= 1");
  if (off[0] != 0 || off[n_texts] != n_ids) fail("offsets must start at 0 and end at the number of ids");
  for (int64_t b = 0; b < n_texts; ++b)
    if (off[b + 1] < off[b]) fail("offsets must be non-decreasing (at " + std::to_string(b) + ")");
  const uint64_t V = static_cast<uint64_t>(vocab);
  parallel_for(n_texts, num_threads, [&](int64_t b0, int64_t b1) {
    std::vector<uint32_t> seen;
    uint32_t stamp = 0;
    for (int64_t b = b0; b < b1; ++b) {
      if (seen.empty()) seen.assign(size_t(vocab), 0u);
      if (++stamp == 0) {
        std::fill(seen.begin(), seen.end(), 0u);
        stamp = 1;
      }
      int64_t t = 0, g = 0, u = 0, gu = 0;
      for (int64_t i = off[b]; i < off[b + 1]; ++i) {
        const uint64_t tok = static_cast<uint64_t>(ids[i]);
        if (tok >= V)
          fail("ids[" + std::to_string(i) + "] = " + std::to_string(ids[i]) + " is outside [0, " + std::to_string(vocab) + ")");
        ++t;
        g += green[tok];
        if (seen[tok] != stamp) {
          seen[tok] = stamp;
          ++u;
          gu += green[tok];
        }
      }
      total[b] = t;
      green_total[b] = g;
      unique[b] = u;
      green_unique[b] = gu;
    }
  });
}

}  // namespace wm
}  // namespace fp
