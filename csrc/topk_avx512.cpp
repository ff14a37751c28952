// The AVX-512 kernels of the top-k panel (declarations and contracts in topk_avx512.hpp).
//
// A row of k <= 64 entries is held in ceil(k/8) registers of eight lanes, the last one masked.
// Pairing by id compares each id against the other row's registers (and its own, for
// duplicates), branch-free: O(kp kq / 8) lane compares instead of a hash table. exp and log are
// the polynomials of topk.cpp's scalar code (Taylor to degree 13 on |r| <= ln2/2; atanh series
// to f^21), with the exponent handled by VSCALEFPD / VGETEXPPD / VGETMANTPD, which are exact
// for subnormal results and arguments. Sums run per lane, then over the lanes in a fixed order,
// so a row's results depend only on that row.
#include "topk_avx512.hpp"

#include <immintrin.h>

#include <cstdint>
#include <utility>

#include "topk.hpp"

namespace fp {
namespace topk_avx512 {

namespace {

constexpr double kLn2 = 0.69314718055994530942;
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;

inline __mmask8 lanes(int64_t m) {  // the first m lanes (m may be <= 0 or >= 8)
  return m >= 8 ? __mmask8(0xFF) : (m <= 0 ? __mmask8(0) : __mmask8((1u << m) - 1));
}
inline __m512d set1(double x) { return _mm512_set1_pd(x); }
// Sum of the lanes, in a fixed order.
inline double hsum(__m512d v) {
  alignas(64) double a[8];
  _mm512_store_pd(a, v);
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// exp(x) for x <= 1e-6 or -inf (-inf, and anything below about -745, gives 0).
inline __m512d vexp(__m512d x) {
  x = _mm512_max_pd(x, set1(-1100.0));
  const __m512d k = _mm512_roundscale_pd(_mm512_mul_pd(x, set1(1.4426950408889634)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512d r = _mm512_fnmadd_pd(k, set1(kLn2Hi), x);
  r = _mm512_fnmadd_pd(k, set1(kLn2Lo), r);
  // the degree-13 Taylor polynomial by Estrin's scheme (a dependency chain of 5 FMAs, not 13)
  const __m512d r2 = _mm512_mul_pd(r, r), r4 = _mm512_mul_pd(r2, r2), r8 = _mm512_mul_pd(r4, r4);
  const __m512d a0 = _mm512_fmadd_pd(r, set1(1.0), set1(1.0));
  const __m512d a1 = _mm512_fmadd_pd(r, set1(1.0 / 6.0), set1(0.5));
  const __m512d a2 = _mm512_fmadd_pd(r, set1(1.0 / 120.0), set1(1.0 / 24.0));
  const __m512d a3 = _mm512_fmadd_pd(r, set1(1.0 / 5040.0), set1(1.0 / 720.0));
  const __m512d a4 = _mm512_fmadd_pd(r, set1(1.0 / 362880.0), set1(1.0 / 40320.0));
  const __m512d a5 = _mm512_fmadd_pd(r, set1(1.0 / 39916800.0), set1(1.0 / 3628800.0));
  const __m512d a6 = _mm512_fmadd_pd(r, set1(1.0 / 6227020800.0), set1(1.0 / 479001600.0));
  const __m512d b0 = _mm512_fmadd_pd(a1, r2, a0), b1 = _mm512_fmadd_pd(a3, r2, a2);
  const __m512d b2 = _mm512_fmadd_pd(a5, r2, a4);
  const __m512d d0 = _mm512_fmadd_pd(b1, r4, b0), d1 = _mm512_fmadd_pd(a6, r4, b2);
  return _mm512_scalef_pd(_mm512_fmadd_pd(d1, r8, d0), k);
}

// log(x) for finite x > 0 (normal or subnormal): x = m 2^e, m in [sqrt(1/2), sqrt(2)).
inline __m512d vlog(__m512d x) {
  __m512d m = _mm512_getmant_pd(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
  __m512d e = _mm512_getexp_pd(x);
  const __mmask8 big = _mm512_cmp_pd_mask(m, set1(1.4142135623730951), _CMP_GT_OQ);
  m = _mm512_mask_mul_pd(m, big, m, set1(0.5));
  e = _mm512_mask_add_pd(e, big, e, set1(1.0));
  const __m512d f = _mm512_div_pd(_mm512_sub_pd(m, set1(1.0)), _mm512_add_pd(m, set1(1.0)));
  const __m512d f2 = _mm512_mul_pd(f, f);
  // q = sum_{i=0..9} f2^i / (2i + 3), by Estrin's scheme
  const __m512d f4 = _mm512_mul_pd(f2, f2), f8 = _mm512_mul_pd(f4, f4);
  const __m512d a0 = _mm512_fmadd_pd(f2, set1(1.0 / 5), set1(1.0 / 3));
  const __m512d a1 = _mm512_fmadd_pd(f2, set1(1.0 / 9), set1(1.0 / 7));
  const __m512d a2 = _mm512_fmadd_pd(f2, set1(1.0 / 13), set1(1.0 / 11));
  const __m512d a3 = _mm512_fmadd_pd(f2, set1(1.0 / 17), set1(1.0 / 15));
  const __m512d a4 = _mm512_fmadd_pd(f2, set1(1.0 / 21), set1(1.0 / 19));
  const __m512d b0 = _mm512_fmadd_pd(a1, f4, a0), b1 = _mm512_fmadd_pd(a3, f4, a2);
  const __m512d q = _mm512_fmadd_pd(_mm512_fmadd_pd(a4, f8, b1), f8, b0);
  const __m512d f2x = _mm512_add_pd(f, f);
  const __m512d lm = _mm512_fmadd_pd(f2x, _mm512_mul_pd(f2, q), f2x);
  return _mm512_fmadd_pd(e, set1(kLn2Hi), _mm512_fmadd_pd(e, set1(kLn2Lo), lm));
}

// JS contribution of cells (topk.cpp's js_cell): 1/2 [P log(P/m) + Q log(Q/m)], m = (P+Q)/2,
// by the series in d = (P-Q)/(P+Q) where |d| < 1/8; 0 for empty cells.
// lm = log m where P + Q > 0.
inline __m512d vjs(__m512d P, __m512d Q, __m512d lP, __m512d lQ, __m512d lm) {
  const __m512d zero = _mm512_setzero_pd();
  const __m512d s = _mm512_add_pd(P, Q);
  const __mmask8 pos = _mm512_cmp_pd_mask(s, zero, _CMP_GT_OQ);
  const __m512d sv = _mm512_mask_blend_pd(pos, set1(1.0), s);
  const __m512d d = _mm512_div_pd(_mm512_sub_pd(P, Q), sv);
  const __m512d t = _mm512_mul_pd(d, d);
  // f = sum_{k=1..9} t^(k-1) / (k (2k-1)), by Estrin's scheme
  const __m512d t2 = _mm512_mul_pd(t, t), t4 = _mm512_mul_pd(t2, t2), t8 = _mm512_mul_pd(t4, t4);
  const __m512d c0 = _mm512_fmadd_pd(t, set1(1.0 / 6), set1(1.0));
  const __m512d c1 = _mm512_fmadd_pd(t, set1(1.0 / 28), set1(1.0 / 15));
  const __m512d c2 = _mm512_fmadd_pd(t, set1(1.0 / 66), set1(1.0 / 45));
  const __m512d c3 = _mm512_fmadd_pd(t, set1(1.0 / 120), set1(1.0 / 91));
  const __m512d e0 = _mm512_fmadd_pd(c1, t2, c0), e1 = _mm512_fmadd_pd(c3, t2, c2);
  const __m512d f = _mm512_fmadd_pd(set1(1.0 / 153), t8, _mm512_fmadd_pd(e1, t4, e0));
  const __m512d series = _mm512_mul_pd(_mm512_mul_pd(set1(0.25), s), _mm512_mul_pd(f, t));
  const __m512d a = _mm512_maskz_mul_pd(_mm512_cmp_pd_mask(P, zero, _CMP_GT_OQ), P, _mm512_sub_pd(lP, lm));
  const __m512d b = _mm512_maskz_mul_pd(_mm512_cmp_pd_mask(Q, zero, _CMP_GT_OQ), Q, _mm512_sub_pd(lQ, lm));
  const __mmask8 small = _mm512_cmp_pd_mask(_mm512_abs_pd(d), set1(0.125), _CMP_LT_OQ);
  const __m512d v = _mm512_mask_blend_pd(small, _mm512_mul_pd(set1(0.5), _mm512_add_pd(a, b)), series);
  return _mm512_maskz_mov_pd(pos, v);
}
inline __m512d vjs(__m512d P, __m512d Q, __m512d lP, __m512d lQ) {
  const __m512d s = _mm512_add_pd(P, Q);
  const __mmask8 pos = _mm512_cmp_pd_mask(s, _mm512_setzero_pd(), _CMP_GT_OQ);
  const __m512d lm = _mm512_sub_pd(vlog(_mm512_mask_blend_pd(pos, set1(1.0), s)), set1(kLn2));
  return vjs(P, Q, lP, lQ, lm);
}

// Lane i of the result = the sum of the lanes of a[i] (a fixed order: pairs, then 128-bit
// blocks), for eight vectors at once.
inline __m512d hsum8(const __m512d* a) {
  __m512d t[4];
  for (int i = 0; i < 4; ++i)
    t[i] = _mm512_add_pd(_mm512_unpacklo_pd(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_pd(a[2 * i], a[2 * i + 1]));
  const __m512d w0 = _mm512_add_pd(_mm512_shuffle_f64x2(t[0], t[1], 0x88), _mm512_shuffle_f64x2(t[0], t[1], 0xDD));
  const __m512d w1 = _mm512_add_pd(_mm512_shuffle_f64x2(t[2], t[3], 0x88), _mm512_shuffle_f64x2(t[2], t[3], 0xDD));
  return _mm512_add_pd(_mm512_shuffle_f64x2(w0, w1, 0x88), _mm512_shuffle_f64x2(w0, w1, 0xDD));
}

}  // namespace

#define FP_INLINE inline __attribute__((always_inline))

namespace {
FP_INLINE int32_t check_row_impl(const int64_t* ids, const double* lp, int64_t k, uint64_t lim,
                                 int64_t* top, bool* ids31) {
  const __m512i minus1 = _mm512_set1_epi64(-1), limv = _mm512_set1_epi64(static_cast<int64_t>(lim));
  const __m512d tol = set1(kTopkPositiveTol);
  const __m512i lim31 = _mm512_set1_epi64(int64_t(1) << 31);
  __mmask8 pad = 0, bad_id = 0, nan = 0, positive = 0, big = 0;
  __m512d best = set1(-__builtin_inf());
  for (int64_t i = 0; i < k; i += 8) {
    const __mmask8 l = lanes(k - i);
    const __m512i id = _mm512_maskz_loadu_epi64(l, ids + i);
    const __m512d x = _mm512_mask_loadu_pd(set1(-__builtin_inf()), l, lp + i);
    pad |= _mm512_mask_cmpeq_epi64_mask(l, id, minus1);
    bad_id |= _mm512_mask_cmpge_epu64_mask(l, id, limv);
    big |= _mm512_mask_cmpge_epu64_mask(l, id, lim31);
    nan |= _mm512_cmp_pd_mask(x, x, _CMP_UNORD_Q);
    positive |= _mm512_cmp_pd_mask(x, tol, _CMP_GT_OQ);
    best = _mm512_max_pd(best, x);
  }
  if (pad) return kHasPadding;
  const int32_t err = (bad_id ? TK_ERR_ID_P : 0) | (nan ? TK_ERR_NAN_P : 0) |
                      (positive ? TK_ERR_POSITIVE_P : 0);
  if (err) return err;
  // first index of the largest log-prob (0 if all are -inf)
  // the largest lane, broadcast (max is exact: any order gives the same value)
  __m512d b = _mm512_max_pd(best, _mm512_shuffle_f64x2(best, best, 0x4E));
  b = _mm512_max_pd(b, _mm512_shuffle_f64x2(b, b, 0xB1));
  b = _mm512_max_pd(b, _mm512_permute_pd(b, 0x55));
  int64_t t = 0;
  for (int64_t i = 0; i < k; i += 8) {
    const __mmask8 hit = _mm512_mask_cmp_pd_mask(lanes(k - i), _mm512_maskz_loadu_pd(lanes(k - i), lp + i), b, _CMP_EQ_OQ);
    if (hit) {
      t = i + __builtin_ctz(hit);
      break;
    }
  }
  *top = t;
  *ids31 = big == 0;
  return 0;
}
}  // namespace

int32_t check_row(const int64_t* ids, const double* lp, int64_t k, uint64_t lim, int64_t* top,
                  bool* ids31) {
  return check_row_impl(ids, lp, k, lim, top, ids31);
}

namespace {

// pair_rows for rows of at most 8 NP and 8 NQ entries: the chunk loops unroll and the rows stay
// in registers. Masks select the row's lanes (and, for duplicates, the lanes after entry i).
template <int NP, int NQ>
int32_t pair_rows_n(const int64_t* pid, int64_t kp, const int64_t* qid, int64_t kq, int32_t* pmatch,
                    int32_t* qmatch) {
  __m512i P[NP], Q[NQ];
  for (int c = 0; c < NP; ++c) P[c] = _mm512_maskz_loadu_epi64(lanes(kp - 8 * c), pid + 8 * c);
  for (int c = 0; c < NQ; ++c) Q[c] = _mm512_maskz_loadu_epi64(lanes(kq - 8 * c), qid + 8 * c);
  const uint64_t pvalid = kp >= 64 ? ~uint64_t(0) : (uint64_t(1) << kp) - 1;
  const uint64_t qvalid = kq >= 64 ? ~uint64_t(0) : (uint64_t(1) << kq) - 1;
  for (int64_t i = 0; i <= kp; ++i) pmatch[i] = -1;
  __mmask8 dup_p = 0, dup_q = 0;
  for (int64_t i = 0; i < kp; ++i) {
    const __m512i b = _mm512_set1_epi64(pid[i]);
    const uint64_t later = ((~uint64_t(0) << i) << 1) & pvalid;
    for (int c = 0; c < NP; ++c)
      dup_p |= _mm512_mask_cmpeq_epi64_mask(__mmask8(later >> (8 * c)), P[c], b);
  }
  for (int64_t j = 0; j < kq; ++j) {
    const __m512i b = _mm512_set1_epi64(qid[j]);
    const uint64_t later = ((~uint64_t(0) << j) << 1) & qvalid;
    uint64_t m = 0;
    for (int c = 0; c < NQ; ++c)
      dup_q |= _mm512_mask_cmpeq_epi64_mask(__mmask8(later >> (8 * c)), Q[c], b);
    for (int c = 0; c < NP; ++c)
      m |= static_cast<uint64_t>(_mm512_mask_cmpeq_epi64_mask(__mmask8(pvalid >> (8 * c)), P[c], b))
           << (8 * c);
    const int64_t i = m ? __builtin_ctzll(m) : -1;
    qmatch[j] = static_cast<int32_t>(i);
    pmatch[m ? i : kp] = static_cast<int32_t>(j);  // slot kp is scratch
  }
  pmatch[kp] = -1;
  return (dup_p ? TK_ERR_DUP_P : 0) | (dup_q ? TK_ERR_DUP_Q : 0);
}

template <int NP>
int32_t pair_rows_p(const int64_t* pid, int64_t kp, const int64_t* qid, int64_t kq, int32_t* pm,
                    int32_t* qm) {
  switch ((kq + 7) / 8) {
    case 1: return pair_rows_n<NP, 1>(pid, kp, qid, kq, pm, qm);
    case 2: return pair_rows_n<NP, 2>(pid, kp, qid, kq, pm, qm);
    case 3: return pair_rows_n<NP, 3>(pid, kp, qid, kq, pm, qm);
    case 4: return pair_rows_n<NP, 4>(pid, kp, qid, kq, pm, qm);
    default: return pair_rows_n<NP, 8>(pid, kp, qid, kq, pm, qm);
  }
}

}  // namespace

int32_t pair_rows(const int64_t* pid, int64_t kp, const int64_t* qid, int64_t kq, int32_t* pmatch,
                  int32_t* qmatch) {
  switch ((kp + 7) / 8) {
    case 1: return pair_rows_p<1>(pid, kp, qid, kq, pmatch, qmatch);
    case 2: return pair_rows_p<2>(pid, kp, qid, kq, pmatch, qmatch);
    case 3: return pair_rows_p<3>(pid, kp, qid, kq, pmatch, qmatch);
    case 4: return pair_rows_p<4>(pid, kp, qid, kq, pmatch, qmatch);
    default: return pair_rows_p<8>(pid, kp, qid, kq, pmatch, qmatch);
  }
}

namespace {

// A row of k <= 32 ids in [0, 2^31) as two registers of 16 int32 lanes (lo: entries 0..15, hi:
// 16..31); lanes past the row hold distinct negative sentinels base - lane, never equal to an
// id or to the other row's sentinels.
inline void load_ids32(const int64_t* ids, int64_t k, int32_t base, __m512i& lo, __m512i& hi) {
  __m256i c[4];
  for (int i = 0; i < 4; ++i)
    c[i] = _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64(lanes(k - 8 * i), ids + 8 * i));
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i sent = _mm512_sub_epi32(_mm512_set1_epi32(base), iota);
  const uint32_t valid = k >= 32 ? ~uint32_t(0) : (uint32_t(1) << k) - 1;
  lo = _mm512_mask_mov_epi32(sent, __mmask16(valid), _mm512_inserti64x4(_mm512_castsi256_si512(c[0]), c[1], 1));
  hi = _mm512_mask_mov_epi32(_mm512_sub_epi32(sent, _mm512_set1_epi32(16)), __mmask16(valid >> 16),
                             _mm512_inserti64x4(_mm512_castsi256_si512(c[2]), c[3], 1));
}

// Rotation R of P's first register against Q's registers: lane l of Q1 / Q2 that equals lane
// (l + R) mod 16 of P1 takes that index; rotations 1..8 also compare P1 with itself (every
// pair of its lanes once or twice) and Q1 with itself.
template <int R>
inline void rotation(__m512i P1, __m512i Q1, __m512i Q2, bool hq, __m512i& m1, __m512i& m2,
                     __mmask16& dup_p, __mmask16& dup_q) {
  const __m512i Pr = R == 0 ? P1 : _mm512_alignr_epi32(P1, P1, R);
  const __m512i idx = _mm512_setr_epi32(R % 16, (R + 1) % 16, (R + 2) % 16, (R + 3) % 16, (R + 4) % 16,
                                        (R + 5) % 16, (R + 6) % 16, (R + 7) % 16, (R + 8) % 16,
                                        (R + 9) % 16, (R + 10) % 16, (R + 11) % 16, (R + 12) % 16,
                                        (R + 13) % 16, (R + 14) % 16, (R + 15) % 16);
  m1 = _mm512_mask_mov_epi32(m1, _mm512_cmpeq_epi32_mask(Q1, Pr), idx);
  if (hq) m2 = _mm512_mask_mov_epi32(m2, _mm512_cmpeq_epi32_mask(Q2, Pr), idx);
  if (R >= 1 && R <= 8) {
    dup_p |= _mm512_cmpeq_epi32_mask(P1, Pr);
    dup_q |= _mm512_cmpeq_epi32_mask(Q1, _mm512_alignr_epi32(Q1, Q1, R));
  }
}

template <int... R>
inline void rotations(std::integer_sequence<int, R...>, __m512i P1, __m512i Q1, __m512i Q2, bool hq,
                      __m512i& m1, __m512i& m2, __mmask16& dup_p, __mmask16& dup_q) {
  (rotation<R>(P1, Q1, Q2, hq, m1, m2, dup_p, dup_q), ...);
}

// pair_rows for kp, kq <= 32 and ids in [0, 2^31): all lane pairs of the first registers by
// the 16 rotations; entries 16.. of each row (second registers) by broadcasts.
FP_INLINE int32_t pair_rows32(const int64_t* pid, int64_t kp, const int64_t* qid, int64_t kq, int32_t* pmatch,
                    int32_t* qmatch) {
  __m512i P1, P2, Q1, Q2;
  load_ids32(pid, kp, -2, P1, P2);
  load_ids32(qid, kq, -40, Q1, Q2);
  const bool hq = kq > 16;
  __m512i m1 = _mm512_set1_epi32(-1), m2 = m1;
  __mmask16 dup_p = 0, dup_q = 0;
  rotations(std::make_integer_sequence<int, 16>(), P1, Q1, Q2, hq, m1, m2, dup_p, dup_q);
  for (int64_t t = 16; t < kp; ++t) {  // P's entries 16..: against Q, and P's other entries
    const __m512i b = _mm512_set1_epi32(static_cast<int32_t>(pid[t]));
    const __m512i idx = _mm512_set1_epi32(static_cast<int32_t>(t));
    m1 = _mm512_mask_mov_epi32(m1, _mm512_cmpeq_epi32_mask(Q1, b), idx);
    if (hq) m2 = _mm512_mask_mov_epi32(m2, _mm512_cmpeq_epi32_mask(Q2, b), idx);
    dup_p |= _mm512_cmpeq_epi32_mask(P1, b);
    dup_p |= _mm512_mask_cmpeq_epi32_mask(__mmask16(0xFFFFu << (t - 15)), P2, b);
  }
  for (int64_t t = 16; t < kq; ++t) {  // Q's entries 16.. against Q's other entries
    const __m512i b = _mm512_set1_epi32(static_cast<int32_t>(qid[t]));
    dup_q |= _mm512_cmpeq_epi32_mask(Q1, b);
    dup_q |= _mm512_mask_cmpeq_epi32_mask(__mmask16(0xFFFFu << (t - 15)), Q2, b);
  }
  const uint32_t qvalid = kq >= 32 ? ~uint32_t(0) : (uint32_t(1) << kq) - 1;
  _mm512_mask_storeu_epi32(qmatch, __mmask16(qvalid), m1);
  _mm512_mask_storeu_epi32(qmatch + 16, __mmask16(qvalid >> 16), m2);
  // P's matches: entry j of Q written at P's index (unmatched ones at the scratch slot kp)
  const uint64_t pvalid = (uint64_t(1) << (kp + 1)) - 1;  // kp + 1 <= 33 slots
  const __m512i none = _mm512_set1_epi32(-1), scratch = _mm512_set1_epi32(static_cast<int32_t>(kp));
  _mm512_mask_storeu_epi32(pmatch, __mmask16(pvalid), none);
  _mm512_mask_storeu_epi32(pmatch + 16, __mmask16(pvalid >> 16), none);
  _mm512_mask_storeu_epi32(pmatch + 32, __mmask16(pvalid >> 32), none);
  alignas(64) int32_t at[32];
  _mm512_store_si512(at, _mm512_mask_mov_epi32(m1, _mm512_cmplt_epi32_mask(m1, _mm512_setzero_si512()), scratch));
  _mm512_store_si512(at + 16, _mm512_mask_mov_epi32(m2, _mm512_cmplt_epi32_mask(m2, _mm512_setzero_si512()), scratch));
  for (int64_t j = 0; j < kq; ++j) pmatch[at[j]] = static_cast<int32_t>(j);
  pmatch[kp] = -1;
  return (dup_p ? TK_ERR_DUP_P : 0) | (dup_q ? TK_ERR_DUP_Q : 0);
}

}  // namespace

int32_t pair_rows_small(const int64_t* pid, int64_t kp, const int64_t* qid, int64_t kq,
                        int32_t* pmatch, int32_t* qmatch) {
  return pair_rows32(pid, kp, qid, kq, pmatch, qmatch);
}

void log8(const double* x, double* y) {
  const __m512d v = _mm512_loadu_pd(x);
  const __mmask8 pos = _mm512_cmp_pd_mask(v, _mm512_setzero_pd(), _CMP_GT_OQ);
  const __mmask8 zero = _mm512_cmp_pd_mask(v, _mm512_setzero_pd(), _CMP_EQ_OQ);
  const __m512d l = vlog(_mm512_mask_blend_pd(pos, set1(1.0), v));
  _mm512_storeu_pd(y, _mm512_mask_blend_pd(zero, _mm512_mask_blend_pd(pos, set1(__builtin_nan("")), l),
                                           set1(-__builtin_inf())));
}

int64_t find_id(const int64_t* ids, int64_t k, int64_t id) {
  const __m512i b = _mm512_set1_epi64(id);
  for (int64_t i = 0; i < k; i += 8) {
    const __mmask8 hit = _mm512_mask_cmpeq_epi64_mask(lanes(k - i), _mm512_maskz_loadu_epi64(lanes(k - i), ids + i), b);
    if (hit) return i + __builtin_ctz(hit);
  }
  return -1;
}

namespace {
FP_INLINE RowSums exp_sums_impl(const double* lp, int64_t n, const int32_t* match, double* p) {
  const __m512d zero = _mm512_setzero_pd();
  __m512d m = zero, s1 = zero, sh = zero;
  for (int64_t i = 0; i < n; i += 8) {
    const __mmask8 l = lanes(n - i);
    const __m512d x = _mm512_maskz_loadu_pd(l, lp + i);
    const __m512d e = _mm512_maskz_mov_pd(l, vexp(x));
    _mm512_mask_storeu_pd(p + i, l, e);
    m = _mm512_add_pd(m, e);
    s1 = _mm512_mask3_fmadd_pd(e, x, s1, _mm512_cmp_pd_mask(e, zero, _CMP_GT_OQ));
    if (match) {
      const __m256i j = _mm256_maskz_loadu_epi32(l, match + i);
      sh = _mm512_mask_add_pd(sh, _mm256_mask_cmpge_epi32_mask(l, j, _mm256_setzero_si256()), sh, e);
    }
  }
  return RowSums{hsum(m), hsum(s1), hsum(sh)};
}
}  // namespace

RowSums exp_sums(const double* lp, int64_t n, const int32_t* match, double* p) {
  return exp_sums_impl(lp, n, match, p);
}

int32_t load_pair(const int64_t* pid, const double* plp, int64_t kp, const int64_t* qid,
                  const double* qlp, int64_t kq, uint64_t lim, int32_t* pmatch, int32_t* qmatch,
                  double* pp, double* qp, LoadOut& o) {
  bool p31 = false, q31 = false;
  const int32_t ep = check_row_impl(pid, plp, kp, lim, &o.ptop, &p31);
  if (ep == kHasPadding) return kHasPadding;
  const int32_t eq = check_row_impl(qid, qlp, kq, lim, &o.qtop, &q31);
  if (eq == kHasPadding) return kHasPadding;
  if (ep | eq) return ep | (eq << 1);
  const int32_t dup = p31 && q31 && kp <= kSmallK && kq <= kSmallK
                          ? pair_rows32(pid, kp, qid, kq, pmatch, qmatch)
                          : pair_rows(pid, kp, qid, kq, pmatch, qmatch);
  if (dup) return dup;
  o.p = exp_sums_impl(plp, kp, nullptr, pp);
  o.q = exp_sums_impl(qlp, kq, qmatch, qp);
  return (o.p.mass > 1.0 + kTopkMassTol ? TK_ERR_MASS_P : 0) |
         (o.q.mass > 1.0 + kTopkMassTol ? TK_ERR_MASS_Q : 0);
}

namespace {

// Q's entries idx (int64 lanes, < 8 NQ) from Q's row held in NQ registers.
template <int NQ>
inline __m512d take(const __m512d* v, __m512i idx) {
  if constexpr (NQ == 1) {
    return _mm512_permutexvar_pd(idx, v[0]);
  } else if constexpr (NQ == 2) {
    return _mm512_permutex2var_pd(v[0], idx, v[1]);
  } else {
    const __m512d lo = _mm512_permutex2var_pd(v[0], idx, v[1]);
    const __m512d hi = NQ == 3 ? _mm512_permutexvar_pd(idx, v[2]) : _mm512_permutex2var_pd(v[2], idx, v[NQ - 1]);
    return _mm512_mask_blend_pd(_mm512_test_epi64_mask(idx, _mm512_set1_epi64(16)), lo, hi);
  }
}

// Per-lane sums over the shared cells (p, q > 0 masks keep 0 log 0 terms out), common to the
// pairwise passes below; each pass reduces the lanes its own way.
struct CellSums {
  __m512d kl_pq = _mm512_setzero_pd(), kl_qp = _mm512_setzero_pd(), ce_pq = _mm512_setzero_pd(),
          ce_qp = _mm512_setzero_pd(), tv = _mm512_setzero_pd(), js = _mm512_setzero_pd(),
          mp = _mm512_setzero_pd(), mq = _mm512_setzero_pd();
  void add(__m512d p, __m512d q, __m512d lp, __m512d lq, bool want_js) {
    const __m512d zero = _mm512_setzero_pd();
    mp = _mm512_add_pd(mp, p);
    mq = _mm512_add_pd(mq, q);
    const __mmask8 ppos = _mm512_cmp_pd_mask(p, zero, _CMP_GT_OQ);
    const __mmask8 qpos = _mm512_cmp_pd_mask(q, zero, _CMP_GT_OQ);
    kl_pq = _mm512_mask3_fmadd_pd(p, _mm512_sub_pd(lp, lq), kl_pq, ppos);
    ce_pq = _mm512_mask3_fnmadd_pd(p, lq, ce_pq, ppos);
    kl_qp = _mm512_mask3_fmadd_pd(q, _mm512_sub_pd(lq, lp), kl_qp, qpos);
    ce_qp = _mm512_mask3_fnmadd_pd(q, lp, ce_qp, qpos);
    tv = _mm512_add_pd(tv, _mm512_abs_pd(_mm512_sub_pd(p, q)));
    if (want_js) js = _mm512_add_pd(js, vjs(p, q, lp, lq));
  }
};

// NQ = 0: Q's entries are gathered from memory (any kq).
template <int NQ>
PairSums pair_shared_n(const double* pp, const double* plp, const int32_t* pmatch, int64_t kp,
                       const double* qp, const double* qlp, int64_t kq, bool want_js, double* cP,
                       double* clP, double* cQ, double* clQ) {
  const __m512d zero = _mm512_setzero_pd();
  __m512d QP[NQ > 0 ? NQ : 1], QLP[NQ > 0 ? NQ : 1];
  for (int c = 0; c < NQ; ++c) {
    QP[c] = _mm512_maskz_loadu_pd(lanes(kq - 8 * c), qp + 8 * c);
    QLP[c] = _mm512_maskz_loadu_pd(lanes(kq - 8 * c), qlp + 8 * c);
  }
  CellSums acc;
  const int64_t n4 = (kp + 3) & ~int64_t(3);
  for (int64_t i = 0; i < kp; i += 8) {
    const __mmask8 l = lanes(kp - i), st = lanes(n4 - i);
    const __m256i j = _mm256_maskz_loadu_epi32(l, pmatch + i);
    const __mmask8 has = _mm256_mask_cmpge_epi32_mask(l, j, _mm256_setzero_si256());
    const __m512d p = _mm512_maskz_loadu_pd(has, pp + i), lp = _mm512_maskz_loadu_pd(l, plp + i);
    __m512d q, lq;
    if constexpr (NQ > 0) {
      const __m512i j64 = _mm512_cvtepi32_epi64(j);
      q = _mm512_maskz_mov_pd(has, take<NQ>(QP, j64));
      lq = _mm512_maskz_mov_pd(has, take<NQ>(QLP, j64));
    } else {
      q = _mm512_mask_i32gather_pd(zero, has, j, qp, 8);
      lq = _mm512_mask_i32gather_pd(zero, has, j, qlp, 8);
    }
    _mm512_mask_storeu_pd(cP + i, st, p);
    _mm512_mask_storeu_pd(clP + i, st, lp);
    _mm512_mask_storeu_pd(cQ + i, st, q);
    _mm512_mask_storeu_pd(clQ + i, st, lq);
    acc.add(p, q, lp, lq, want_js);
  }
  return PairSums{hsum(acc.kl_pq), hsum(acc.kl_qp), hsum(acc.ce_pq), hsum(acc.ce_qp),
                  hsum(acc.tv),    hsum(acc.js),    hsum(acc.mp),    hsum(acc.mq)};
}

}  // namespace

PairSums pair_shared(const double* pp, const double* plp, const int32_t* pmatch, int64_t kp,
                     const double* qp, const double* qlp, int64_t kq, bool want_js, double* cP,
                     double* clP, double* cQ, double* clQ) {
  switch ((kq + 7) / 8) {
    case 1: return pair_shared_n<1>(pp, plp, pmatch, kp, qp, qlp, kq, want_js, cP, clP, cQ, clQ);
    case 2: return pair_shared_n<2>(pp, plp, pmatch, kp, qp, qlp, kq, want_js, cP, clP, cQ, clQ);
    case 3: return pair_shared_n<3>(pp, plp, pmatch, kp, qp, qlp, kq, want_js, cP, clP, cQ, clQ);
    case 4: return pair_shared_n<4>(pp, plp, pmatch, kp, qp, qlp, kq, want_js, cP, clP, cQ, clQ);
    default: return pair_shared_n<0>(pp, plp, pmatch, kp, qp, qlp, kq, want_js, cP, clP, cQ, clQ);
  }
}

namespace {

// pair_fused for P rows of at most 8 NP entries, Q rows of at most 8 NQ: the cells stay in
// registers between the first and the second moments.
template <int NP, int NQ>
PairOut pair_fused_n(const double* pp, const double* plp, const int32_t* pmatch, int64_t kp,
                     const double* qp, const double* qlp, int64_t kq, const OwnSums& own,
                     bool rest, bool want_js, bool want_var) {
  const __m512d zero = _mm512_setzero_pd();
  __m512d QP[NQ], QLP[NQ];
  for (int c = 0; c < NQ; ++c) {
    QP[c] = _mm512_maskz_loadu_pd(lanes(kq - 8 * c), qp + 8 * c);
    QLP[c] = _mm512_maskz_loadu_pd(lanes(kq - 8 * c), qlp + 8 * c);
  }
  __m512d cp[NP], clp[NP], cq[NP], clq[NP];
  CellSums acc;
  for (int c = 0; c < NP; ++c) {
    const __mmask8 l = lanes(kp - 8 * c);
    const __m256i j = _mm256_maskz_loadu_epi32(l, pmatch + 8 * c);
    const __mmask8 has = _mm256_mask_cmpge_epi32_mask(l, j, _mm256_setzero_si256());
    const __m512i j64 = _mm512_cvtepi32_epi64(j);
    const __m512d p = _mm512_maskz_loadu_pd(has, pp + 8 * c), lp = _mm512_maskz_loadu_pd(l, plp + 8 * c);
    const __m512d q = _mm512_maskz_mov_pd(has, take<NQ>(QP, j64));
    const __m512d lq = _mm512_maskz_mov_pd(has, take<NQ>(QLP, j64));
    cp[c] = p; clp[c] = lp; cq[c] = q; clq[c] = lq;
    acc.add(p, q, lp, lq, want_js);
  }
  PairOut o;
  alignas(64) double sums[8];
  const __m512d all[8] = {acc.kl_pq, acc.kl_qp, acc.ce_pq, acc.ce_qp, acc.tv, acc.js, acc.mp, acc.mq};
  _mm512_store_pd(sums, hsum8(all));
  o.kl_pq = sums[0]; o.kl_qp = sums[1]; o.ce_pq = sums[2]; o.ce_qp = sums[3];
  o.tv = sums[4]; o.js = sums[5];
  // the rest cell (bucket) and the logs of both models' own rest masses, in one vector log
  const double smp = sums[6], smq = sums[7];
  const double rp = rest && 1.0 - smp > 0 ? 1.0 - smp : 0.0, rq = rest && 1.0 - smq > 0 ? 1.0 - smq : 0.0;
  const double xp = 1.0 - own.mass_p > 0 ? 1.0 - own.mass_p : 0.0;
  const double xq = 1.0 - own.mass_q > 0 ? 1.0 - own.mass_q : 0.0;
  const __m512d x = _mm512_setr_pd(rp, rq, xp, xq, rp + rq, 1.0, 1.0, 1.0);
  const __mmask8 xpos = _mm512_cmp_pd_mask(x, zero, _CMP_GT_OQ);
  alignas(64) double lx[8];
  _mm512_store_pd(lx, _mm512_mask_blend_pd(xpos, set1(-__builtin_inf()), vlog(_mm512_mask_blend_pd(xpos, set1(1.0), x))));
  const double lrp = lx[0], lrq = lx[1];
  o.own_log_p = lx[2];
  o.own_log_q = lx[3];
  if (rp > 0 || rq > 0) {
    if (rp > 0) { o.kl_pq += rp * (lrp - lrq); o.ce_pq -= rp * lrq; }
    if (rq > 0) { o.kl_qp += rq * (lrq - lrp); o.ce_qp -= rq * lrp; }
    o.tv += rp > rq ? rp - rq : rq - rp;
    if (want_js) {
      alignas(64) double jv[8];
      _mm512_store_pd(jv, vjs(_mm512_set1_pd(rp), _mm512_set1_pd(rq), _mm512_set1_pd(lrp), _mm512_set1_pd(lrq),
                              _mm512_set1_pd(lx[4] - kLn2)));
      o.js += jv[0];
    }
  }
  o.own_var_p = o.own_var_q = 0.0;
  if (rest && own.want_var) {  // bucket: sum p (lp - mu)^2 over each model's list, mu = -entropy
    const double mu_p = own.s1_p + (xp > 0 ? xp * lx[2] : 0.0);
    const double mu_q = own.s1_q + (xq > 0 ? xq * lx[3] : 0.0);
    __m512d vp = zero, vq = zero;
    for (int c = 0; c < NP; ++c) {
      const __mmask8 l = lanes(kp - 8 * c);
      const __m512d w = _mm512_maskz_loadu_pd(l, pp + 8 * c);
      const __m512d d = _mm512_sub_pd(_mm512_maskz_loadu_pd(l, plp + 8 * c), set1(mu_p));
      vp = _mm512_mask3_fmadd_pd(w, _mm512_mul_pd(d, d), vp, _mm512_cmp_pd_mask(w, zero, _CMP_GT_OQ));
    }
    for (int c = 0; c < NQ; ++c) {
      const __m512d d = _mm512_sub_pd(QLP[c], set1(mu_q));
      vq = _mm512_mask3_fmadd_pd(QP[c], _mm512_mul_pd(d, d), vq, _mm512_cmp_pd_mask(QP[c], zero, _CMP_GT_OQ));
    }
    o.own_var_p = hsum(vp);
    o.own_var_q = hsum(vq);
  }
  o.v_qp = o.v_pq = 0.0;
  if (want_var) {  // centred second moments: sum P (lQ - mu_qp)^2, sum Q (lP - mu_pq)^2
    const __m512d mu_qp = set1(-o.ce_pq), mu_pq = set1(-o.ce_qp);
    __m512d v_qp = zero, v_pq = zero;
    for (int c = 0; c < NP; ++c) {
      const __m512d dq = _mm512_sub_pd(clq[c], mu_qp), dp = _mm512_sub_pd(clp[c], mu_pq);
      v_qp = _mm512_mask3_fmadd_pd(cp[c], _mm512_mul_pd(dq, dq), v_qp, _mm512_cmp_pd_mask(cp[c], zero, _CMP_GT_OQ));
      v_pq = _mm512_mask3_fmadd_pd(cq[c], _mm512_mul_pd(dp, dp), v_pq, _mm512_cmp_pd_mask(cq[c], zero, _CMP_GT_OQ));
    }
    o.v_qp = hsum(v_qp);
    o.v_pq = hsum(v_pq);
    if (rp > 0) { const double d = lrq + o.ce_pq; o.v_qp += rp * (d * d); }
    if (rq > 0) { const double d = lrp + o.ce_qp; o.v_pq += rq * (d * d); }
  }
  return o;
}

template <int NP>
bool pair_fused_p(const double* pp, const double* plp, const int32_t* pmatch, int64_t kp,
                  const double* qp, const double* qlp, int64_t kq, const OwnSums& own,
                  bool rest, bool want_js, bool want_var, PairOut& out) {
  switch ((kq + 7) / 8) {
    case 1: out = pair_fused_n<NP, 1>(pp, plp, pmatch, kp, qp, qlp, kq, own, rest, want_js, want_var); return true;
    case 2: out = pair_fused_n<NP, 2>(pp, plp, pmatch, kp, qp, qlp, kq, own, rest, want_js, want_var); return true;
    case 3: out = pair_fused_n<NP, 3>(pp, plp, pmatch, kp, qp, qlp, kq, own, rest, want_js, want_var); return true;
    case 4: out = pair_fused_n<NP, 4>(pp, plp, pmatch, kp, qp, qlp, kq, own, rest, want_js, want_var); return true;
    default: return false;
  }
}

}  // namespace

bool pair_fused(const double* pp, const double* plp, const int32_t* pmatch, int64_t kp,
                const double* qp, const double* qlp, int64_t kq, const OwnSums& own,
                bool rest, bool want_js, bool want_var, PairOut& out) {
  switch ((kp + 7) / 8) {
    case 1: return pair_fused_p<1>(pp, plp, pmatch, kp, qp, qlp, kq, own, rest, want_js, want_var, out);
    case 2: return pair_fused_p<2>(pp, plp, pmatch, kp, qp, qlp, kq, own, rest, want_js, want_var, out);
    case 3: return pair_fused_p<3>(pp, plp, pmatch, kp, qp, qlp, kq, own, rest, want_js, want_var, out);
    case 4: return pair_fused_p<4>(pp, plp, pmatch, kp, qp, qlp, kq, own, rest, want_js, want_var, out);
    default: return false;
  }
}

}  // namespace topk_avx512
}  // namespace fp
