// three_bricks / radioactive-watermark kernels; see threebricks.hpp.
#include "threebricks.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "parallel.hpp"
#include "torch_rng.hpp"

namespace fp {
namespace tb {

namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

constexpr uint64_t kMod = ~uint64_t(0);  // 2^64 - 1

// (a * b + c) mod (2^64 - 1) for a, b < 2^64 - 1 and c < 2^63.
inline uint64_t mulmod_add(uint64_t a, uint64_t b, uint64_t c) {
#if defined(__SIZEOF_INT128__)
  unsigned __int128 x = static_cast<unsigned __int128>(a) * b + c;
  // 2^64 = 1 (mod 2^64 - 1): fold the high word into the low one.
  uint64_t lo = static_cast<uint64_t>(x), hi = static_cast<uint64_t>(x >> 64);
  uint64_t s = lo + hi;
  if (s < lo) s += 1;  // carry out of 2^64 is again 1 mod 2^64 - 1
  if (s >= kMod) s -= kMod;
  return s;
#else
  // Portable: double-and-add with modular reduction.
  uint64_t r = 0, x = a % kMod, y = b;
  while (y) {
    if (y & 1) { r = (r >= kMod - x) ? r - (kMod - x) : r + x; }
    x = (x >= kMod - x) ? x - (kMod - x) : x + x;
    y >>= 1;
  }
  c %= kMod;
  return (r >= kMod - c) ? r - (kMod - c) : r + c;
#endif
}

void check_tokens(const int64_t* tokens, int64_t n, int64_t vocab, const char* name) {
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      fail(std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(tokens[i]) +
           " is outside [0, " + std::to_string(vocab) + ")");
}

void check_vocab(int64_t vocab, int64_t n_payloads) {
  if (vocab < 2 || vocab >= trng::kRandpermSmallLimit)
    fail("vocab_size must be in [2, " + std::to_string(trng::kRandpermSmallLimit) + "), got " + std::to_string(vocab));
  if (n_payloads < 1 || n_payloads > vocab) fail("number of payloads must be in [1, vocab_size]");
}

}  // namespace

void hash_seeds(const int64_t* windows, int64_t n, int64_t width, uint64_t seed, uint64_t salt,
                uint64_t* out, int num_threads) {
  if (width < 1) fail("window width must be >= 1");
  if (seed >= kMod || salt >= kMod) fail("seed and salt must be reduced mod 2^64 - 1");
  for (int64_t i = 0; i < n * width; ++i)
    if (windows[i] < 0) fail("window token ids must be >= 0");
  parallel_for(n, num_threads, [&](int64_t a, int64_t z) {
    for (int64_t i = a; i < z; ++i) {
      uint64_t s = seed;
      const int64_t* w = windows + i * width;
      for (int64_t j = 0; j < width; ++j) s = mulmod_add(s, salt, static_cast<uint64_t>(w[j]));
      out[i] = s;
    }
  });
}

namespace {

// (seed32 << 32 | (tokens[i] + p) mod vocab) for each position i and payload p, in out[i * P + p].
std::vector<uint64_t> pair_keys(const uint64_t* seeds, const int64_t* tokens, int64_t n, int64_t vocab,
                                int64_t P, int num_threads) {
  std::vector<uint64_t> keys(size_t(n * P));
  parallel_for(n, num_threads, [&](int64_t a, int64_t z) {
    for (int64_t i = a; i < z; ++i) {
      const uint64_t hi = (seeds[i] & 0xFFFFFFFFu) << 32;
      for (int64_t p = 0; p < P; ++p) keys[size_t(i * P + p)] = hi | static_cast<uint64_t>((tokens[i] + p) % vocab);
    }
  });
  return keys;
}

// Sorted distinct keys; index[k] is the position of keys[k] among them.
std::vector<uint64_t> distinct(const std::vector<uint64_t>& keys, std::vector<int64_t>& index, int num_threads) {
  std::vector<uint64_t> uniq(keys);
  std::sort(uniq.begin(), uniq.end());
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
  index.resize(keys.size());
  parallel_for(int64_t(keys.size()), num_threads, [&](int64_t a, int64_t z) {
    for (int64_t k = a; k < z; ++k)
      index[size_t(k)] = std::lower_bound(uniq.begin(), uniq.end(), keys[size_t(k)]) - uniq.begin();
  });
  return uniq;
}

}  // namespace

// Both kernels score each distinct (seed, token) pair once, with one generator stream per
// distinct seed (seeds repeat: the same window in a corpus, or distinct windows sharing a seed
// under the table seedings), and copy the results to every position.
void maryland_flags(const uint64_t* seeds, const int64_t* tokens, int64_t n, int64_t vocab,
                    int64_t green_size, int64_t n_payloads, uint8_t* out, int num_threads) {
  check_vocab(vocab, n_payloads);
  if (green_size < 1 || green_size >= vocab) fail("green list size must be in [1, vocab_size)");
  check_tokens(tokens, n, vocab, "tokens");
  if (n == 0) return;
  const std::vector<uint64_t> keys = pair_keys(seeds, tokens, n, vocab, n_payloads, num_threads);
  std::vector<int64_t> index;
  const std::vector<uint64_t> uniq = distinct(keys, index, num_threads);
  std::vector<uint8_t> flags(uniq.size(), 0);
  trng::prefix_flags_sorted(uniq.data(), int64_t(uniq.size()), vocab, green_size, flags.data(), num_threads);
  parallel_for(int64_t(keys.size()), num_threads, [&](int64_t a, int64_t z) {
    for (int64_t k = a; k < z; ++k) out[k] = flags[size_t(index[size_t(k)])];
  });
}

void aaronson_uniforms(const uint64_t* seeds, const int64_t* tokens, int64_t n, int64_t vocab,
                       int64_t n_payloads, double* out, int num_threads) {
  check_vocab(vocab, n_payloads);
  check_tokens(tokens, n, vocab, "tokens");
  if (n == 0) return;
  const std::vector<uint64_t> keys = pair_keys(seeds, tokens, n, vocab, n_payloads, num_threads);
  std::vector<int64_t> index;
  const std::vector<uint64_t> uniq = distinct(keys, index, num_threads);
  std::vector<uint32_t> draws(uniq.size(), 0);
  trng::outputs_sorted(uniq.data(), int64_t(uniq.size()), draws.data(), num_threads);
  parallel_for(int64_t(keys.size()), num_threads, [&](int64_t a, int64_t z) {
    for (int64_t k = a; k < z; ++k)
      out[k] = static_cast<double>(draws[size_t(index[size_t(k)])] & 0xFFFFFFu) * (1.0 / 16777216.0);
  });
}

}  // namespace tb
}  // namespace fp
