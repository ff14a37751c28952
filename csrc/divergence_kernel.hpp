// The dense divergence row kernel, written once against the vector interface `V`
// (simd_generic.hpp, simd_avx2.hpp, simd_avx512.hpp). Included inside namespace fp::<isa> by
// each divergence_<isa>.cpp, after `V` is defined, so every symbol is ISA-specific.
//
// Per row, one sweep over memory, chunk by chunk (online maximum, as in flash attention):
//   A  max of p and q, NaN/+inf detection, rank counts (tokens strictly above the target);
//   B  sums of exp(x - max) and of the first moments that give entropy, KL and cross-entropy,
//      rescaled when a maximum rises (A and B fused; see "Sweep A+B" below);
//   C  (only for JS, TV and the variances) a second sweep over the normalised distributions.
// Exponentials and products are computed in float32; each term is accumulated in float32 over
// blocks of BLK vectors and then into float64 accumulators (relative error ~1e-7 per sum).
// Terms where the weighting probability is exactly zero are masked (careful path), so -inf
// logits are allowed.

#ifndef FP_ALWAYS_INLINE
#if defined(__GNUC__) || defined(__clang__)
#define FP_ALWAYS_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define FP_ALWAYS_INLINE __forceinline
#else
#define FP_ALWAYS_INLINE inline
#endif
#endif
// The same for a lambda (after its parameter list): fast_chunk's per-vector lambdas, which GCC
// left out of line for bfloat16 rows in the full first sweep with rank counts, reloading its
// captures from memory (35 cycles per 16 pairs against 24 inlined).
#ifndef FP_LAMBDA_INLINE
#if defined(__GNUC__) || defined(__clang__)
#define FP_LAMBDA_INLINE __attribute__((always_inline))
#else
#define FP_LAMBDA_INLINE
#endif
#endif

namespace {

constexpr int64_t BLK = 32;
using F = V::F;
using M = V::M;

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// True if every value is finite: x - x is 0 for finite x and NaN for NaN or +-inf.
template <class... T>
inline bool all_finite(T... v) {
  return (0.0 + ... + (v - v)) == 0.0;
}

template <class T>
inline F load_tail(const T* x, int64_t n) {
  alignas(64) float buf[V::W];
  for (int64_t k = 0; k < V::W; ++k) buf[k] = k < n ? to_float(x[k]) : -INFINITY;
  return V::load(static_cast<const float*>(buf));
}

// Tells a sweep body whether its vectors are full (true) or the row's tail padded with -inf.
template <bool FULL>
struct Part {
  static constexpr bool full = FULL;
};

// Software prefetch, PREFETCH_BYTES ahead of the vector being read, one per 64-byte line of
// each row. The hardware prefetchers alone leave a core's memory stream short of its bandwidth
// when each line takes many cycles of arithmetic (seen on an Intel Xeon: float16 rows read at a
// third of the float32 rate); a prefetch past the end of an array is harmless.
constexpr int64_t PREFETCH_BYTES = 2048;
// Prefetches the lines of x[0, n) PREFETCH_BYTES ahead.
template <int64_t n, class T>
FP_ALWAYS_INLINE void prefetch_ahead(const T* x) {
#if defined(__GNUC__) || defined(__clang__)
  const char* c = reinterpret_cast<const char*>(x) + PREFETCH_BYTES;
  for (int64_t b = 0; b < n * int64_t(sizeof(T)); b += 64) __builtin_prefetch(c + b);
#else
  (void)x;
#endif
}

// Calls fn(x, y) on the vectors of elements [i, end) of both rows (end - i a multiple of W),
// prefetching ahead: a step covers one 64-byte line of the narrower row. With PAIRS, two
// bfloat16 rows are read two vectors per load, in the same lane order for both rows (which is
// all the sums, maxima and counts need): fewer operations, but four vectors live at once, which
// pays only where the body keeps few accumulators (KL(P||Q) alone: 11% faster; with the seven
// sums of the full first sweep it ran 25% slower on an Intel Xeon).
template <bool PAIRS = false, class TP, class TQ, class Fn>
FP_ALWAYS_INLINE void each_vector(const TP* xp, const TQ* xq, int64_t i, int64_t end, Fn&& fn) {
  constexpr int64_t narrow = sizeof(TP) < sizeof(TQ) ? sizeof(TP) : sizeof(TQ);
  constexpr int64_t step = 64 / narrow;  // elements per step, a multiple of W
  static_assert(step % V::W == 0, "a step is whole vectors");
  constexpr bool both_bf16 =
      PAIRS && std::is_same<TP, bf16_t>::value && std::is_same<TQ, bf16_t>::value;
  for (; i + step <= end; i += step) {
    prefetch_ahead<step>(xp + i);
    prefetch_ahead<step>(xq + i);
    if constexpr (both_bf16 && step % (2 * V::W) == 0) {
      for (int64_t k = 0; k < step; k += 2 * V::W) {
        F x0, x1, y0, y1;
        V::load2_any_order(xp + i + k, x0, x1);
        V::load2_any_order(xq + i + k, y0, y1);
        fn(x0, y0);
        fn(x1, y1);
      }
    } else {
      for (int64_t k = 0; k < step; k += V::W) fn(V::load(xp + i + k), V::load(xq + i + k));
    }
  }
  for (; i < end; i += V::W) fn(V::load(xp + i), V::load(xq + i));
}

// Calls body(Part<true>, a, b) on every full vector of the two rows, body(Part<false>, a, b) on
// the tail (padded with -inf), and flush() after every block of BLK vectors and after the tail.
template <class TP, class TQ, class Body, class Flush>
inline void sweep(const TP* xp, const TQ* xq, int64_t n, Body&& body, Flush&& flush) {
  const int64_t nfull = n - n % V::W;
  int64_t i = 0;
  while (i < nfull) {
    const int64_t end = imin(nfull, i + V::W * BLK);
    each_vector(xp, xq, i, end, [&](F x, F y) { body(Part<true>{}, x, y); });
    i = end;
    flush();
  }
  if (n > nfull) {
    body(Part<false>{}, load_tail(xp + nfull, n - nfull), load_tail(xq + nfull, n - nfull));
    flush();
  }
}

// Sweep A+B: per row the maxima, NaN/+inf checks, rank counts (tokens strictly above the
// target) and the sums relative to the running maxima (a = x_p - max_p, b = x_q - max_q)
//   sp = sum e^a, dq = sum (e^b - e^a), d1 = sum e^a (a - b)
//   with SUMS == 2 also sq = sum e^b, d2 = sum e^b (b - a), e1 = sum e^a a, e2 = sum e^b b,
// rescaled when a later chunk raises a maximum (online log-sum-exp, as in flash attention).
//
// The row is read from memory once, in chunks of CHUNK elements. The fast path takes a chunk's
// full vectors in one sweep, block by block: the block's maxima (and rank counts) beside its
// sums, with no range handling and no masks; a block that raises a maximum is redone relative
// to it, so every exponent is <= 0. The chunk's sums are kept only if every one is finite: NaN
// or +-inf in x makes e^a (a - b) NaN or infinite whatever e^a is (and where V's exponential is
// right only on a range, every input must lie within 80 of its maximum). Otherwise, and for the
// row's last partial vector, the careful path redoes the chunk: maxima, NaN/+inf checks and rank
// counts, then the sums masking -inf and underflow. So the careful path decides every special
// case.
//
// Terms are summed in float32 over blocks of BLK vectors, then in float64, so that the float32
// roundings cannot swamp a small result:
//  - terms e^a equal to 1 (the maxima) are counted apart, exactly: next to a 1, the small terms
//    of a peaked row would lose about 6e-8 each, which dominates its entropy;
//  - KL uses log(sq / sp) = log1p(dq / sp): where P and Q are close each e^b - e^a is (nearly)
//    exact and small, so dq is accurate where sq - sp would be a difference of rounded sums.
constexpr int64_t CHUNK = 2048;

struct PassAB {
  float mp = -INFINITY, mq = -INFINITY;  // running maxima: the references of the sums
  bool bad_p = false, bad_q = false;
  int64_t above_p = 0, above_q = 0;
  // A token with a finite logit under one model and -inf under the other: the first model puts
  // positive probability where the second has none, so KL/cross-entropy towards the second are
  // +inf however small that probability is (its float32 exponential may underflow to 0).
  bool only_p = false, only_q = false;
  float np = INFINITY, nq = INFINITY;  // minima over full vectors (tracked where !V::kExpTotal)
  bool clean = false;  // every full vector has x - max >= -80 (meaningful where !V::kExpTotal)
  double sp = 0, sq = 0, dq = 0, d1 = 0, d2 = 0, e1 = 0, e2 = 0;
};

// Raises the maxima to (at least) cmp, cmq, rescaling the sums. While a model has seen only
// -inf its sums are 0 and the other model's cross terms are 0 or +inf, which no shift changes:
// its shift is taken as 0.
inline void raise_max(PassAB& r, float cmp, float cmq) {
  if (!(cmp > r.mp || cmq > r.mq)) return;
  const double dp = (cmp > r.mp && r.mp != -INFINITY) ? double(cmp) - double(r.mp) : 0.0;
  const double dq = (cmq > r.mq && r.mq != -INFINITY) ? double(cmq) - double(r.mq) : 0.0;
  const double fp_ = std::exp(-dp), fq_ = std::exp(-dq);
  r.d1 = fp_ * (r.d1 + (dq - dp) * r.sp);
  r.d2 = fq_ * (r.d2 + (dp - dq) * r.sq);
  r.e1 = fp_ * (r.e1 - dp * r.sp);
  r.e2 = fq_ * (r.e2 - dq * r.sq);
  r.dq = fq_ * r.dq + (fq_ - fp_) * r.sp;  // fq sq - fp sp, exactly 0 while sq = sp, fq = fp
  r.sp *= fp_;
  r.sq *= fq_;
  if (cmp > r.mp) r.mp = cmp;
  if (cmq > r.mq) r.mq = cmq;
}

// Block and chunk accumulators of the sums. add() takes one vector of logits; MASKED handles
// -inf (e^a = 0 must not multiply an infinite a - b) and records one-sided support.
template <int SUMS>
struct Sums {
  F sp, sq, dq, d1, d2, e1, e2;  // float32 block sums
  V::D Dsp, Dsq, Ddq, Dd1, Dd2, De1, De2;
  int64_t ones_p = 0, ones_q = 0;  // terms e^a, e^b equal to 1, kept out of sp, sq (EXCL)
  M only_p = V::none(), only_q = V::none();
  F vmp, vmq;
  Sums(float mp, float mq)  // a model with only -inf so far has a zero shift
      : vmp(V::set1(mp == -INFINITY ? 0.f : mp)), vmq(V::set1(mq == -INFINITY ? 0.f : mq)) {
    sp = sq = dq = d1 = d2 = e1 = e2 = V::zero();
    Dsp = Dsq = Ddq = Dd1 = Dd2 = De1 = De2 = V::dzero();
  }
  // EXCL keeps the terms equal to 1 out of the float32 sums of sp, sq and counts them instead.
  template <bool MASKED, bool EXCL>
  FP_ALWAYS_INLINE void add(F x, F y) {
    const F one = V::set1(1.0f);
    const F a = V::sub(x, vmp), b = V::sub(y, vmq);
    const F ea = MASKED ? V::exp(a) : V::exp_fast(a);
    const F eb = MASKED ? V::exp(b) : V::exp_fast(b);
    const F ab = V::sub(a, b);
    dq = V::add(dq, V::sub(eb, ea));
    if (EXCL) {
      const M lp = V::lt(ea, one);  // NaN counts as a one: its row fails anyway
      sp = V::add_if(lp, sp, ea);
      ones_p += V::W - V::count(lp);
      if (SUMS == 2) {
        const M lq = V::lt(eb, one);
        sq = V::add_if(lq, sq, eb);
        ones_q += V::W - V::count(lq);
      }
    } else {
      sp = V::add(sp, ea);
      if (SUMS == 2) sq = V::add(sq, eb);
    }
    if (!MASKED) {
      d1 = V::fmadd(ea, ab, d1);
      if (SUMS == 2) {
        d2 = V::fnmadd(eb, ab, d2);
        e1 = V::fmadd(ea, a, e1);
        e2 = V::fmadd(eb, b, e2);
      }
    } else {
      const F zero = V::zero(), ninf = V::set1(-INFINITY);
      const M fx = V::gt(x, ninf), fy = V::gt(y, ninf);  // finite logits (a pad is -inf)
      only_p = V::mor(only_p, V::mand(fx, V::eq(y, ninf)));
      only_q = V::mor(only_q, V::mand(fy, V::eq(x, ninf)));
      const M ma = V::gt(ea, zero);
      d1 = V::add(d1, V::keep(ma, V::mul(ea, ab)));
      if (SUMS == 2) {
        const M mb = V::gt(eb, zero);
        d2 = V::sub(d2, V::keep(mb, V::mul(eb, ab)));
        e1 = V::add(e1, V::keep(ma, V::mul(ea, a)));
        e2 = V::add(e2, V::keep(mb, V::mul(eb, b)));
      }
    }
  }
  // Forgets the current block's float32 sums (its counted ones are the caller's to undo).
  FP_ALWAYS_INLINE void drop_block() { sp = sq = dq = d1 = d2 = e1 = e2 = V::zero(); }
  FP_ALWAYS_INLINE void flush() {
    const F zero = V::zero();
    V::acc(Dsp, sp); V::acc(Ddq, dq); V::acc(Dd1, d1);
    sp = dq = d1 = zero;
    if (SUMS == 2) {
      V::acc(Dsq, sq); V::acc(Dd2, d2); V::acc(De1, e1); V::acc(De2, e2);
      sq = d2 = e1 = e2 = zero;
    }
  }
  // Adds the flushed totals to r; false if any is not finite.
  FP_ALWAYS_INLINE bool commit(PassAB& r) const {
    double t[7] = {V::hsum(Dsp) + double(ones_p), V::hsum(Ddq), V::hsum(Dd1), 0, 0, 0, 0};
    if (SUMS == 2) {
      t[3] = V::hsum(Dsq) + double(ones_q);
      t[4] = V::hsum(Dd2);
      t[5] = V::hsum(De1);
      t[6] = V::hsum(De2);
    }
    r.sp += t[0]; r.dq += t[1]; r.d1 += t[2];
    r.sq += t[3]; r.d2 += t[4]; r.e1 += t[5]; r.e2 += t[6];
    return all_finite(t[0], t[1], t[2], t[3], t[4], t[5], t[6]);
  }
};

// Careful path over one chunk (see above).
template <bool RANK, int SUMS, class TP, class TQ>
inline void careful_chunk(const TP* cp, const TQ* cq, int64_t len, float tp, float tq, PassAB& r) {
  M badp = V::none(), badq = V::none();
  const F inf = V::set1(INFINITY), vtp = V::set1(tp), vtq = V::set1(tq);
  F vmp = V::set1(-INFINITY), vmq = V::set1(-INFINITY);
  F vnp = V::set1(INFINITY), vnq = V::set1(INFINITY);
  sweep(cp, cq, len,
        [&](auto part, F a, F b) {
          vmp = V::max(a, vmp);  // a NaN lane keeps the running max; NaN is caught by not_lt
          vmq = V::max(b, vmq);
          if (SUMS && decltype(part)::full) {  // the tail's padding is not data
            vnp = V::min(a, vnp);
            vnq = V::min(b, vnq);
          }
          badp = V::mor(badp, V::not_lt(a, inf));
          badq = V::mor(badq, V::not_lt(b, inf));
          if (RANK) {
            r.above_p += V::count(V::gt(a, vtp));
            r.above_q += V::count(V::gt(b, vtq));
          }
        },
        [] {});
  r.bad_p = r.bad_p || V::any(badp);
  r.bad_q = r.bad_q || V::any(badq);
  const float cmp = V::hmax(vmp), cmq = V::hmax(vmq);
  if (SUMS == 0) {
    if (cmp > r.mp) r.mp = cmp;
    if (cmq > r.mq) r.mq = cmq;
    return;
  }
  raise_max(r, cmp, cmq);
  // A chunk is clean when every x - max >= -80: no -inf and no underflow, so the exponentials
  // need no range handling and no term needs masking (its padded tail is masked all the same).
  const float cnp = V::hmin(vnp), cnq = V::hmin(vnq);
  const bool clean = double(cnp) - r.mp >= -80.0 && double(cnq) - r.mq >= -80.0;
  Sums<SUMS> s(r.mp, r.mq);
  auto flush = [&] { s.flush(); };
  if (clean) {
    sweep(cp, cq, len,
          [&](auto part, F x, F y) { s.template add<!decltype(part)::full, true>(x, y); }, flush);
  } else {
    sweep(cp, cq, len, [&](auto, F x, F y) { s.template add<true, true>(x, y); }, flush);
  }
  s.commit(r);
  r.only_p = r.only_p || V::any(s.only_p);
  r.only_q = r.only_q || V::any(s.only_q);
  if (cnp < r.np) r.np = cnp;
  if (cnq < r.nq) r.nq = cnq;
}

// Fast path over the nv full vectors of a chunk (see above): one sweep, block by block, with
// the block's maxima (and rank counts, and minima where V's exponential needs a range) beside
// the unmasked sums. A block that raises a maximum is redone relative to it (what the chunk
// summed so far is first folded into r and rescaled), so every exponent is <= 0; a block that
// holds a maximum is redone keeping its ones apart (EXCL). Returns false, with r as it was, if
// the chunk must be redone carefully.
template <bool RANK, int SUMS, class TP, class TQ>
inline bool fast_chunk(const TP* cp, const TQ* cq, int64_t nv, float tp, float tq, PassAB& r) {
  constexpr bool RANGE = !V::kExpTotal;
  const PassAB before = r;
  const F vtp = V::set1(tp), vtq = V::set1(tq);
  F vnp = V::set1(INFINITY), vnq = V::set1(INFINITY);
  Sums<SUMS> s(r.mp, r.mq);
  F mp = V::set1(r.mp), mq = V::set1(r.mq);
  F bmp, bmq;
  int64_t above_p, above_q;
  auto one = [&](auto excl, F x, F y) FP_LAMBDA_INLINE {
    bmp = V::max(x, bmp);  // a NaN lane keeps the running max: NaN shows in the sums
    bmq = V::max(y, bmq);
    if (RANGE) {
      vnp = V::min(x, vnp);
      vnq = V::min(y, vnq);
    }
    if (RANK) {
      above_p += V::count(V::gt(x, vtp));
      above_q += V::count(V::gt(y, vtq));
    }
    s.template add<false, decltype(excl)::value>(x, y);
  };
  auto block = [&](auto excl, int64_t v, int64_t end) FP_LAMBDA_INLINE {
    bmp = bmq = V::set1(-INFINITY);
    above_p = above_q = 0;
    each_vector<SUMS == 1>(cp, cq, v * V::W, end * V::W,
                           [&](F x, F y) FP_LAMBDA_INLINE { one(excl, x, y); });
  };
  using No = std::false_type;
  using Yes = std::true_type;
  for (int64_t v = 0; v < nv; v += BLK) {
    const int64_t end = imin(nv, v + BLK);
    block(No{}, v, end);
    if (V::any(V::mor(V::gt(bmp, mp), V::gt(bmq, mq)))) {  // a new maximum (or +inf)
      s.drop_block();
      s.commit(r);
      raise_max(r, V::hmax(bmp), V::hmax(bmq));
      s = Sums<SUMS>(r.mp, r.mq);
      mp = V::set1(r.mp);
      mq = V::set1(r.mq);
      s.drop_block();
      block(Yes{}, v, end);
    } else if (V::any(SUMS == 2 ? V::mor(V::eq(bmp, mp), V::eq(bmq, mq)) : V::eq(bmp, mp))) {
      s.drop_block();
      block(Yes{}, v, end);
    }
    s.flush();
    r.above_p += above_p;
    r.above_q += above_q;
  }
  bool ok = s.commit(r);
  // every sum of the chunk finite (those folded in early included), and where V's exponential
  // needs it every exponent >= -80 (the maxima only rose, so the final ones bound them all)
  ok = ok && all_finite(r.sp, r.sq, r.dq, r.d1, r.d2, r.e1, r.e2);
  if (RANGE && ok) {
    const float cnp = V::hmin(vnp), cnq = V::hmin(vnq);
    ok = double(cnp) - r.mp >= -80.0 && double(cnq) - r.mq >= -80.0;
    if (cnp < r.np) r.np = cnp;
    if (cnq < r.nq) r.nq = cnq;
  }
  if (!ok) r = before;
  return ok;
}

template <bool RANK, int SUMS, class TP, class TQ>
inline PassAB pass_ab(const TP* xp, const TQ* xq, int64_t n, float tp, float tq) {
  PassAB r;
  for (int64_t c0 = 0; c0 < n; c0 += CHUNK) {
    const int64_t len = imin(CHUNK, n - c0);
    const int64_t nv = len / V::W, tail = len - nv * V::W;
    const TP* cp = xp + c0;
    const TQ* cq = xq + c0;
    if (SUMS && nv && fast_chunk<RANK, SUMS>(cp, cq, nv, tp, tq, r)) {
      if (tail) careful_chunk<RANK, SUMS>(cp + nv * V::W, cq + nv * V::W, tail, tp, tq, r);
    } else {
      careful_chunk<RANK, SUMS>(cp, cq, len, tp, tq, r);
    }
  }
  r.clean = !V::kExpTotal && SUMS && double(r.np) - r.mp >= -80.0 && double(r.nq) - r.mq >= -80.0;
  return r;
}

template <class T>
inline int64_t first_equal(const T* x, int64_t n, float m) {
  const F vm = V::set1(m);
  const int64_t nfull = n - n % V::W;
  int64_t i = 0;
  for (; i < nfull; i += V::W) {
    int k = V::first(V::eq(V::load(x + i), vm));
    if (k >= 0) return i + k;
  }
  for (; i < n; ++i)
    if (to_float(x[i]) == m) return i;
  return -1;
}

// Centring constants for the variances: log p - E[log p] = a - c, etc.
// p - q = (e^a - e^b + k e^b) / Sp with k = (Sq - Sp) / Sq taken in float64, so that the
// difference of two nearly equal probabilities is not the difference of two rounded ones.
struct PassCIn {
  float mp, mq, inv_sp, inv_sq, k, c_pp, c_qp, c_qq, c_pq;
};
struct PassC {
  double tv = 0, js = 0, v_pp = 0, v_qp = 0, v_qq = 0, v_pq = 0;
  bool finite() const { return all_finite(tv, js, v_pp, v_qp, v_qq, v_pq); }
};

template <bool JS, bool VAR, bool CLEAN, class TP, class TQ>
inline PassC pass_c(const TP* xp, const TQ* xq, int64_t n, const PassCIn& c) {
  const F vmp = V::set1(c.mp), vmq = V::set1(c.mq), zero = V::zero();
  const F isp = V::set1(c.inv_sp), isq = V::set1(c.inv_sq), vk = V::set1(c.k), one = V::set1(1.0f),
          two = V::set1(2.0f), half = V::set1(0.5f), tiny = V::set1(1e-37f);
  const F cpp = V::set1(c.c_pp), cqp = V::set1(c.c_qp), cqq = V::set1(c.c_qq), cpq = V::set1(c.c_pq);
  V::D Dtv = V::dzero(), Djs = V::dzero(), D1 = V::dzero(), D2 = V::dzero(), D3 = V::dzero(),
       D4 = V::dzero();
  F tv = zero, js = zero, v1 = zero, v2 = zero, v3 = zero, v4 = zero;
  sweep(xp, xq, n,
        [&](auto part, F x, F y) {
          constexpr bool C = CLEAN && decltype(part)::full;
          const F a = V::sub(x, vmp), b = V::sub(y, vmq);
          const F ea = C ? V::exp_fast(a) : V::exp(a);
          const F eb = C ? V::exp_fast(b) : V::exp(b);
          const F p = V::mul(ea, isp), q = V::mul(eb, isq);
          const F pq = V::mul(isp, V::fmadd(vk, eb, V::sub(ea, eb)));
          tv = V::add(tv, V::abs(pq));
          if (JS) {
            // JS = 1/4 sum s f(d), s = p + q, d = (p - q)/s,
            // f(d) = (1+d)log(1+d) + (1-d)log(1-d) = sum_k d^(2k) / (k(2k-1)).
            const F s = V::add(p, q);
            // Cells with s below 1e-37 add less than 1e-37 each; skipping them keeps 1/s finite
            // (a subnormal s would make it overflow).
            const M ms = V::gt(s, tiny);
            const F inv = V::div(one, s);
            const F d = V::mul(pq, inv);
            const F t = V::mul(d, d);
            F f = V::set1(1.0f / 276);
            f = V::fmadd(f, t, V::set1(1.0f / 231));
            f = V::fmadd(f, t, V::set1(1.0f / 190));
            f = V::fmadd(f, t, V::set1(1.0f / 153));
            f = V::fmadd(f, t, V::set1(1.0f / 120));
            f = V::fmadd(f, t, V::set1(1.0f / 91));
            f = V::fmadd(f, t, V::set1(1.0f / 66));
            f = V::fmadd(f, t, V::set1(1.0f / 45));
            f = V::fmadd(f, t, V::set1(1.0f / 28));
            f = V::fmadd(f, t, V::set1(1.0f / 15));
            f = V::fmadd(f, t, V::set1(1.0f / 6));
            f = V::fmadd(f, t, one);
            f = V::mul(f, t);
            const M big = V::not_lt(V::abs(d), half);  // |d| >= 1/2 (or NaN where s == 0)
            if (V::any(V::mand(big, ms))) {
              const F u1 = V::mul(two, V::mul(p, inv)), u2 = V::mul(two, V::mul(q, inv));
              // u log u with 0 log 0 = 0 (p or q may be 0, or underflow to 0 once normalised)
              const F l = V::add(V::keep(V::gt(u1, zero), V::mul(u1, V::log(u1))),
                                 V::keep(V::gt(u2, zero), V::mul(u2, V::log(u2))));
              f = V::select(big, l, f);
            }
            js = V::add(js, V::keep(ms, V::mul(s, f)));
          }
          if (VAR) {
            const F dpp = V::sub(a, cpp), dqp = V::sub(b, cqp);
            const F dqq = V::sub(b, cqq), dpq = V::sub(a, cpq);
            const F w1 = V::mul(dpp, dpp), w2 = V::mul(dqp, dqp), w3 = V::mul(dqq, dqq),
                    w4 = V::mul(dpq, dpq);
            if (C) {  // every e^a, e^b > 0 and every difference finite
              v1 = V::fmadd(ea, w1, v1);
              v2 = V::fmadd(ea, w2, v2);
              v3 = V::fmadd(eb, w3, v3);
              v4 = V::fmadd(eb, w4, v4);
            } else {
              const M ma = V::gt(ea, zero), mb = V::gt(eb, zero);
              v1 = V::add(v1, V::keep(ma, V::mul(ea, w1)));
              v2 = V::add(v2, V::keep(ma, V::mul(ea, w2)));
              v3 = V::add(v3, V::keep(mb, V::mul(eb, w3)));
              v4 = V::add(v4, V::keep(mb, V::mul(eb, w4)));
            }
          }
        },
        [&] {
          V::acc(Dtv, tv);
          tv = zero;
          if (JS) { V::acc(Djs, js); js = zero; }
          if (VAR) {
            V::acc(D1, v1); V::acc(D2, v2); V::acc(D3, v3); V::acc(D4, v4);
            v1 = v2 = v3 = v4 = zero;
          }
        });
  PassC r;
  r.tv = V::hsum(Dtv);
  if (JS) r.js = V::hsum(Djs);
  if (VAR) { r.v_pp = V::hsum(D1); r.v_qp = V::hsum(D2); r.v_qq = V::hsum(D3); r.v_pq = V::hsum(D4); }
  return r;
}

inline double clamp0(double x) { return x < 0 ? 0.0 : x; }

template <class TP, class TQ>
void rows_impl(const DenseArgs& A, int64_t begin, int64_t end) {
  const TP* P = static_cast<const TP*>(A.p);
  const TQ* Q = static_cast<const TQ*>(A.q);
  const int64_t n = A.vocab;
  double* const* out = A.out;
  auto want = [&](int f) { return out[f] != nullptr; };
  const bool want_rank = A.targets && (want(F_RANK_P) || want(F_RANK_Q));
  const bool want_top1 = want(F_TOP1_AGREE);
  const bool want_js = want(F_JS);
  const bool want_var = want(F_VAR_LOGP_P) || want(F_VAR_LOGQ_P) || want(F_VAR_LOGQ_Q) ||
                        want(F_VAR_LOGP_Q);
  const bool want_c = want_js || want_var || want(F_TV);
  // every sum but KL(P||Q)'s own (SUMS == 1, the fast path of fields=["kl_pq"])
  const bool want_full_b = want_c || want(F_ENTROPY_P) || want(F_ENTROPY_Q) || want(F_CE_PQ) ||
                           want(F_CE_QP) || want(F_KL_QP) || want(F_LSE_P) || want(F_LSE_Q) ||
                           want(F_LOGPROB_P) || want(F_LOGPROB_Q);
  const bool want_b = want_full_b || want(F_KL_PQ);
  const double nan = NAN;

  for (int64_t r = begin; r < end; ++r) {
    const TP* xp = P + r * A.row_stride_p;
    const TQ* xq = Q + r * A.row_stride_q;
    int32_t err = 0;
    int64_t t = -1;
    float tp = 0.f, tq = 0.f;
    if (A.targets) {
      t = A.targets[r];
      if (t < 0 || t >= n) {
        err |= ERR_TARGET_RANGE;
      } else {
        tp = to_float(xp[t]);
        tq = to_float(xq[t]);
      }
    }
    const int sums = want_full_b ? 2 : (want_b ? 1 : 0);
    const bool rank = want_rank && err == 0;
    PassAB pa;
    if (rank) {
      pa = sums == 2 ? pass_ab<true, 2>(xp, xq, n, tp, tq)
         : sums == 1 ? pass_ab<true, 1>(xp, xq, n, tp, tq) : pass_ab<true, 0>(xp, xq, n, tp, tq);
    } else {
      pa = sums == 2 ? pass_ab<false, 2>(xp, xq, n, tp, tq)
         : sums == 1 ? pass_ab<false, 1>(xp, xq, n, tp, tq) : pass_ab<false, 0>(xp, xq, n, tp, tq);
    }
    if (pa.bad_p) err |= ERR_NONFINITE_P;
    else if (pa.mp == -INFINITY) err |= ERR_ALL_NEGINF_P;
    if (pa.bad_q) err |= ERR_NONFINITE_Q;
    else if (pa.mq == -INFINITY) err |= ERR_ALL_NEGINF_Q;
    A.errors[r] = err;
    if (err) {
      for (int f = 0; f < NUM_FIELDS; ++f)
        if (out[f]) out[f][r] = nan;
      continue;
    }
    if (want(F_RANK_P)) out[F_RANK_P][r] = A.targets ? double(pa.above_p + 1) : nan;
    if (want(F_RANK_Q)) out[F_RANK_Q][r] = A.targets ? double(pa.above_q + 1) : nan;
    if (want_top1)
      out[F_TOP1_AGREE][r] = first_equal(xp, n, pa.mp) == first_equal(xq, n, pa.mq) ? 1.0 : 0.0;
    if (!want_b) continue;

    const PassAB& pb = pa;
    const double lratio = std::log1p(pb.dq / pb.sp);  // log(Sq / Sp)
    const double kl_pq = pb.only_p ? INFINITY : clamp0(pb.d1 / pb.sp + lratio);
    if (want(F_KL_PQ)) out[F_KL_PQ][r] = kl_pq;
    if (!want_full_b) continue;

    const double lsp = std::log(pb.sp), lsq = std::log(pb.sq);
    const double lse_p = double(pa.mp) + lsp, lse_q = double(pa.mq) + lsq;
    if (want(F_LSE_P)) out[F_LSE_P][r] = lse_p;
    if (want(F_LSE_Q)) out[F_LSE_Q][r] = lse_q;
    if (want(F_LOGPROB_P)) out[F_LOGPROB_P][r] = A.targets ? double(tp) - lse_p : nan;
    if (want(F_LOGPROB_Q)) out[F_LOGPROB_Q][r] = A.targets ? double(tq) - lse_q : nan;

    const double h_p = clamp0(lsp - pb.e1 / pb.sp), h_q = clamp0(lsq - pb.e2 / pb.sq);
    const double kl_qp = pb.only_q ? INFINITY : clamp0(pb.d2 / pb.sq - lratio);
    const double ce_pq = h_p + kl_pq, ce_qp = h_q + kl_qp;
    if (want(F_ENTROPY_P)) out[F_ENTROPY_P][r] = h_p;
    if (want(F_ENTROPY_Q)) out[F_ENTROPY_Q][r] = h_q;
    if (want(F_KL_QP)) out[F_KL_QP][r] = kl_qp;
    if (want(F_CE_PQ)) out[F_CE_PQ][r] = ce_pq;
    if (want(F_CE_QP)) out[F_CE_QP][r] = ce_qp;
    if (!want_c) continue;

    PassCIn ci;
    ci.mp = pa.mp;
    ci.mq = pa.mq;
    ci.inv_sp = float(1.0 / pb.sp);
    ci.inv_sq = float(1.0 / pb.sq);
    ci.k = float(pb.dq / pb.sq);
    ci.c_pp = float(lsp - h_p);
    ci.c_qp = float(lsq - ce_pq);
    ci.c_qq = float(lsq - h_q);
    ci.c_pq = float(lsp - ce_qp);
    // pass C first unmasked (V's exponential is right everywhere, or the row is clean: every
    // x - max >= -80); with a total exponential a -inf or an overflow shows as a non-finite sum
    // and the row is redone masked
    auto run_c = [&](bool clean) {
      if (clean) {
        if (want_js && want_var) return pass_c<true, true, true>(xp, xq, n, ci);
        if (want_js) return pass_c<true, false, true>(xp, xq, n, ci);
        if (want_var) return pass_c<false, true, true>(xp, xq, n, ci);
        return pass_c<false, false, true>(xp, xq, n, ci);
      }
      if (want_js && want_var) return pass_c<true, true, false>(xp, xq, n, ci);
      if (want_js) return pass_c<true, false, false>(xp, xq, n, ci);
      if (want_var) return pass_c<false, true, false>(xp, xq, n, ci);
      return pass_c<false, false, false>(xp, xq, n, ci);
    };
    PassC pc = run_c(V::kExpTotal || pa.clean);
    if (V::kExpTotal && !pc.finite()) pc = run_c(false);
    if (want(F_TV)) { double tv = 0.5 * pc.tv; out[F_TV][r] = tv > 1.0 ? 1.0 : tv; }
    if (want(F_JS)) {
      const double ln2 = 0.69314718055994530942;
      double js = clamp0(0.25 * pc.js);
      out[F_JS][r] = js > ln2 ? ln2 : js;
    }
    if (want_var) {
      const double inf = INFINITY;
      if (want(F_VAR_LOGP_P)) out[F_VAR_LOGP_P][r] = pc.v_pp / pb.sp;
      if (want(F_VAR_LOGQ_P)) out[F_VAR_LOGQ_P][r] = ce_pq == inf ? inf : pc.v_qp / pb.sp;
      if (want(F_VAR_LOGQ_Q)) out[F_VAR_LOGQ_Q][r] = pc.v_qq / pb.sq;
      if (want(F_VAR_LOGP_Q)) out[F_VAR_LOGP_Q][r] = ce_qp == inf ? inf : pc.v_pq / pb.sq;
    }
  }
}

template <class TP>
void rows_q(const DenseArgs& A, int64_t b, int64_t e) {
  switch (A.dtype_q) {
    case DT_F16: rows_impl<TP, f16_t>(A, b, e); break;
    case DT_BF16: rows_impl<TP, bf16_t>(A, b, e); break;
    default: rows_impl<TP, float>(A, b, e); break;
  }
}

}  // namespace

void dense_rows(const DenseArgs& A, int64_t b, int64_t e) {
  switch (A.dtype_p) {
    case DT_F16: rows_q<f16_t>(A, b, e); break;
    case DT_BF16: rows_q<bf16_t>(A, b, e); break;
    default: rows_q<float>(A, b, e); break;
  }
}
