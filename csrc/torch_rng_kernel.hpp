// MT19937 block generation and the "is token t in the first k entries of randperm(n)" scan,
// written once and compiled per kernel set: included inside namespace fp::trng::<isa> by
// torch_rng_<isa>.cpp (generic: baseline ISA; avx2: -mavx2, FP_TRNG_AVX2 defined). Both sets give
// identical results; only speed differs.

namespace {

constexpr int kMtM = 397;
constexpr uint32_t kMatrixA = 0x9908B0DFu;
constexpr uint32_t kUpper = 0x80000000u;
constexpr uint32_t kLower = 0x7FFFFFFFu;

inline uint32_t twist(uint32_t a, uint32_t b, uint32_t m) {
  uint32_t y = (a & kUpper) | (b & kLower);
  return m ^ (y >> 1) ^ ((0u - (y & 1u)) & kMatrixA);
}

inline uint32_t temper(uint32_t y) {
  y ^= y >> 11;
  y ^= (y << 7) & 0x9D2C5680u;
  y ^= (y << 15) & 0xEFC60000u;
  y ^= y >> 18;
  return y;
}

#if defined(FP_TRNG_AVX2)
// The vector scans' candidates, bit k of mask for step b + k, confirmed exactly in scalar code:
// the first step before stop where the token is hit, or -1.
inline int64_t confirm_hits(unsigned mask, const uint32_t* st, uint32_t b, uint32_t stop,
                            uint32_t b0, uint32_t p, const uint64_t* c, uint32_t n) {
  while (mask) {
    const uint32_t bb = b + static_cast<uint32_t>(__builtin_ctz(mask));
    mask &= mask - 1;
    if (bb >= stop) break;
    const uint32_t ii = b0 + bb;
    if (fastmod(temper(st[bb]), c[ii], n - ii) == p - ii) return bb;
  }
  return -1;
}
#endif

#if defined(FP_TRNG_AVX512)
inline __m512i temper16(__m512i y) {
  y = _mm512_xor_si512(y, _mm512_srli_epi32(y, 11));
  y = _mm512_xor_si512(y, _mm512_and_si512(_mm512_slli_epi32(y, 7), _mm512_set1_epi32(int(0x9D2C5680u))));
  y = _mm512_xor_si512(y, _mm512_and_si512(_mm512_slli_epi32(y, 15), _mm512_set1_epi32(int(0xEFC60000u))));
  return _mm512_xor_si512(y, _mm512_srli_epi32(y, 18));
}

// The AVX2 scan below, sixteen steps at a time (native rotate and unsigned compare to a mask).
inline int64_t scan_hits(const uint32_t* st, uint32_t b, uint32_t stop, uint32_t b0, uint32_t p,
                         const PermTable& t) {
  const uint64_t* c = t.c.data();
  const uint32_t n = static_cast<uint32_t>(t.n);
  __m512i r = _mm512_sub_epi32(_mm512_set1_epi32(static_cast<int>(p - b0 - b)),
                               _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  const __m512i sixteen = _mm512_set1_epi32(16);
  for (; b < stop; b += 16) {
    const uint32_t i = b0 + b;
    const __m512i z = temper16(_mm512_loadu_si512(st + b));
    const __m512i x = _mm512_sub_epi32(z, r);
    r = _mm512_sub_epi32(r, sixteen);
    const __m512i inv = _mm512_loadu_si512(t.inv.data() + i);
    const __m512i sh = _mm512_loadu_si512(t.shift.data() + i);
    const __m512i lim = _mm512_loadu_si512(t.lim.data() + i);
    const __m512i rot = _mm512_rorv_epi32(_mm512_mullo_epi32(x, inv), sh);
    const unsigned mask = static_cast<unsigned>(_mm512_cmple_epu32_mask(rot, lim));
    const int64_t hit = confirm_hits(mask, st, b, stop, b0, p, c, n);
    if (hit >= 0) return hit;
  }
  return -1;
}
#elif defined(FP_TRNG_AVX2)
inline __m256i temper8(__m256i y) {
  y = _mm256_xor_si256(y, _mm256_srli_epi32(y, 11));
  y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 7), _mm256_set1_epi32(int(0x9D2C5680u))));
  y = _mm256_xor_si256(y, _mm256_and_si256(_mm256_slli_epi32(y, 15), _mm256_set1_epi32(int(0xEFC60000u))));
  return _mm256_xor_si256(y, _mm256_srli_epi32(y, 18));
}

// First step b in [b, stop) of the block where the token (at position p) is hit, or -1; `st` is
// the twisted (untempered) state, tempered here. A hit at step i = b0 + b means
// z % (n - i) == p - i, i.e. z >= r and d | (z - r) for r = p - i, d = n - i. The vector pass
// tests d | (z - r) (mod 2^32) with rotr(x * inv, k) <= lim, eight steps at a time; the rare
// candidates (about one in d) are confirmed exactly in scalar code, which also applies z >= r and
// the block end.
inline int64_t scan_hits(const uint32_t* st, uint32_t b, uint32_t stop, uint32_t b0, uint32_t p,
                         const PermTable& t) {
  const uint64_t* c = t.c.data();
  const uint32_t n = static_cast<uint32_t>(t.n);
  __m256i r = _mm256_sub_epi32(_mm256_set1_epi32(static_cast<int>(p - b0 - b)),
                               _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256i eight = _mm256_set1_epi32(8);
  const __m256i n32 = _mm256_set1_epi32(32);
  for (; b < stop; b += 8) {
    const uint32_t i = b0 + b;
    const __m256i z = temper8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(st + b)));
    const __m256i x = _mm256_sub_epi32(z, r);
    r = _mm256_sub_epi32(r, eight);
    const __m256i inv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.inv.data() + i));
    const __m256i sh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.shift.data() + i));
    const __m256i lim = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.lim.data() + i));
    const __m256i m = _mm256_mullo_epi32(x, inv);
    const __m256i rot = _mm256_or_si256(_mm256_srlv_epi32(m, sh), _mm256_sllv_epi32(m, _mm256_sub_epi32(n32, sh)));
    const __m256i le = _mm256_cmpeq_epi32(_mm256_min_epu32(rot, lim), rot);
    const unsigned mask = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(le)));
    const int64_t hit = confirm_hits(mask, st, b, stop, b0, p, c, n);
    if (hit >= 0) return hit;
  }
  return -1;
}
#else
inline int64_t scan_hits(const uint32_t* st, uint32_t b, uint32_t stop, uint32_t b0, uint32_t p,
                         const PermTable& t) {
  const uint64_t* c = t.c.data();
  for (; b < stop; ++b) {
    const uint32_t z = temper(st[b]);
    const uint32_t r = p - (b0 + b);
    const uint64_t ci = c[b0 + b];
    if (z >= r && uint64_t(z - r) * ci < ci) return b;
  }
  return -1;
}
#endif

}  // namespace

void mt_init(uint32_t* s, uint32_t seed32) {
  s[0] = seed32;
  for (int j = 1; j < kMtN; ++j) s[j] = 1812433253u * (s[j - 1] ^ (s[j - 1] >> 30)) + uint32_t(j);
}

namespace {
// Twists the first `count` words of the state (all kMtN for a full block). The first `count`
// outputs of the block only depend on those words, so a final partial block can stop early.
// Three loops without wrap-around indexing so each can be vectorised: the second reads words
// rewritten 227 iterations earlier, more than any vector width.
inline void mt_twist(uint32_t* s, int count) {
  int k = 0;
  const int e1 = count < kMtN - kMtM ? count : kMtN - kMtM;
  for (; k < e1; ++k) s[k] = twist(s[k], s[k + 1], s[k + kMtM]);
  const int e2 = count < kMtN - 1 ? count : kMtN - 1;
  for (; k < e2; ++k) s[k] = twist(s[k], s[k + 1], s[k + kMtM - kMtN]);
  if (count == kMtN) s[kMtN - 1] = twist(s[kMtN - 1], s[0], s[kMtM - 1]);
}
}  // namespace

void mt_block(uint32_t* s, uint32_t* out) {
  mt_twist(s, kMtN);
  for (int j = 0; j < kMtN; ++j) out[j] = temper(s[j]);
}

namespace {
constexpr int kStateStride = kMtN + 16;  // padded for full-vector loads

// The scan for one token from a freshly initialised state s (kStateStride words; consumed).
// Follows a token at position p (>= b0) through steps b0 .. b0 + lim - 1, whose twisted state
// words are s[0 .. lim); returns true as soon as it is placed (p is then meaningless), else false
// with p its position after the block.
inline bool scan_block(const uint32_t* s, uint32_t b0, uint32_t lim, uint32_t& p, const PermTable& t) {
  const uint32_t n = static_cast<uint32_t>(t.n);
  const uint64_t* c = t.c.data();
  uint32_t b = 0;
  while (b < lim) {
    if (p == b0 + b) {
      // The token sits at step i: it goes to the partner (and stays placed if z % d == 0).
      const uint32_t i = b0 + b;
      const uint32_t j = i + fastmod(temper(s[b]), c[i], n - i);
      if (j == i) return true;
      p = j;
      ++b;
      continue;
    }
    const uint32_t stop = lim < p - b0 ? lim : p - b0;
    if (scan_hits(s, b, stop, b0, p, t) >= 0) return true;
    b = stop;
  }
  return false;
}

// The scan for one token from a freshly initialised state s (kStateStride words; consumed).
bool in_prefix_state(uint32_t* s, uint32_t token, int64_t steps, const PermTable& t) {
  uint32_t p = token;  // current position of the token; always >= the current step
  for (int64_t base = 0; base < steps; base += kMtN) {
    const uint32_t lim = static_cast<uint32_t>(steps - base < kMtN ? steps - base : kMtN);
    mt_twist(s, static_cast<int>(lim));  // a partial last block leaves the rest unused
    if (scan_block(s, static_cast<uint32_t>(base), lim, p, t)) return true;
  }
  return false;
}
}  // namespace

void outputs_at(uint32_t seed32, const uint32_t* idx, int count, uint32_t* out) {
  if (count <= 0) return;
  uint32_t s[kStateStride] = {};
  mt_init(s, seed32);
  uint32_t maxi = 0;
  for (int k = 0; k < count; ++k) maxi = idx[k] > maxi ? idx[k] : maxi;
  const uint32_t nblocks = maxi / kMtN + 1;
  for (uint32_t b = 0; b < nblocks; ++b) {
    // only the twist is needed for the blocks passed over; the last one stops at maxi
    const int lim = (b + 1 == nblocks) ? static_cast<int>(maxi % kMtN) + 1 : kMtN;
    mt_twist(s, lim);
    for (int k = 0; k < count; ++k)
      if (idx[k] / kMtN == b) out[k] = temper(s[idx[k] % kMtN]);
  }
}

bool in_prefix(uint32_t seed32, uint32_t token, int64_t steps, const PermTable& t) {
  uint32_t s[kStateStride] = {};
  mt_init(s, seed32);
  return in_prefix_state(s, token, steps, t);
}

void in_prefix8(const uint32_t* seeds, const uint32_t* tokens, int count, int64_t steps,
                const PermTable& t, uint8_t* out) {
  // The initialisation is a serial chain of multiplies per seed; eight seeds side by side run it
  // as one vector chain.
  alignas(32) uint32_t states[8 * kStateStride] = {};
  alignas(32) uint32_t cur[8] = {};
  for (int k = 0; k < 8; ++k) cur[k] = seeds[k < count ? k : 0];
  for (int k = 0; k < 8; ++k) states[k * kStateStride] = cur[k];
  for (int j = 1; j < kMtN; ++j) {
    for (int k = 0; k < 8; ++k) cur[k] = 1812433253u * (cur[k] ^ (cur[k] >> 30)) + uint32_t(j);
    for (int k = 0; k < 8; ++k) states[k * kStateStride + j] = cur[k];
  }
  for (int k = 0; k < count; ++k) out[k] = in_prefix_state(states + k * kStateStride, tokens[k], steps, t) ? 1 : 0;
}

void in_prefix_multi(uint32_t seed32, const uint32_t* tokens, int count, int64_t steps,
                     const PermTable& t, uint8_t* out) {
  // One generator, several tokens: each block is generated once and scanned for every token
  // still unplaced.
  uint32_t s[kStateStride] = {};
  mt_init(s, seed32);
  uint32_t pos[kMultiMax];
  int active = count;
  for (int k = 0; k < count; ++k) {
    pos[k] = tokens[k];
    out[k] = 0;
  }
  for (int64_t base = 0; base < steps && active > 0; base += kMtN) {
    const uint32_t lim = static_cast<uint32_t>(steps - base < kMtN ? steps - base : kMtN);
    mt_twist(s, static_cast<int>(lim));
    for (int k = 0; k < count; ++k) {
      if (out[k]) continue;
      if (scan_block(s, static_cast<uint32_t>(base), lim, pos[k], t)) {
        out[k] = 1;
        --active;
      }
    }
  }
}
