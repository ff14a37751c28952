// AVX-512 (F, BW, VL, DQ) vector of 16 floats. Compiled only in divergence_avx512.cpp.
#pragma once
#include <immintrin.h>
#include <cstdint>
#include "divergence.hpp"

struct V {
  using F = __m512;
  using M = __mmask16;
  struct D { __m512d v; };
  static constexpr int W = 16;
  static F zero() { return _mm512_setzero_ps(); }
  static F set1(float x) { return _mm512_set1_ps(x); }
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static F load(const fp::f16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static F load(const fp::bf16_t* p) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
  // 2W bfloat16 values as two vectors, lanes in some fixed order (even elements, then odd).
  static void load2_any_order(const fp::bf16_t* p, F& a, F& b) {
    const __m512i w = _mm512_loadu_si512(p);
    a = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
    b = _mm512_castsi512_ps(_mm512_and_si512(w, _mm512_set1_epi32(int(0xffff0000u))));
  }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F add_if(M m, F a, F x) { return _mm512_mask_add_ps(a, m, a, x); }  // a + (m ? x : 0)
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F fnmadd(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a b
  static F max(F a, F b) { return _mm512_max_ps(a, b); }
  static F abs(F a) { return _mm512_abs_ps(a); }
  static M gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M lt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M eq(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static M not_lt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_NLT_UQ); }
  static M mor(M a, M b) { return M(a | b); }
  static M mand(M a, M b) { return M(a & b); }
  static F keep(M m, F a) { return _mm512_maskz_mov_ps(m, a); }
  static F select(M m, F a, F b) { return _mm512_mask_blend_ps(m, b, a); }
  static bool any(M m) { return m != 0; }
  static bool all(M m) { return m == 0xffff; }
  static int count(M m) { return __builtin_popcount(unsigned(m)); }
  static int first(M m) { return m ? __builtin_ctz(unsigned(m)) : -1; }
  static M none() { return M(0); }
  static D dzero() { return D{_mm512_setzero_pd()}; }
  static void acc(D& d, F x) {
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
    __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1));
    d.v = _mm512_add_pd(d.v, _mm512_add_pd(lo, hi));
  }
  static double hsum(D d) { return _mm512_reduce_add_pd(d.v); }
  static float hmax(F a) { return _mm512_reduce_max_ps(a); }
  // e^x for every float x, within 1.7e-7 relative where the result is a normal float, in eight
  // vector operations: x = (k/32) ln2 + r with |r| <= ln2/64,
  // e^x = 2^floor(k/32) * 2^((k mod 32)/32) * e^r. The middle factor T comes from a 32-entry
  // table (vpermt2ps on k's low five bits), e^r from the minimax polynomial
  // 1 + c1 r + c2 r^2 (truncation 5.3e-8, exact 1 at r = 0), evaluated as T + (T r)(c1 + c2 r),
  // the power of two from vscalefps, which underflows gracefully to 0 and overflows to +inf.
  // NaN, +-inf and finite x below about -9e4 give a non-finite result or 0; the kernel never
  // relies on those (it checks its sums for finiteness, or clamps first: exp()).
  static constexpr bool kExpTotal = true;
  static F exp_fast(F x) {
    const F magic = _mm512_set1_ps(393216.0f);  // 1.5 * 2^18: x/ln2 + magic rounds to k/32
    const F kf = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), magic);
    const F kq = _mm512_sub_ps(kf, magic);  // k/32, exact
    const F r = _mm512_fnmadd_ps(kq, _mm512_set1_ps(0.693147180559945309f), x);
    const F lo = _mm512_setr_ps(1.0f, 1.02189714865f, 1.04427378243f, 1.06714040067f,
                                1.09050773267f, 1.11438674260f, 1.13878863476f, 1.16372485877f,
                                1.18920711500f, 1.21524735998f, 1.24185781207f, 1.26905095725f,
                                1.29683955465f, 1.32523664245f, 1.35425554357f, 1.38390988197f);
    const F hi = _mm512_setr_ps(1.41421356237f, 1.44518080697f, 1.47682614593f, 1.50916442759f,
                                1.54221082541f, 1.57598084354f, 1.61049033194f, 1.64575549221f,
                                1.68179283051f, 1.71861929661f, 1.75625216038f, 1.79470907503f,
                                1.83400808640f, 1.87416763739f, 1.91520656140f, 1.95714412418f);
    const F t = _mm512_permutex2var_ps(lo, _mm512_castps_si512(kf), hi);  // 2^((k mod 32)/32)
    const F tr = _mm512_mul_ps(t, r);
    const F u = _mm512_fmadd_ps(r, _mm512_set1_ps(0.4999999701976776f),
                                _mm512_set1_ps(1.0000146627426147f));
    return _mm512_scalef_ps(_mm512_fmadd_ps(tr, u, t), kq);  // * 2^floor(k/32)
  }
  // e^x for x <= 0 including -inf: exactly 0 below -110 (e^-110 < 2^-150 rounds to 0).
  static F exp(F x) { return exp_fast(_mm512_max_ps(x, _mm512_set1_ps(-110.0f))); }
  static F min(F a, F b) { return _mm512_min_ps(a, b); }
  static float hmin(F a) { return _mm512_reduce_min_ps(a); }
  static F log(F x) {
    x = _mm512_max_ps(x, _mm512_castsi512_ps(_mm512_set1_epi32(0x00800000)));
    __m512i xi = _mm512_castps_si512(x);
    __m512i ei = _mm512_sub_epi32(_mm512_srli_epi32(xi, 23), _mm512_set1_epi32(126));
    x = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(xi, _mm512_set1_epi32(0x007fffff)),
                                            _mm512_set1_epi32(0x3f000000)));
    F e = _mm512_cvtepi32_ps(ei);
    M small = _mm512_cmp_ps_mask(x, _mm512_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
    F t = _mm512_maskz_mov_ps(small, x);
    x = _mm512_sub_ps(x, _mm512_set1_ps(1.0f));
    e = _mm512_mask_sub_ps(e, small, e, _mm512_set1_ps(1.0f));
    x = _mm512_add_ps(x, t);
    F z = _mm512_mul_ps(x, x);
    F y = _mm512_set1_ps(7.0376836292e-2f);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(-1.1514610310e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.1676998740e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(-1.2420140846e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.4249322787e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(-1.6668057665e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(2.0000714765e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(-2.4999993993e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(3.3333331174e-1f));
    y = _mm512_mul_ps(_mm512_mul_ps(y, x), z);
    y = _mm512_fmadd_ps(e, _mm512_set1_ps(-2.12194440e-4f), y);
    y = _mm512_fnmadd_ps(z, _mm512_set1_ps(0.5f), y);
    x = _mm512_add_ps(x, y);
    return _mm512_fmadd_ps(e, _mm512_set1_ps(0.693359375f), x);
  }
};
