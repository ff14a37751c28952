// Top-k divergence panel (see fingerprint/topk.py for the definitions of the tail policies).
//
// Per row and model, one pass over the k columns compacts the valid (non -1) entries in row
// order into thread-local scratch (rows without padding are used in place), checks them (id
// range, NaN, positive log-probs) and enters P's ids in a small open-addressing table keyed by
// id (stamped with a per-row generation, so it is never cleared), where Q's ids are looked up:
// duplicates are found and the two lists paired in O(kp + kq). A second sweep exponentiates the
// entries and sums the mass and sum p log p. Each policy then evaluates the panel formulas on
// "cells" (probability and log-probability under P and Q): the shared ids plus the rest bucket,
// the shared ids alone, their renormalisation, or the union with the geometric tails (which add
// closed forms for the remaining tail ranks). exp and log are evaluated by branch-free
// polynomials (about one ulp), four at a time with AVX2 where fp::simd_level() allows. With the
// AVX-512 set (topk_avx512.cpp), rows without padding (int64 ids, float64 log-probs, k a
// multiple of 4) are checked, paired by vector id compares (no id table) and exponentiated in
// one call, and the bucket / ignore pairwise pass (k <= 32) keeps its cells in registers.
// All arithmetic is float64 and every sum runs in a fixed order, so a row's results depend only
// on that row and on the kernel set: bit-identical for any number of threads.
#include "topk.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "dispatch.hpp"
#include "parallel.hpp"
#if defined(FP_HAVE_X86_KERNELS) && (defined(__GNUC__) || defined(__clang__))
#include "topk_avx512.hpp"
#define FP_TOPK_AVX512 1
#endif

namespace fp {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kLn2 = 0.69314718055994530942;

inline double clamp0(double x) { return x < 0 ? 0.0 : x; }
inline double clamp_range(double x, double hi) { return x < 0 ? 0.0 : (x > hi ? hi : x); }

// ---- elementary functions ------------------------------------------------------------------
// exp and log without tables, branches or calls, accurate to about one ulp, so that the loops
// applying them to a row's entries / cells compile to straight-line vector code. Arguments
// outside their fast domains (underflow, zero, subnormals) are recomputed with std::exp /
// std::log by the callers.

inline uint64_t to_bits(double x) {
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
inline double from_bits(uint64_t u) {
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// ln 2 split so that k * kLn2Hi is exact for |k| < 2^21.
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr double kExpMin = -707.0;  // exp_fast needs a normal result
constexpr double kMinNormal = std::numeric_limits<double>::min();

// exp(x) for x in [kExpMin, 709]: x = k ln2 + r with k = round(x / ln2) (adding 1.5 * 2^52
// rounds), |r| <= ln2 / 2; exp(r) by its Taylor polynomial of degree 13 (truncation below 1e-17
// relative); 2^k is added to the exponent bits (the low bits of the shifted sum hold k).
inline double exp_fast(double x) {
  const double shifter = 6755399441055744.0;
  const double t = x * 1.4426950408889634 + shifter;
  const double k = t - shifter;
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  return from_bits(to_bits(p) + (to_bits(t) << 52));
}

// log(x) for positive normal x: x = m 2^e with m in [sqrt(1/2), sqrt(2)) (found by subtracting
// the bits of sqrt(1/2)), log m = 2 atanh(f), f = (m-1)/(m+1), |f| <= 0.1716, by its series to
// f^21 (truncation below 3e-17 relative). The exponent is converted to double through the bits
// of 2^52 + e, so that no integer conversion is needed.
inline double log_fast(double x) {
  const uint64_t b = to_bits(x);
  const uint64_t tmp = b - 0x3FE6A09E667F3BCDull;  // bits of sqrt(1/2)
  const uint64_t ebits = (tmp >> 52) ^ 0x800u;      // e + 2048 (12-bit two's complement e)
  const double e = from_bits(0x4330000000000000ull | ebits) - 4503599627372544.0;  // 2^52 + 2048
  const double m = from_bits(b - (tmp & 0xFFF0000000000000ull));
  const double f = (m - 1.0) / (m + 1.0);
  const double f2 = f * f;
  double q = 1.0 / 21;
  q = q * f2 + 1.0 / 19;
  q = q * f2 + 1.0 / 17;
  q = q * f2 + 1.0 / 15;
  q = q * f2 + 1.0 / 13;
  q = q * f2 + 1.0 / 11;
  q = q * f2 + 1.0 / 9;
  q = q * f2 + 1.0 / 7;
  q = q * f2 + 1.0 / 5;
  q = q * f2 + 1.0 / 3;
  const double lm = 2.0 * f + 2.0 * f * (f2 * q);
  return e * kLn2Hi + (e * kLn2Lo + lm);
}

// log of x >= 0 (0 -> -inf, subnormals through std::log).
inline double log_pos(double x) { return x >= kMinNormal ? log_fast(x) : std::log(x); }

// y = exp(x) elementwise for x <= 0 or -inf (x NaN or large only in rows that are rejected).
void exp_array(const double* __restrict x, double* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = exp_fast(x[i]);  // wrong below kExpMin: redone below
  for (int64_t i = 0; i < n; ++i)
    if (!(x[i] >= kExpMin)) y[i] = std::exp(x[i]);
}

// y = log(a + b) - log 2, the log of the mixture of two probabilities (-inf where a + b = 0).
void log_mix_array(const double* __restrict a, const double* __restrict b, double* __restrict y,
                   int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = log_fast(a[i] + b[i]) - kLn2;
  for (int64_t i = 0; i < n; ++i) {
    const double s = a[i] + b[i];
    if (!(s >= kMinNormal)) y[i] = std::log(s) - kLn2;
  }
}

// JS contribution of one cell, 1/2 [P log(P/m) + Q log(Q/m)] with m = (P + Q)/2, given the
// log-probabilities lP, lQ (used where P, Q > 0) and lm = log m. With d = (P - Q)/(P + Q) it
// equals (P + Q)/4 f(d), f(d) = (1+d)log(1+d) + (1-d)log(1-d) = sum_k d^(2k)/(k(2k-1)); the
// series is used for |d| < 1/8 (nine terms reach double precision) where the log form cancels.
inline double js_cell(double P, double Q, double lP, double lQ, double lm) {
  const double s = P + Q;
  const double d = (P - Q) / s;  // NaN for s == 0: both forms are discarded then
  const double t = d * d;
  double f = 1.0 / 153;
  f = f * t + 1.0 / 120;
  f = f * t + 1.0 / 91;
  f = f * t + 1.0 / 66;
  f = f * t + 1.0 / 45;
  f = f * t + 1.0 / 28;
  f = f * t + 1.0 / 15;
  f = f * t + 1.0 / 6;
  f = f * t + 1.0;
  const double series = 0.25 * s * (f * t);
  const double a = P > 0 ? P * (lP - lm) : 0.0, b = Q > 0 ? Q * (lQ - lm) : 0.0;
  const double v = std::fabs(d) < 0.125 ? series : 0.5 * (a + b);
  return s > 0 ? v : 0.0;
}
inline double js_cell(double P, double Q, double lP, double lQ) {
  return js_cell(P, Q, lP, lQ, P + Q > 0 ? log_pos(P + Q) - kLn2 : -kInf);
}

// ---- the panel formulas on cells -------------------------------------------------------------

// Cells of a pairwise comparison: probabilities and log-probabilities under P and Q.
struct Cells {
  double* P;
  double* lP;
  double* Q;
  double* lQ;
  double* lM;  // log of the mixture, filled by mix()
  int64_t n = 0;
  void mix() const { log_mix_array(P, Q, lM, n); }
  void push(double p, double lp, double q, double lq) {
    P[n] = p; lP[n] = lp; Q[n] = q; lQ[n] = lq; ++n;
  }
};

struct Pair {
  double kl_pq = 0, kl_qp = 0, ce_pq = 0, ce_qp = 0, js = 0, tv = 0, v_qp = 0, v_pq = 0;

  // First moments (KL, cross-entropies) and TV of one cell. 0 log 0 = 0; a cell with mass
  // under one model and none under the other makes that KL and cross-entropy +inf.
  void add(double P, double lP, double Q, double lQ) {
    if (P > 0) {
      kl_pq += P * (lP - lQ);
      ce_pq -= P * lQ;
    }
    if (Q > 0) {
      kl_qp += Q * (lQ - lP);
      ce_qp -= Q * lP;
    }
    tv += std::fabs(P - Q);
  }
  // All first moments of the cells, in order (JS with the mixture logs computed in one sweep).
  void add_all(const Cells& c, bool want_js) {
    for (int64_t i = 0; i < c.n; ++i) add(c.P[i], c.lP[i], c.Q[i], c.lQ[i]);
    if (!want_js) return;
    c.mix();
    for (int64_t i = 0; i < c.n; ++i) js += js_cell(c.P[i], c.Q[i], c.lP[i], c.lQ[i], c.lM[i]);
  }
  // Centred second moments: v_qp = sum P (lQ - mu_qp)^2, v_pq = sum Q (lP - mu_pq)^2.
  void add_var(const Cells& c, double mu_qp, double mu_pq) {
    for (int64_t i = 0; i < c.n; ++i) {
      if (c.P[i] > 0) { const double d = c.lQ[i] - mu_qp; v_qp += c.P[i] * (d * d); }
      if (c.Q[i] > 0) { const double d = c.lP[i] - mu_pq; v_pq += c.Q[i] * (d * d); }
    }
  }
};

// Per-model statistics for weights w with log-weights l plus an optional extra component of mass
// xm whose log-probabilities have mean xmu and variance xs2 (the rest bucket: xs2 = 0; a
// geometric tail: its within-tail spread). own_mean = sum w l (+ xm xmu) = -entropy.
inline double own_mean(const double* w, const double* l, int64_t n, double xm, double xmu) {
  double s1 = 0.0;
  for (int64_t i = 0; i < n; ++i) s1 += w[i] > 0 ? w[i] * l[i] : 0.0;
  if (xm > 0) s1 += xm * xmu;
  return s1;
}
// sum w (l - mu)^2 (+ xm ((xmu - mu)^2 + xs2)).
inline double own_var(const double* w, const double* l, int64_t n, double mu, double xm,
                      double xmu, double xs2) {
  double v = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = l[i] - mu;
    v += w[i] > 0 ? w[i] * (d * d) : 0.0;
  }
  if (xm > 0) { const double d = xmu - mu; v += xm * (d * d + xs2); }
  return v;
}

// ---- loading a row -----------------------------------------------------------------------------

// Open-addressing id table for one row at a time; a slot belongs to the current row when its
// stamp equals the row's generation, so no clearing is needed between rows.
struct IdTable {
  struct Slot {
    int64_t id;
    uint32_t gen;
    int32_t pi, qi;  // index in P's / Q's row, or -1
  };
  std::vector<Slot> slots;
  uint64_t mask = 0;
  int shift = 64;
  uint32_t gen = 0;

  explicit IdTable(int64_t capacity) {
    int64_t size = 4;
    int bits = 2;
    while (size < 4 * capacity) { size <<= 1; ++bits; }  // load factor <= 1/4
    slots.assign(static_cast<size_t>(size), Slot{0, 0, -1, -1});
    mask = static_cast<uint64_t>(size - 1);
    shift = 64 - bits;
  }
  void next_row() {
    if (++gen == 0) {  // wrapped: stale stamps could collide, clear once
      for (auto& s : slots) s.gen = 0;
      gen = 1;
    }
  }
  // Slot holding `id`, or the empty slot where it would go.
  Slot& find(int64_t id) {
    uint64_t h = (static_cast<uint64_t>(id) * 0x9E3779B97F4A7C15ull) >> shift;
    for (;;) {
      Slot& s = slots[h];
      if (s.gen != gen || s.id == id) return s;
      h = (h + 1) & mask;
    }
  }
  const Slot* lookup(int64_t id) {
    Slot& s = find(id);
    return s.gen == gen ? &s : nullptr;
  }
};

// One model's row: valid entries in row order.
struct Side {
  const int64_t* id;  // the row's ids and log-probs: id_buf / lp_buf, or the input row itself
  const double* lp;
  int64_t* id_buf;
  double* lp_buf;
  double* p;
  int32_t* match;     // index of the same id in the other model's row, or -1
  int64_t n = 0;
  // sums in row order (the AVX2 kernel: per lane, then lane by lane)
  double mass = 0;    // sum of p
  double s1 = 0;      // sum of p lp over p > 0
  double shared = 0;  // (Q only) sum of q over the ids in both rows
  int64_t top = 0;    // first index of the largest log-prob
};

constexpr int64_t kPad = 4;  // scratch rows are padded for the 4-wide vector kernels

// ---- AVX2 kernels (x86 with GCC/Clang; chosen at run time by fp::simd_level()) -----------------
// The same formulas as the scalar code, four entries or cells at a time with GCC vector
// extensions in functions compiled for AVX2 + FMA (a * b + c contracts to one FMA, so the last
// bits may differ from the scalar code's; the dispatch level AVX2 requires FMA). Sums are
// accumulated per lane and added up lane by lane at the end: a fixed order, so the results do
// not depend on the thread count (they may differ from the generic kernel's in the last bits).
#if defined(FP_HAVE_X86_KERNELS) && (defined(__GNUC__) || defined(__clang__))
#define FP_TOPK_AVX2 1
#define FP_AVX2 __attribute__((target("avx2,fma")))

typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4i __attribute__((vector_size(32)));
typedef uint64_t v4u __attribute__((vector_size(32)));

FP_AVX2 inline v4d vload(const double* x) {
  v4d v;
  std::memcpy(&v, x, sizeof v);
  return v;
}
FP_AVX2 inline void vstore(double* x, v4d v) { std::memcpy(x, &v, sizeof v); }
FP_AVX2 inline v4d vbroadcast(double x) { return v4d{x, x, x, x}; }
FP_AVX2 inline v4d vsel(v4i m, v4d a, v4d b) { return (v4d)(((v4i)a & m) | ((v4i)b & ~m)); }
FP_AVX2 inline v4d vkeep(v4i m, v4d a) { return (v4d)((v4i)a & m); }
FP_AVX2 inline v4d vabs(v4d x) { return (v4d)((v4u)x & 0x7FFFFFFFFFFFFFFFull); }
FP_AVX2 inline bool vany(v4i m) { return __builtin_ia32_movmskpd256((v4d)m) != 0; }
FP_AVX2 inline double vsum(v4d v) { return (v[0] + v[1]) + (v[2] + v[3]); }
FP_AVX2 inline v4i vmatch(const int32_t* m) { return v4i{m[0], m[1], m[2], m[3]}; }

FP_AVX2 inline v4d vexp(v4d x) {  // exp_fast, lane by lane
  const v4d t = x * 1.4426950408889634 + 6755399441055744.0;
  const v4d k = t - 6755399441055744.0;
  const v4d r = (x - k * kLn2Hi) - k * kLn2Lo;
  v4d p = vbroadcast(1.0 / 6227020800.0);
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  return (v4d)((v4u)p + ((v4u)t << 52));
}

FP_AVX2 inline v4d vlog(v4d x) {  // log_fast, lane by lane
  const v4u b = (v4u)x;
  const v4u tmp = b - 0x3FE6A09E667F3BCDull;
  const v4u ebits = (tmp >> 52) ^ 0x800u;
  const v4d e = (v4d)(ebits | 0x4330000000000000ull) - 4503599627372544.0;
  const v4d m = (v4d)(b - (tmp & 0xFFF0000000000000ull));
  const v4d f = (m - 1.0) / (m + 1.0);
  const v4d f2 = f * f;
  v4d q = vbroadcast(1.0 / 21);
  q = q * f2 + 1.0 / 19;
  q = q * f2 + 1.0 / 17;
  q = q * f2 + 1.0 / 15;
  q = q * f2 + 1.0 / 13;
  q = q * f2 + 1.0 / 11;
  q = q * f2 + 1.0 / 9;
  q = q * f2 + 1.0 / 7;
  q = q * f2 + 1.0 / 5;
  q = q * f2 + 1.0 / 3;
  const v4d lm = 2.0 * f + 2.0 * f * (f2 * q);
  return e * kLn2Hi + (e * kLn2Lo + lm);
}

// js_cell, lane by lane; s = P + Q must be 0 or normal (the caller checks).
FP_AVX2 inline v4d vjs(v4d P, v4d Q, v4d lP, v4d lQ) {
  const v4d zero = vbroadcast(0.0);
  const v4d s = P + Q;
  const v4i pos = s > zero;
  const v4d lm = vlog(vsel(pos, s, vbroadcast(1.0))) - kLn2;
  const v4d d = (P - Q) / vsel(pos, s, vbroadcast(1.0));
  const v4d t = d * d;
  v4d f = vbroadcast(1.0 / 153);
  f = f * t + 1.0 / 120;
  f = f * t + 1.0 / 91;
  f = f * t + 1.0 / 66;
  f = f * t + 1.0 / 45;
  f = f * t + 1.0 / 28;
  f = f * t + 1.0 / 15;
  f = f * t + 1.0 / 6;
  f = f * t + 1.0;
  const v4d series = 0.25 * s * (f * t);
  const v4d a = vkeep(P > zero, P * (lP - lm)), b = vkeep(Q > zero, Q * (lQ - lm));
  return vkeep(pos, vsel(vabs(d) < 0.125, series, 0.5 * (a + b)));
}

// p = exp(lp) over a padded row and its sums; false (nothing usable) if some log-prob is finite
// but below kExpMin (its exp needs std::exp: the caller uses the scalar kernel then).
FP_AVX2 bool side_sums_avx2(Side& s, bool q_side) {
  const v4d zero = vbroadcast(0.0), lo = vbroadcast(kExpMin), ninf = vbroadcast(-kInf);
  v4d m = zero, s1 = zero, sh = zero;
  for (int64_t i = 0; i < s.n; i += 4) {
    const v4d x = vload(s.lp + i);
    const v4i ok = x >= lo;
    if (vany(~ok & (x > ninf))) return false;
    const v4d p = vkeep(ok, vexp(x));
    vstore(s.p + i, p);
    m += p;
    s1 += vkeep(p > zero, p * x);
    if (q_side) sh += vkeep(vmatch(s.match + i) >= 0, p);
  }
  s.mass = vsum(m);
  s.s1 = vsum(s1);
  s.shared = vsum(sh);
  return true;
}

// Number of entries of a padded row with a log-prob strictly above t.
FP_AVX2 int64_t count_above_avx2(const double* lp, int64_t n, double t) {
  const v4d tv = vbroadcast(t);
  int64_t c = 0;
  for (int64_t i = 0; i < n; i += 4)
    c += __builtin_popcount(__builtin_ia32_movmskpd256((v4d)(vload(lp + i) > tv)));
  return c;
}

// sum w (l - mu)^2 over w > 0, padded rows.
FP_AVX2 double own_var_avx2(const double* w, const double* l, int64_t n, double mu) {
  const v4d zero = vbroadcast(0.0);
  v4d v = zero;
  for (int64_t i = 0; i < n; i += 4) {
    const v4d wi = vload(w + i), d = vload(l + i) - mu;
    v += vkeep(wi > zero, wi * (d * d));
  }
  return vsum(v);
}

// Pairwise first moments over the shared ids (P's entries whose id Q also has; the others count
// as empty cells), the gathered cells kept in C (same positions as P's entries) for the second
// moments. Returns P's shared mass; false if a JS mixture is subnormal (scalar kernel then).
FP_AVX2 bool pair_shared_avx2(const Side& P, const Side& Q, Cells& C, bool want_js, Pair& pr,
                              double& mp_out) {
  const v4d zero = vbroadcast(0.0);
  v4d kl_pq = zero, kl_qp = zero, ce_pq = zero, ce_qp = zero, tv = zero, js = zero, mp = zero;
  for (int64_t i = 0; i < P.n; i += 4) {
    const int32_t* mi = P.match + i;
    const v4i has = vmatch(mi) >= 0;
    const int32_t j0 = mi[0] < 0 ? 0 : mi[0], j1 = mi[1] < 0 ? 0 : mi[1];
    const int32_t j2 = mi[2] < 0 ? 0 : mi[2], j3 = mi[3] < 0 ? 0 : mi[3];
    const v4d p = vkeep(has, vload(P.p + i)), lp = vload(P.lp + i);
    const v4d q = vkeep(has, v4d{Q.p[j0], Q.p[j1], Q.p[j2], Q.p[j3]});
    const v4d lq = v4d{Q.lp[j0], Q.lp[j1], Q.lp[j2], Q.lp[j3]};
    vstore(C.P + i, p);
    vstore(C.lP + i, lp);
    vstore(C.Q + i, q);
    vstore(C.lQ + i, lq);
    mp += p;
    const v4i pp = p > zero, qp = q > zero;
    kl_pq += vkeep(pp, p * (lp - lq));
    ce_pq -= vkeep(pp, p * lq);
    kl_qp += vkeep(qp, q * (lq - lp));
    ce_qp -= vkeep(qp, q * lp);
    tv += vabs(p - q);
    if (want_js) {
      const v4d sum = p + q;
      if (vany((sum > zero) & (sum < kMinNormal))) return false;
      js += vjs(p, q, lp, lq);
    }
  }
  pr.kl_pq = vsum(kl_pq);
  pr.kl_qp = vsum(kl_qp);
  pr.ce_pq = vsum(ce_pq);
  pr.ce_qp = vsum(ce_qp);
  pr.tv = vsum(tv);
  pr.js = vsum(js);
  C.n = P.n;  // positions of P's entries (unshared ones are empty cells)
  mp_out = vsum(mp);
  return true;
}

// Centred second moments of cells (padded to a multiple of 4 with empty cells).
FP_AVX2 void pair_var_avx2(const Cells& c, int64_t n, double mu_qp, double mu_pq, Pair& pr) {
  const v4d zero = vbroadcast(0.0);
  v4d v_qp = zero, v_pq = zero;
  for (int64_t i = 0; i < n; i += 4) {
    const v4d p = vload(c.P + i), q = vload(c.Q + i);
    const v4d dq = vload(c.lQ + i) - mu_qp, dp = vload(c.lP + i) - mu_pq;
    v_qp += vkeep(p > zero, p * (dq * dq));
    v_pq += vkeep(q > zero, q * (dp * dp));
  }
  pr.v_qp += vsum(v_qp);
  pr.v_pq += vsum(v_pq);
}
#endif

// Enters entry c (id) of P's row in the table, or looks up entry c of Q's row (pairing it with
// P's entry of the same id: match arrays). Returns true for an id already seen in this row.
template <bool Q_SIDE>
inline bool enter_id(IdTable& t, int64_t id, int64_t c, int32_t* match, int32_t* p_match) {
  IdTable::Slot& slot = t.find(id);
  if (!Q_SIDE) {
    if (slot.gen == t.gen) return true;
    slot = IdTable::Slot{id, t.gen, static_cast<int32_t>(c), -1};
  } else if (slot.gen != t.gen) {
    slot = IdTable::Slot{id, t.gen, -1, static_cast<int32_t>(c)};
  } else if (slot.qi >= 0) {
    return true;
  } else {
    slot.qi = static_cast<int32_t>(c);
    if (slot.pi >= 0) {
      p_match[slot.pi] = static_cast<int32_t>(c);
      match[c] = slot.pi;
    }
  }
  return false;
}

#if defined(FP_TOPK_AVX2)
// A contiguous int64 / float64 row without padding whose length is a multiple of 4 (the
// common case of API top-k lists) is checked four entries at a time and used in place. Returns
// false, having changed nothing, for a row that does not qualify (it has padding).
template <bool Q_SIDE>
FP_AVX2 bool load_dense_avx2(const int64_t* ids, const double* lps, int64_t k, uint64_t lim,
                             Side& out, Side& p_side, IdTable& t, int32_t& err) {
  const v4i minus1 = v4i{-1, -1, -1, -1};
  const v4u limv = v4u{lim, lim, lim, lim};
  const v4d tol = vbroadcast(kTopkPositiveTol);
  v4i pad = minus1 - minus1, bad_id = pad, bad_lp = pad;
  for (int64_t i = 0; i < k; i += 4) {
    v4i id;
    std::memcpy(&id, ids + i, sizeof id);
    const v4d lp = vload(lps + i);
    pad |= id == minus1;
    bad_id |= (v4u)id >= limv;
    bad_lp |= ~(lp <= tol);  // NaN or positive
  }
  if (vany(pad)) return false;
  out.id = ids;
  out.lp = lps;
  out.n = k;
  int32_t* const om = out.match;
  bool dup = false;
  double best = -kInf;
  int64_t top = 0;
  for (int64_t c = 0; c < k; ++c) {
    om[c] = -1;
    if (lps[c] > best) { best = lps[c]; top = c; }
    dup |= enter_id<Q_SIDE>(t, ids[c], c, om, p_side.match);
  }
  for (int64_t i = k; i < k + kPad; ++i) om[i] = -1;
  out.top = top;
  err = (vany(bad_id) ? TK_ERR_ID_P : 0) | (dup ? TK_ERR_DUP_P : 0);
  if (vany(bad_lp)) {
    for (int64_t i = 0; i < k; ++i)
      err |= lps[i] != lps[i] ? TK_ERR_NAN_P : (lps[i] > kTopkPositiveTol ? TK_ERR_POSITIVE_P : 0);
  }
  return true;
}
#endif

// p = exp(lp), the mass, sum p lp and Q's shared mass of a loaded row.
inline void side_sums(Side& s, bool q_side, bool avx2) {
#if defined(FP_TOPK_AVX2)
  if (avx2 && side_sums_avx2(s, q_side)) return;
#else
  (void)avx2;
#endif
  exp_array(s.lp, s.p, s.n);
  double m = 0.0, s1 = 0.0, shared = 0.0;
  for (int64_t i = 0; i < s.n; ++i) {
    const double p = s.p[i], lp = s.lp[i];
    m += p;
    s1 += p > 0 ? p * lp : 0.0;
    if (q_side) shared += s.match[i] >= 0 ? p : 0.0;
  }
  s.mass = m;
  s.s1 = s1;
  s.shared = shared;
}

// Loads row r of one model (Q_SIDE: model Q, whose ids are looked up in the table P filled).
// Returns error bits of model P (the caller shifts them for Q).
template <class IdT, class LpT, bool CONTIGUOUS, bool Q_SIDE>
int32_t load_row(const TopkSide& s, int64_t r, int64_t vocab, Side& out, Side& p_side, IdTable& t,
                 bool avx2) {
  const IdT* ids = static_cast<const IdT*>(s.ids) + r * s.id_stride0;
  const LpT* lps = static_cast<const LpT*>(s.logprobs) + r * s.lp_stride0;
  const int64_t si = CONTIGUOUS ? 1 : s.id_stride1, sl = CONTIGUOUS ? 1 : s.lp_stride1;
  // valid ids are those in [0, lim) as unsigned values (negative ids wrap above 2^63)
  const uint64_t lim = vocab > 0 ? static_cast<uint64_t>(vocab) : uint64_t(1) << 63;
  bool bad_id = false, bad_lp = false, dup = false;
  int64_t c = 0, top = 0;
  double best = -kInf;
  int64_t* const oid = out.id_buf;
  double* const olp = out.lp_buf;
  int32_t* const om = out.match;
  out.id = oid;
  out.lp = olp;
  for (int64_t j = 0; j < s.k; ++j) {
    const int64_t id = static_cast<int64_t>(ids[j * si]);
    if (id == -1) continue;
    const double lp = static_cast<double>(lps[j * sl]);
    bad_id |= static_cast<uint64_t>(id) >= lim;
    bad_lp |= !(lp <= kTopkPositiveTol);  // NaN or positive
    if (lp > best) { best = lp; top = c; }
    oid[c] = id;
    olp[c] = lp;
    om[c] = -1;
    dup |= enter_id<Q_SIDE>(t, id, c, om, p_side.match);
    ++c;
  }
  out.n = c;
  out.top = top;
  int32_t err = (bad_id ? TK_ERR_ID_P : 0) | (dup ? TK_ERR_DUP_P : 0);
  if (bad_lp) {
    for (int64_t i = 0; i < c; ++i)
      err |= olp[i] != olp[i] ? TK_ERR_NAN_P : (olp[i] > kTopkPositiveTol ? TK_ERR_POSITIVE_P : 0);
  }
  if (err) return err;
  for (int64_t i = c; i < c + kPad; ++i) {  // padding read by the vector kernels: no mass
    olp[i] = -kInf;
    out.p[i] = 0.0;
    om[i] = -1;
  }
  side_sums(out, Q_SIDE, avx2);
  return out.mass > 1.0 + kTopkMassTol ? TK_ERR_MASS_P : 0;
}

template <bool Q_SIDE, bool CONTIGUOUS>
int32_t load_row_c(const TopkSide& s, int64_t r, int64_t vocab, Side& out, Side& p, IdTable& t,
                   bool avx2) {
  if (s.ids64)
    return s.lp64 ? load_row<int64_t, double, CONTIGUOUS, Q_SIDE>(s, r, vocab, out, p, t, avx2)
                  : load_row<int64_t, float, CONTIGUOUS, Q_SIDE>(s, r, vocab, out, p, t, avx2);
  return s.lp64 ? load_row<int32_t, double, CONTIGUOUS, Q_SIDE>(s, r, vocab, out, p, t, avx2)
                : load_row<int32_t, float, CONTIGUOUS, Q_SIDE>(s, r, vocab, out, p, t, avx2);
}

template <bool Q_SIDE>
int32_t load_row_any(const TopkSide& s, int64_t r, int64_t vocab, Side& out, Side& p, IdTable& t,
                     bool avx2) {
#if defined(FP_TOPK_AVX2)
  if (avx2 && s.ids64 && s.lp64 && s.id_stride1 == 1 && s.lp_stride1 == 1 && s.k % 4 == 0) {
    const int64_t* ids = static_cast<const int64_t*>(s.ids) + r * s.id_stride0;
    const double* lps = static_cast<const double*>(s.logprobs) + r * s.lp_stride0;
    const uint64_t lim = vocab > 0 ? static_cast<uint64_t>(vocab) : uint64_t(1) << 63;
    int32_t err = 0;
    if (load_dense_avx2<Q_SIDE>(ids, lps, s.k, lim, out, p, t, err)) {
      if (err) return err;
      side_sums(out, Q_SIDE, true);
      return out.mass > 1.0 + kTopkMassTol ? TK_ERR_MASS_P : 0;
    }
  }
#endif
  return s.id_stride1 == 1 && s.lp_stride1 == 1
             ? load_row_c<Q_SIDE, true>(s, r, vocab, out, p, t, avx2)
             : load_row_c<Q_SIDE, false>(s, r, vocab, out, p, t, avx2);
}

// ---- geometric tails ----------------------------------------------------------------------

// A model's extrapolated tail: values exp(logc - x j) for ranks j = 1..T after its top-K
// (logc = -inf: no rest mass, the tail is zero).
struct Tail {
  double logc = -kInf;
  double x = 0.0;
  int64_t T = 0;
};

// The tail of a row with K >= 1 valid entries and T = vocab - K >= 1 further ranks.
Tail make_tail(const Side& s, int64_t vocab) {
  Tail t;
  t.T = vocab - s.n;
  const double rest = 1.0 - s.mass;
  if (!(rest > 0)) return t;
  int64_t k = 0;  // the smallest entry, p_K
  for (int64_t i = 1; i < s.n; ++i)
    if (s.lp[i] < s.lp[k]) k = i;
  const double pk = s.p[k];
  const double T = static_cast<double>(t.T);
  if (pk * T <= rest) {  // no ratio < 1 reaches the rest mass: uniform tail
    t.logc = std::log(rest / T);
    return t;
  }
  t.logc = s.lp[k];
  t.x = geo_solve(rest / pk, t.T);
  return t;
}

// log of the tail value at rank j (1-based) of a model's tail.
inline double tail_log(const Tail& t, int64_t j) {
  return t.logc == -kInf ? -kInf : t.logc - t.x * static_cast<double>(j);
}

// Smallest i in [0, L] such that the tail mass beyond the first i of the L values
// exp(a - x i'), i' = 1..L, is below kTopkTailEps.
int64_t tail_stop(double a, double x, int64_t L) {
  if (a == -kInf || L <= 0) return 0;
  double s;
  if (x == 0.0) {
    s = std::ceil(static_cast<double>(L) - kTopkTailEps * std::exp(-a));
  } else {
    // the mass beyond i is at most exp(a - x i) / expm1(x)
    s = std::ceil((a - std::log(kTopkTailEps * std::expm1(x))) / x);
  }
  if (!(s > 0)) return 0;
  if (s >= static_cast<double>(L)) return L;
  return static_cast<int64_t>(s);
}

struct RankItem {
  double lp;
  int32_t idx;
};

// Ranks 1, 2, ... of the entries of `s` that are absent from the other model's row, in the
// order of s's log-probabilities (descending; ties in row order). rank[i] = 0 for matched ones.
void unmatched_ranks(const Side& s, RankItem* buf, int64_t* rank) {
  int64_t m = 0;
  for (int64_t i = 0; i < s.n; ++i) {
    rank[i] = 0;
    if (s.match[i] >= 0) continue;
    // stable insertion: move only strictly smaller log-probs
    int64_t j = m++;
    while (j > 0 && buf[j - 1].lp < s.lp[i]) { buf[j] = buf[j - 1]; --j; }
    buf[j] = RankItem{s.lp[i], static_cast<int32_t>(i)};
  }
  for (int64_t r = 0; r < m; ++r) rank[buf[r].idx] = r + 1;
}

// ---- the row kernel -----------------------------------------------------------------------

struct Scratch {
  std::vector<int64_t> pid, qid, prank, qrank;
  std::vector<double> plp, qlp, pp, qp, cP, clP, cQ, clQ, clM;
  std::vector<int32_t> pm, qm;
  std::vector<RankItem> rbuf;
  IdTable table;
  // rows have kPad extra slots, cells room for the padded cells of the vector kernels
  Scratch(int64_t kp, int64_t kq)
      : pid(kp), qid(kq), prank(kp), qrank(kq), plp(kp + kPad), qlp(kq + kPad), pp(kp + kPad),
        qp(kq + kPad), cP(kp + kq + 1 + 2 * kPad), clP(kp + kq + 1 + 2 * kPad),
        cQ(kp + kq + 1 + 2 * kPad), clQ(kp + kq + 1 + 2 * kPad), clM(kp + kq + 1 + 2 * kPad),
        pm(kp + kPad), qm(kq + kPad), rbuf(std::max(kp, kq) + 1), table(kp + kq + 1) {}
};

struct Want {
  bool f[TK_NUM_FIELDS];
  bool pair, js, pair_var, own_p, own_q, var_p, var_q;
  explicit Want(const TopkArgs& a) {
    for (int i = 0; i < TK_NUM_FIELDS; ++i) f[i] = a.out[i] != nullptr;
    js = f[TK_JS];
    pair_var = f[TK_VAR_LOGQ_P] || f[TK_VAR_LOGP_Q];
    pair = js || pair_var || f[TK_CE_PQ] || f[TK_CE_QP] || f[TK_KL_PQ] || f[TK_KL_QP] || f[TK_TV];
    var_p = f[TK_VAR_LOGP_P];
    var_q = f[TK_VAR_LOGQ_Q];
    own_p = f[TK_ENTROPY_P] || var_p;
    own_q = f[TK_ENTROPY_Q] || var_q;
  }
};

class RowKernel {
 public:
  RowKernel(const TopkArgs& a, int level)
      : A(a), W(a), S(a.p.k, a.q.k), avx2(level >= SIMD_AVX2), avx512(level >= SIMD_AVX512),
        dense512(avx512 && dense512_ok(a.p) && dense512_ok(a.q)) {
    P.id = P.id_buf = S.pid.data(); P.lp = P.lp_buf = S.plp.data();
    P.p = S.pp.data(); P.match = S.pm.data();
    Q.id = Q.id_buf = S.qid.data(); Q.lp = Q.lp_buf = S.qlp.data();
    Q.p = S.qp.data(); Q.match = S.qm.data();
    C.P = S.cP.data(); C.lP = S.clP.data(); C.Q = S.cQ.data(); C.lQ = S.clQ.data();
    C.lM = S.clM.data();
  }

  void run(int64_t r, int64_t end) {
    if (r + kAhead < end) prefetch(r + kAhead);
    int32_t err = load(r);
    if (!err) err = compute(r);
    A.errors[r] = err;
    if (err) put_all(r, kNaN);
  }

 private:
  const TopkArgs& A;
  const Want W;
  Scratch S;
  const bool avx2;          // use the AVX2 kernels
  const bool avx512;        // use the AVX-512 kernels (topk_avx512.cpp; implies avx2)
  const bool dense512;      // rows without padding are loaded and paired by them
  bool row512 = false;      // this row was (no id table then)
  bool vector_cells = false;  // C holds the AVX2 kernel's padded cells
  Side P, Q;
  Cells C;
  Pair pr;
  Tail tp, tq;
  bool rest_logs = false;     // own_rest_log holds log(1 - mass) of P and Q for this row
  double own_rest_log[2] = {0.0, 0.0};
  bool list_vars = false;     // own_list_var holds each list's sum p (lp - mu)^2 (bucket)
  double own_list_var[2] = {0.0, 0.0};

  // Rows are streamed from memory: ask for the inputs of a row a few rows ahead (the hardware
  // prefetchers do not follow four input and up to seventeen output streams well).
  static constexpr int64_t kAhead = 6;
  static void prefetch_side(const TopkSide& s, int64_t r) {
#if defined(__GNUC__) || defined(__clang__)
    const int64_t isz = s.ids64 ? 8 : 4, lsz = s.lp64 ? 8 : 4;
    const char* ids = static_cast<const char*>(s.ids) + r * s.id_stride0 * isz;
    const char* lps = static_cast<const char*>(s.logprobs) + r * s.lp_stride0 * lsz;
    if (s.id_stride1 == 1 && s.lp_stride1 == 1) {
      for (int64_t b = 0; b < s.k * isz; b += 64) __builtin_prefetch(ids + b);
      for (int64_t b = 0; b < s.k * lsz; b += 64) __builtin_prefetch(lps + b);
    }
#else
    (void)s;
    (void)r;
#endif
  }
  void prefetch(int64_t r) const {
    prefetch_side(A.p, r);
    prefetch_side(A.q, r);
  }

  void put(int f, int64_t r, double v) {
    if (A.out[f]) A.out[f][r] = v;
  }
  void put_all(int64_t r, double v) {
    for (int f = 0; f < TK_NUM_FIELDS; ++f) put(f, r, v);
  }

  // The AVX-512 loader takes contiguous int64 / float64 rows of a length the 4-wide kernels
  // can read in place (a multiple of 4) and the 64-lane masks cover.
  static bool dense512_ok(const TopkSide& s) {
#if defined(FP_TOPK_AVX512)
    return s.ids64 && s.lp64 && s.id_stride1 == 1 && s.lp_stride1 == 1 && s.k >= 4 &&
           s.k % 4 == 0 && s.k <= topk_avx512::kMaxK;
#else
    (void)s;
    return false;
#endif
  }

#if defined(FP_TOPK_AVX512)
  // Both rows without padding: checked, paired by id (vector compares, no id table) and
  // exponentiated by the AVX-512 kernels, used in place. Returns false (nothing changed) if a
  // row has padding.
  bool load512(int64_t r, int32_t& err) {
    namespace k5 = topk_avx512;
    const int64_t* pid = static_cast<const int64_t*>(A.p.ids) + r * A.p.id_stride0;
    const double* plp = static_cast<const double*>(A.p.logprobs) + r * A.p.lp_stride0;
    const int64_t* qid = static_cast<const int64_t*>(A.q.ids) + r * A.q.id_stride0;
    const double* qlp = static_cast<const double*>(A.q.logprobs) + r * A.q.lp_stride0;
    const uint64_t lim = A.vocab > 0 ? static_cast<uint64_t>(A.vocab) : uint64_t(1) << 63;
    k5::LoadOut o;
    const int32_t e = k5::load_pair(pid, plp, A.p.k, qid, qlp, A.q.k, lim, P.match, Q.match, P.p, Q.p, o);
    if (e == k5::kHasPadding) return false;
    row512 = true;
    P.id = pid; P.lp = plp; P.n = A.p.k; P.top = o.ptop;
    Q.id = qid; Q.lp = qlp; Q.n = A.q.k; Q.top = o.qtop;
    err = e;
    if (err & ~(TK_ERR_MASS_P | TK_ERR_MASS_Q)) return true;
    for (int64_t i = Q.n; i < Q.n + kPad; ++i) Q.match[i] = -1;
    for (int64_t i = P.n; i < P.n + kPad; ++i) P.match[i] = -1;
    P.mass = o.p.mass; P.s1 = o.p.s1; P.shared = 0.0;
    Q.mass = o.q.mass; Q.s1 = o.q.s1; Q.shared = o.q.shared;
    return true;
  }
#endif

  // Loads, checks, exponentiates and pairs both rows. Returns error bits.
  int32_t load(int64_t r) {
    row512 = false;
#if defined(FP_TOPK_AVX512)
    int32_t e512 = 0;
    if (dense512 && load512(r, e512)) {
      if (A.tail == TAIL_GEOMETRIC) {
        if (P.n >= A.vocab) e512 |= TK_ERR_VOCAB_P;
        if (Q.n >= A.vocab) e512 |= TK_ERR_VOCAB_Q;
      }
      return e512;
    }
#endif
    S.table.next_row();
    int32_t err = load_row_any<false>(A.p, r, A.vocab, P, P, S.table, avx2);
    err |= load_row_any<true>(A.q, r, A.vocab, Q, P, S.table, avx2) << 1;
    if (A.tail == TAIL_GEOMETRIC) {
      if (P.n >= A.vocab) err |= TK_ERR_VOCAB_P;
      if (Q.n >= A.vocab) err |= TK_ERR_VOCAB_Q;
    }
    return err;
  }

  int32_t compute(int64_t r) {
    if (A.tail == TAIL_GEOMETRIC) {
      if (P.n > 0) tp = make_tail(P, A.vocab);
      if (Q.n > 0) tq = make_tail(Q, A.vocab);
      if (P.n > 0 && Q.n > 0 && (W.pair || A.targets)) {
        unmatched_ranks(P, S.rbuf.data(), S.prank.data());
        unmatched_ranks(Q, S.rbuf.data(), S.qrank.data());
      }
    }
    if (A.targets) {
      const int32_t e = targets(r);
      if (e) return e;
    }
    if (W.f[TK_TOP1_AGREE]) {
      double v = kNaN;
      if (P.n > 0 && Q.n > 0) v = P.id[P.top] == Q.id[Q.top] ? 1.0 : 0.0;
      put(TK_TOP1_AGREE, r, v);
    }
    // With the AVX-512 set, bucket: the pairwise pass first, which also takes the logs of both
    // models' rest masses (for the per-model fields) in its vector log of the rest cells.
    rest_logs = list_vars = false;
    const bool pair_first = avx512 && A.tail == TAIL_BUCKET && W.pair;
    if (pair_first) pairwise(r);
    if (W.own_p) own(r, P, tp, TK_ENTROPY_P, TK_VAR_LOGP_P, W.var_p, 0);
    if (W.own_q) own(r, Q, tq, TK_ENTROPY_Q, TK_VAR_LOGQ_Q, W.var_q, 1);
    if (W.pair && !pair_first) pairwise(r);
    return 0;
  }

  // logprob_* and rank_*; checks the targets against the rows.
  int32_t targets(int64_t r) {
    const int64_t t = A.targets[r];
    if (t < 0 || (A.vocab > 0 && t >= A.vocab)) return TK_ERR_TARGET_RANGE;
    int64_t ip, iq;
#if defined(FP_TOPK_AVX512)
    if (row512) {
      ip = topk_avx512::find_id(P.id, P.n, t);
      iq = ip >= 0 ? P.match[ip] : topk_avx512::find_id(Q.id, Q.n, t);
    } else
#endif
    {
      const IdTable::Slot* slot = S.table.lookup(t);
      ip = slot ? slot->pi : -1;
      iq = slot ? slot->qi : -1;
    }
    int32_t err = 0;
    const double lp = target_logprob(r, A.p, P, ip, iq, tp, S.qrank.data(), TK_ERR_TARGET_P, err);
    const double lq = target_logprob(r, A.q, Q, iq, ip, tq, S.prank.data(), TK_ERR_TARGET_Q, err);
    if (err) return err;
    put(TK_LOGPROB_P, r, lp);
    put(TK_LOGPROB_Q, r, lq);
    put(TK_RANK_P, r, rank(P, lp));
    put(TK_RANK_Q, r, rank(Q, lq));
    return 0;
  }

  // The target's log-prob under model `s`: from its row (index i), else the given one, else
  // (geometric) the extrapolated tail value at the rank the target gets in s's tail because it
  // is in the other row (index io, whose unmatched ranks are `orank`), else NaN.
  double target_logprob(int64_t r, const TopkSide& side, const Side& s, int64_t i, int64_t io,
                        const Tail& tail, const int64_t* orank, int32_t bit, int32_t& err) {
    const double given = side.target_logprobs ? side.target_logprobs[r] : kNaN;
    if (i >= 0) {
      const double v = s.lp[i];
      if (!std::isnan(given) && !(given == v || std::fabs(given - v) <= kTopkTargetTol)) err |= bit;
      return v;
    }
    if (!std::isnan(given)) return given;
    if (A.tail == TAIL_GEOMETRIC && io >= 0 && s.n > 0) return tail_log(tail, orank[io]);
    return kNaN;
  }

  double rank(const Side& s, double lp) const {
    if (s.n == 0 || std::isnan(lp)) return kNaN;
#if defined(FP_TOPK_AVX2)
    if (avx2) return static_cast<double>(count_above_avx2(s.lp, s.n, lp) + 1);
#endif
    int64_t c = 0;
    for (int64_t i = 0; i < s.n; ++i) c += s.lp[i] > lp;
    return static_cast<double>(c + 1);
  }

  // Per-model fields: the model's own list plus, by policy, a rest bucket, nothing, a
  // renormalisation, or the extrapolated geometric tail.
  void own(int64_t r, const Side& s, const Tail& tail, int fh, int fv, bool want_var, int side) {
    double h = kNaN, var = kNaN;
    if (s.n > 0) {
      const double* w = s.p;
      const double* l = s.lp;
      double mu = s.s1, xm = 0.0, xmu = 0.0, xs2 = 0.0;  // the extra component, as in own_var
      bool ok = true;
      switch (A.tail) {
        case TAIL_BUCKET:
          xm = clamp0(1.0 - s.mass);
          if (xm > 0) {
            xmu = rest_logs ? own_rest_log[side] : log_pos(xm);
            mu += xm * xmu;
          }
          break;
        case TAIL_IGNORE:
          break;
        case TAIL_RENORMALIZE: {
          if (!(s.mass > 0)) { ok = false; break; }
          const double lz = log_pos(s.mass);
          for (int64_t i = 0; i < s.n; ++i) {
            C.P[i] = s.p[i] / s.mass;
            C.lP[i] = s.lp[i] - lz;
          }
          w = C.P;
          l = C.lP;
          mu = own_mean(w, l, s.n, 0.0, 0.0);
          break;
        }
        default:  // geometric
          if (tail.logc != -kInf) {
            xm = std::exp(tail.logc) * geo_s0(tail.x, tail.T);
            xmu = tail.logc - tail.x * geo_mean(tail.x, tail.T);
            xs2 = tail.x * tail.x * geo_var(tail.x, tail.T);
            if (xm > 0) mu += xm * xmu;
          }
          break;
      }
      if (ok) {
        h = A.tail == TAIL_IGNORE ? -mu : clamp0(-mu);
        if (want_var) {
#if defined(FP_TOPK_AVX2)
          if (list_vars && A.tail == TAIL_BUCKET) {  // summed by the AVX-512 pairwise pass
            var = own_list_var[side];
            if (xm > 0) { const double d = xmu - mu; var += xm * (d * d + xs2); }
          } else if (avx2 && w == s.p) {  // the padded row
            var = own_var_avx2(w, l, s.n, mu);
            if (xm > 0) { const double d = xmu - mu; var += xm * (d * d + xs2); }
          } else {
            var = own_var(w, l, s.n, mu, xm, xmu, xs2);
          }
#else
          var = own_var(w, l, s.n, mu, xm, xmu, xs2);
#endif
        }
      }
    }
    put(fh, r, h);
    if (want_var) put(fv, r, var);
  }

  void pairwise(int64_t r) {
    pr = Pair();
    C.n = 0;
    vector_cells = false;
    bool ok = P.n > 0 && Q.n > 0, var_done = false;
    if (ok) {
      switch (A.tail) {
        case TAIL_BUCKET: var_done = pair_shared(true); break;
        case TAIL_IGNORE: var_done = pair_shared(false); break;
        case TAIL_RENORMALIZE: ok = pair_renormalized(); break;
        default: pair_geometric(); break;
      }
    }
    if (!ok) {
      for (int f : {TK_CE_PQ, TK_CE_QP, TK_KL_PQ, TK_KL_QP, TK_JS, TK_TV, TK_VAR_LOGQ_P, TK_VAR_LOGP_Q})
        put(f, r, kNaN);
      return;
    }
    double v_qp = kNaN, v_pq = kNaN;
    if (W.pair_var) {
      const double mu_qp = -pr.ce_pq, mu_pq = -pr.ce_qp;
#if defined(FP_TOPK_AVX2)
      if (var_done) {
      } else if (vector_cells) pair_var_avx2(C, C.n, mu_qp, mu_pq, pr);
      else pr.add_var(C, mu_qp, mu_pq);
#else
      pr.add_var(C, mu_qp, mu_pq);
#endif
      if (A.tail == TAIL_GEOMETRIC) geo_tail_var(mu_qp, mu_pq);
      v_qp = pr.ce_pq == kInf ? kInf : pr.v_qp;
      v_pq = pr.ce_qp == kInf ? kInf : pr.v_pq;
    }
    if (A.tail == TAIL_IGNORE) {
      put(TK_KL_PQ, r, pr.kl_pq);
      put(TK_KL_QP, r, pr.kl_qp);
      put(TK_CE_PQ, r, pr.ce_pq);
      put(TK_CE_QP, r, pr.ce_qp);
      put(TK_TV, r, 0.5 * pr.tv);
      put(TK_JS, r, pr.js);
    } else {
      put(TK_KL_PQ, r, clamp0(pr.kl_pq));
      put(TK_KL_QP, r, clamp0(pr.kl_qp));
      put(TK_CE_PQ, r, clamp0(pr.ce_pq));
      put(TK_CE_QP, r, clamp0(pr.ce_qp));
      put(TK_TV, r, clamp_range(0.5 * pr.tv, 1.0));
      put(TK_JS, r, clamp_range(pr.js, kLn2));
    }
    put(TK_VAR_LOGQ_P, r, v_qp);
    put(TK_VAR_LOGP_Q, r, v_pq);
  }

  // The shared ids in P's row order, plus (bucket) one rest cell per model of mass
  // max(0, 1 - shared mass). The cells are kept for the second moments, unless the AVX-512
  // kernel did everything in registers (returns true: pr holds the second moments too).
  bool pair_shared(bool rest) {
#if defined(FP_TOPK_AVX512)
    topk_avx512::PairOut o;
    const topk_avx512::OwnSums own{P.mass, Q.mass, P.s1, Q.s1, W.var_p || W.var_q};
    if (avx512 && topk_avx512::pair_fused(P.p, P.lp, P.match, P.n, Q.p, Q.lp, Q.n, own, rest, W.js,
                                          W.pair_var, o)) {
      pr.kl_pq = o.kl_pq; pr.kl_qp = o.kl_qp; pr.ce_pq = o.ce_pq; pr.ce_qp = o.ce_qp;
      pr.tv = o.tv; pr.js = o.js; pr.v_qp = o.v_qp; pr.v_pq = o.v_pq;
      own_rest_log[0] = o.own_log_p;
      own_rest_log[1] = o.own_log_q;
      own_list_var[0] = o.own_var_p;
      own_list_var[1] = o.own_var_q;
      rest_logs = true;
      list_vars = rest && own.want_var;
      return true;
    }
#endif
#if defined(FP_TOPK_AVX2)
    if (avx2) {
      double mp, mq = Q.shared;
      bool ok;
#if defined(FP_TOPK_AVX512)
      if (avx512) {
        const topk_avx512::PairSums s =
            topk_avx512::pair_shared(P.p, P.lp, P.match, P.n, Q.p, Q.lp, Q.n, W.js, C.P, C.lP, C.Q,
                                     C.lQ);
        pr.kl_pq = s.kl_pq; pr.kl_qp = s.kl_qp; pr.ce_pq = s.ce_pq; pr.ce_qp = s.ce_qp;
        pr.tv = s.tv; pr.js = s.js;
        mp = s.mp;
        mq = s.mq;
        if (rest) {  // the logs of the rest cell and of both models' own rest masses, at once
          const double rp = clamp0(1.0 - mp), rq = clamp0(1.0 - mq);
          alignas(64) double x[8] = {rp, rq, rp + rq, clamp0(1.0 - P.mass), clamp0(1.0 - Q.mass),
                                     1.0, 1.0, 1.0};
          alignas(64) double y[8];
          topk_avx512::log8(x, y);
          own_rest_log[0] = y[3];
          own_rest_log[1] = y[4];
          rest_logs = true;
          const int64_t n = (P.n + 3) & ~int64_t(3);
          for (int64_t i = n; i < n + kPad; ++i) C.P[i] = C.Q[i] = 0.0;
          if (rp > 0 || rq > 0) {
            pr.add(rp, y[0], rq, y[1]);
            if (W.js) pr.js += js_cell(rp, rq, y[0], y[1], y[2] - kLn2);
            C.P[n] = rp; C.lP[n] = y[0]; C.Q[n] = rq; C.lQ[n] = y[1];
          }
          C.n = n + kPad;
          vector_cells = true;
          return false;
        }
        ok = true;
      } else
#endif
      ok = pair_shared_avx2(P, Q, C, W.js, pr, mp);
      if (ok) {
        // cells: P's entries padded to a multiple of 4, then the rest cell padded likewise
        int64_t n = (P.n + 3) & ~int64_t(3);
        for (int64_t i = n; i < n + kPad; ++i) C.P[i] = C.Q[i] = 0.0;
        const double rp = clamp0(1.0 - mp), rq = clamp0(1.0 - mq);
        if (rest && (rp > 0 || rq > 0)) {
          const double lrp = log_pos(rp), lrq = log_pos(rq);
          pr.add(rp, lrp, rq, lrq);
          if (W.js) pr.js += js_cell(rp, rq, lrp, lrq);
          C.P[n] = rp; C.lP[n] = lrp; C.Q[n] = rq; C.lQ[n] = lrq;
        }
        C.n = n + kPad;
        vector_cells = true;
        return false;
      }
      pr = Pair();  // a subnormal mixture: the scalar kernel below
      C.n = 0;
    }
#endif
    double mp = 0.0;
    for (int64_t i = 0; i < P.n; ++i) {
      const int32_t j = P.match[i];
      if (j < 0) continue;
      C.push(P.p[i], P.lp[i], Q.p[j], Q.lp[j]);
      mp += P.p[i];
    }
    if (rest) {
      const double rp = clamp0(1.0 - mp), rq = clamp0(1.0 - Q.shared);
      if (rp > 0 || rq > 0) C.push(rp, log_pos(rp), rq, log_pos(rq));
    }
    pr.add_all(C, W.js);
    return false;
  }

  // P and Q conditioned on the shared ids (NaN when a shared mass is 0).
  bool pair_renormalized() {
    double mp = 0.0;
    for (int64_t i = 0; i < P.n; ++i) {
      const int32_t j = P.match[i];
      if (j < 0) continue;
      C.push(P.p[i], P.lp[i], Q.p[j], Q.lp[j]);
      mp += P.p[i];
    }
    const double mq = Q.shared;
    if (C.n == 0 || !(mp > 0) || !(mq > 0)) return false;
    const double lzp = log_pos(mp), lzq = log_pos(mq);
    for (int64_t i = 0; i < C.n; ++i) {
      C.P[i] /= mp;
      C.lP[i] -= lzp;
      C.Q[i] /= mq;
      C.lQ[i] -= lzq;
    }
    pr.add_all(C, W.js);
    return true;
  }

  // Union of both lists: an id missing from one model's list takes that model's next tail rank,
  // in the order of the other model's log-probabilities; then the remaining tails, paired.
  void pair_geometric() {
    const int64_t* prank = S.prank.data();  // P entries absent from Q: ranks in Q's tail
    const int64_t* qrank = S.qrank.data();  // Q entries absent from P: ranks in P's tail
    for (int64_t i = 0; i < P.n; ++i) {
      const int32_t j = P.match[i];
      if (j >= 0) {
        C.push(P.p[i], P.lp[i], Q.p[j], Q.lp[j]);
      } else {
        const double lq = tail_log(tq, prank[i]);
        C.push(P.p[i], P.lp[i], std::exp(lq), lq);
      }
    }
    for (int64_t j = 0; j < Q.n; ++j) {
      if (Q.match[j] >= 0) continue;
      const double lp = tail_log(tp, qrank[j]);
      C.push(std::exp(lp), lp, Q.p[j], Q.lp[j]);
    }
    pr.add_all(C, W.js);
    geo_tail();
  }

  // The tails left after the union, paired rank by rank: P's ranks used_p+1.., Q's used_q+1..
  struct GeoPair {
    int64_t L = 0;
    double a = -kInf, b = -kInf;  // log of the last tail values used (remaining: a - x i)
    double mass_p = 0, mass_q = 0, m_p = 0, m_q = 0, v_p = 0, v_q = 0;
  } g;

  void geo_tail() {
    g = GeoPair();
    int64_t used_p = 0, used_q = 0;  // tail ranks taken by ids of the other list
    for (int64_t j = 0; j < Q.n; ++j) used_p += Q.match[j] < 0;
    for (int64_t i = 0; i < P.n; ++i) used_q += P.match[i] < 0;
    g.L = A.vocab - (P.n + used_p);
    if (g.L <= 0) return;
    const double xp = tp.x, xq = tq.x;
    g.a = tail_log(tp, used_p);
    g.b = tail_log(tq, used_q);
    if (g.a != -kInf) {
      g.mass_p = std::exp(g.a) * geo_s0(xp, g.L);
      g.m_p = geo_mean(xp, g.L);
      g.v_p = geo_var(xp, g.L);
    }
    if (g.b != -kInf) {
      g.mass_q = std::exp(g.b) * geo_s0(xq, g.L);
      g.m_q = geo_mean(xq, g.L);
      g.v_q = geo_var(xq, g.L);
    }
    // log of the remaining values: P_i = a - xp i, Q_i = b - xq i, i = 1..L
    if (g.mass_p > 0) {
      if (g.b == -kInf) {
        pr.kl_pq = kInf;
        pr.ce_pq = kInf;
      } else {
        pr.kl_pq += g.mass_p * ((g.a - g.b) - (xp - xq) * g.m_p);
        pr.ce_pq -= g.mass_p * (g.b - xq * g.m_p);
      }
    }
    if (g.mass_q > 0) {
      if (g.a == -kInf) {
        pr.kl_qp = kInf;
        pr.ce_qp = kInf;
      } else {
        pr.kl_qp += g.mass_q * ((g.b - g.a) - (xq - xp) * g.m_q);
        pr.ce_qp -= g.mass_q * (g.a - xp * g.m_q);
      }
    }
    if (!(g.mass_p > 0 || g.mass_q > 0)) return;
    if (xp == xq || !(g.mass_p > 0) || !(g.mass_q > 0)) {
      // constant ratio P_i / Q_i (or one side zero): the sums reduce to one cell
      pr.tv += std::fabs(g.mass_p - g.mass_q);
      if (W.js)
        pr.js += js_cell(g.mass_p, g.mass_q, g.mass_p > 0 ? std::log(g.mass_p) : -kInf,
                         g.mass_q > 0 ? std::log(g.mass_q) : -kInf);
      return;
    }
    const int64_t stop = std::max(tail_stop(g.a, xp, g.L), tail_stop(g.b, xq, g.L));
    const double rp = std::exp(-xp), rq = std::exp(-xq);
    double Pi = 0.0, Qi = 0.0, tv = 0.0, js = 0.0;
    for (int64_t i = 1; i <= stop; ++i) {
      const double di = static_cast<double>(i);
      const double lPi = g.a - xp * di, lQi = g.b - xq * di;
      if ((i & 31) == 1) {  // refresh the running products every 32 ranks
        Pi = std::exp(lPi);
        Qi = std::exp(lQi);
      } else {
        Pi *= rp;
        Qi *= rq;
      }
      tv += std::fabs(Pi - Qi);
      if (W.js) js += js_cell(Pi, Qi, lPi, lQi);
    }
    pr.tv += tv;
    pr.js += js;
  }

  void geo_tail_var(double mu_qp, double mu_pq) {
    if (g.mass_p > 0 && g.b != -kInf) {
      const double d = g.b - tq.x * g.m_p - mu_qp;
      pr.v_qp += g.mass_p * (d * d + tq.x * tq.x * g.v_p);
    }
    if (g.mass_q > 0 && g.a != -kInf) {
      const double d = g.a - tp.x * g.m_q - mu_pq;
      pr.v_pq += g.mass_q * (d * d + tp.x * tp.x * g.v_q);
    }
  }
};

}  // namespace

// ---- geometric series -----------------------------------------------------------------------

double geo_s0(double x, int64_t L) {
  if (L <= 0) return 0.0;
  if (x == 0.0) return static_cast<double>(L);
  return -std::expm1(-x * static_cast<double>(L)) / std::expm1(x);
}

// Mean of j under weights e^{-xj}, j = 1..L: 1/(1 - e^{-x}) - L/(e^{xL} - 1). For u = xL < 0.1
// the two terms cancel; their Bernoulli series, (1+L)/2 + x(1-L^2)/12 - x^3(1-L^4)/720 + ...,
// is used instead (truncation error below 1e-16 relative).
double geo_mean(double x, int64_t L) {
  const double l = static_cast<double>(L), u = x * l;
  if (u < 0.1) {
    const double x2 = x * x, l2 = l * l;
    const double l4 = l2 * l2, l6 = l4 * l2, l8 = l4 * l4;
    return 0.5 * (1.0 + l) + x * ((1.0 - l2) / 12.0 - x2 * ((1.0 - l4) / 720.0 -
           x2 * ((1.0 - l6) / 30240.0 - x2 * (1.0 - l8) / 1209600.0)));
  }
  return -1.0 / std::expm1(-x) - l / std::expm1(u);
}

// Variance of j under the same weights: 1/(4 sinh^2(x/2)) - L^2/(4 sinh^2(u/2)); for u < 0.1 its
// series (L^2-1)/12 - x^2(L^4-1)/240 + x^4(L^6-1)/6048 - x^6(L^8-1)/172800 + x^8(L^10-1)/5322240.
double geo_var(double x, int64_t L) {
  const double l = static_cast<double>(L), u = x * l;
  if (u < 0.1) {
    const double x2 = x * x, l2 = l * l;
    const double l4 = l2 * l2, l6 = l4 * l2, l8 = l4 * l4, l10 = l8 * l2;
    return (l2 - 1.0) / 12.0 - x2 * ((l4 - 1.0) / 240.0 - x2 * ((l6 - 1.0) / 6048.0 -
           x2 * ((l8 - 1.0) / 172800.0 - x2 * (l10 - 1.0) / 5322240.0)));
  }
  const double a = 2.0 * std::sinh(0.5 * x), b = 2.0 * std::sinh(0.5 * u);
  return 1.0 / (a * a) - (l / b) * (l / b);
}

// log S0(x) is convex and decreasing in x with derivative -mean(x), so Newton's method started
// left of the root climbs to it monotonically; a bracket guards against rounding.
double geo_solve(double rho, int64_t L) {
  const double target = std::log(rho);
  double lo = 0.0, hi = std::log1p(1.0 / rho);  // S0(hi) <= 1/expm1(hi) = rho
  double x = 0.0;
  for (int it = 0; it < 200; ++it) {
    const double f = std::log(geo_s0(x, L)) - target;
    if (f > 0) lo = x;
    else if (f < 0) hi = x;
    else return x;
    double nx = x + f / geo_mean(x, L);
    if (!(nx > lo && nx < hi)) nx = lo + 0.5 * (hi - lo);
    if (nx == x || hi - lo <= 4.0 * std::numeric_limits<double>::epsilon() * hi) {
      x = nx;
      break;
    }
    x = nx;
  }
  return x;
}

void topk_panel(const TopkArgs& args, int num_threads) {
  const int level = simd_level();
  // ranges of 4096 rows (a few MB of input) to whichever thread is free: every row depends only
  // on its own inputs, so the results do not depend on the schedule
  parallel_for_chunks(args.n, num_threads, 4096, [&](int64_t b, int64_t e) {
    RowKernel k(args, level);
    for (int64_t r = b; r < e; ++r) k.run(r, e);
  });
}

}  // namespace fp
