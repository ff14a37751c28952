// PyTorch's CPU random generator, reproduced bit for bit (no libtorch dependency).
//
// What torch does on a CPU generator after `g.manual_seed(seed)` (checked against torch 2.x):
//  * the engine is a standard 32-bit Mersenne Twister (MT19937) initialised with the LOW 32 BITS
//    of the 64-bit seed (Knuth's initialisation, multiplier 1812433253); the high bits are
//    discarded, so seeds s and s + 2^32 give the same stream;
//  * `generator.random()` is the next tempered 32-bit output;
//  * `torch.randperm(n)` for n < 2^32 / 20 (integer division: 214,748,364) fills 0..n-1 and, for
//    i = 0 .. n-2, draws z = random() and swaps entries i and i + z % (n - i). Larger n uses a
//    different (64-bit, inside-out) algorithm that is not reproduced here;
//  * `torch.rand(n)` (float32) maps each 32-bit draw z to (z & 0xFFFFFF) * 2^-24.
//
// Membership without the permutation: entry i of the permutation is final once step i is done.
// Token t starts at position t; at step i it moves to i (and is final) when the swap partner
// i + z % (n-i) equals its position, and it moves forward to that partner when it sits at i. So
// "t is among the first k entries" is decided by following t's position through at most k
// steps, stopping as soon as it is placed. Each step still needs its draw (MT19937 cannot skip),
// but the check itself is one multiply: z % d == r  <=>  z >= r and d | (z - r), and the
// divisibility test d | x for 32-bit x is  x * ceil(2^64 / d) mod 2^64 < ceil(2^64 / d)
// (Lemire, Kaser & Kurz 2019), exact for every 32-bit x and 1 < d < 2^32. The full remainder
// uses the same constant: x % d = mulhi64(x * c mod 2^64, d), also exact for 32-bit operands.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace fp {
namespace trng {

constexpr int kMtN = 624;
constexpr int64_t kRandpermSmallLimit = int64_t(0xFFFFFFFFu) / 20;  // 214,748,364

// MT19937 as torch's CPUGeneratorImpl runs it.
class TorchMT {
 public:
  explicit TorchMT(uint64_t seed) { seed_state(static_cast<uint32_t>(seed & 0xFFFFFFFFu)); }
  void seed_state(uint32_t seed32);
  // The next kMtN tempered outputs (one full twist), written to out[0..kMtN).
  void next_block(uint32_t* out);
  // The next n outputs.
  void fill(uint32_t* out, int64_t n);

 private:
  uint32_t s_[kMtN];
  uint32_t buf_[kMtN];
  int pos_ = kMtN;  // index of the next unread output in buf_
};

// ceil(2^64 / d) for 1 < d < 2^32, as used by the division-free remainder and divisibility tests.
inline uint64_t fastmod_constant(uint32_t d) { return UINT64_MAX / d + 1; }

inline uint64_t mulhi64(uint64_t a, uint64_t b) {
#if defined(__SIZEOF_INT128__)
  return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
#else
  uint64_t a_lo = a & 0xFFFFFFFFu, a_hi = a >> 32, b_lo = b & 0xFFFFFFFFu, b_hi = b >> 32;
  uint64_t p0 = a_lo * b_lo, p1 = a_lo * b_hi, p2 = a_hi * b_lo, p3 = a_hi * b_hi;
  uint64_t mid = (p0 >> 32) + (p1 & 0xFFFFFFFFu) + (p2 & 0xFFFFFFFFu);
  return p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
#endif
}

// x % d for 32-bit x given c = fastmod_constant(d).
inline uint32_t fastmod(uint32_t x, uint64_t c, uint32_t d) {
  return static_cast<uint32_t>(mulhi64(c * x, d));
}

// The divisor constants of randperm(n)'s first `steps` steps, for d = n - i:
//   c[i] = ceil(2^64 / d)                        (remainder and divisibility, 64-bit products)
//   d = 2^shift[i] * odd, inv[i] = odd^-1 mod 2^32, lim[i] = floor((2^32 - 1) / d)
//                                                (divisibility with 32-bit lanes: d | x iff
//                                                 rotr32(x * inv, shift) <= lim)
// The 32-bit arrays carry 8 padding entries for full-vector loads. Shared (read-only) between
// threads; obtain with perm_table().
struct PermTable {
  int64_t n = 0;
  int64_t steps = 0;
  std::vector<uint64_t> c;
  std::vector<uint32_t> inv, shift, lim;
};
// A cached table for (n, steps) (built once per process, thread-safe). Requires
// 2 <= n < kRandpermSmallLimit and 0 <= steps <= n - 1.
std::shared_ptr<const PermTable> perm_table(int64_t n, int64_t steps);

// torch.randperm(n) after manual_seed(seed), into out[0..n). 1 <= n < kRandpermSmallLimit.
void randperm(uint64_t seed, int64_t n, int64_t* out);
// The first k entries of torch.randperm(n) after manual_seed(seed); k <= n.
void randperm_prefix(uint64_t seed, int64_t n, int64_t k, int64_t* out);
// torch.rand(n) (float32) after manual_seed(seed).
void rand_f32(uint64_t seed, int64_t n, float* out);

// Does token t (0 <= t < n) land in the first `steps` entries of randperm(n) for this seed?
// Uses the table for steps 0..steps-1; steps <= table.steps. Runs the best kernel set.
bool in_prefix(uint32_t seed32, uint32_t token, int64_t steps, const PermTable& table);
// in_prefix for up to 8 (seed, token) pairs at once (count <= 8): out[k] = 0/1.
void in_prefix8(const uint32_t* seeds32, const uint32_t* tokens, int count, int64_t steps,
                const PermTable& table, uint8_t* out);

// in_prefix for up to kMultiMax tokens under one seed: out[k] = 0/1. Cheaper than building the
// prefix while there are few tokens.
constexpr int kMultiMax = 16;
void in_prefix_multi(uint32_t seed32, const uint32_t* tokens, int count, int64_t steps,
                     const PermTable& table, uint8_t* out);

// Per kernel set (torch_rng_kernel.hpp): state initialisation, one block of kMtN tempered outputs,
// and the membership scan.
#define FP_TRNG_DECLARE(isa)                                                            \
  namespace isa {                                                                       \
  void mt_init(uint32_t* s, uint32_t seed32);                                           \
  void mt_block(uint32_t* s, uint32_t* out);                                            \
  bool in_prefix(uint32_t seed32, uint32_t token, int64_t steps, const PermTable& t);   \
  void in_prefix8(const uint32_t* seeds32, const uint32_t* tokens, int count,           \
                  int64_t steps, const PermTable& t, uint8_t* out);                     \
  void in_prefix_multi(uint32_t seed32, const uint32_t* tokens, int count,              \
                       int64_t steps, const PermTable& t, uint8_t* out);                \
  void outputs_at(uint32_t seed32, const uint32_t* idx, int count, uint32_t* out);      \
  }
FP_TRNG_DECLARE(generic)
#if defined(FP_HAVE_X86_KERNELS)
FP_TRNG_DECLARE(avx2)
FP_TRNG_DECLARE(avx512)
#endif
#undef FP_TRNG_DECLARE

// The 32-bit outputs at indices idx[0..count) (any order, each < 2^32) of a generator freshly
// seeded with seed32: twists up to the largest index without tempering the words passed over.
void outputs_at(uint32_t seed32, const uint32_t* idx, int count, uint32_t* out);

// Lookups grouped by seed, for positions whose seeds repeat: keys[0..count) are sorted distinct
// (seed32 << 32 | index) values; each distinct seed runs one generator stream.
// prefix_flags_sorted: out[u] = 1 if index (< n) is among the first `steps` entries of
// randperm(n) for the seed (tracked index by index for seeds with few indices, from a built prefix
// otherwise). 2 <= n < kRandpermSmallLimit, 0 <= steps <= n - 1.
void prefix_flags_sorted(const uint64_t* keys, int64_t count, int64_t n, int64_t steps, uint8_t* out,
                         int num_threads);
// outputs_sorted: out[u] = the 32-bit output at that index of a generator seeded with the seed.
void outputs_sorted(const uint64_t* keys, int64_t count, uint32_t* out, int num_threads);

// Builds prefixes of randperm(n) repeatedly with one scratch permutation (restored after each
// use, so each call costs O(steps), not O(n)). One instance per thread.
class PrefixBuilder {
 public:
  explicit PrefixBuilder(std::shared_ptr<const PermTable> table);
  // Runs `steps` (<= table steps) swap steps for seed32; then prefix()[0..steps) holds the
  // first entries of the permutation. Call restore() before the next build.
  void build(uint32_t seed32, int64_t steps);
  const int32_t* prefix() const { return perm_.data(); }
  void restore();
  // Marks (with a fresh stamp) the tokens of the built prefix; is_marked(t) afterwards.
  void mark_prefix();
  bool is_marked(uint32_t t) const { return mark_[t] == stamp_; }

 private:
  std::shared_ptr<const PermTable> table_;
  std::vector<int32_t> perm_;
  std::vector<int32_t> touched_;
  std::vector<uint32_t> mark_;
  uint32_t stamp_ = 0;
  int64_t built_ = 0;
};

}  // namespace trng
}  // namespace fp
