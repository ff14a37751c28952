// AVX2 + FMA + F16C vector of 8 floats. Compiled only in divergence_avx2.cpp (-mavx2 -mfma -mf16c).
#pragma once
#include <immintrin.h>
#include <cstdint>
#include "divergence.hpp"

struct V {
  using F = __m256;
  using M = __m256;  // all-ones lanes where true
  struct D { __m256d v; };
  static constexpr int W = 8;
  static F zero() { return _mm256_setzero_ps(); }
  static F set1(float x) { return _mm256_set1_ps(x); }
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static F load(const fp::f16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static F load(const fp::bf16_t* p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
  // 2W bfloat16 values as two vectors, lanes in some fixed order (even elements, then odd).
  static void load2_any_order(const fp::bf16_t* p, F& a, F& b) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    a = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    b = _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32(int(0xffff0000u))));
  }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F add_if(M m, F a, F x) { return _mm256_add_ps(a, _mm256_and_ps(m, x)); }  // a + (m ? x : 0)
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F fnmadd(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a b
  // max(a, b) returns b when a is NaN: callers check NaN separately (not_lt).
  static F max(F a, F b) { return _mm256_max_ps(a, b); }
  static F abs(F a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static M gt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static M lt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static M eq(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  static M not_lt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_NLT_UQ); }
  static M mor(M a, M b) { return _mm256_or_ps(a, b); }
  static M mand(M a, M b) { return _mm256_and_ps(a, b); }
  static F keep(M m, F a) { return _mm256_and_ps(m, a); }
  static F select(M m, F a, F b) { return _mm256_blendv_ps(b, a, m); }
  static bool any(M m) { return _mm256_movemask_ps(m) != 0; }
  static bool all(M m) { return _mm256_movemask_ps(m) == 0xff; }
  static int count(M m) { return __builtin_popcount(unsigned(_mm256_movemask_ps(m))); }
  static int first(M m) {
    int b = _mm256_movemask_ps(m);
    return b ? __builtin_ctz(unsigned(b)) : -1;
  }
  static M none() { return _mm256_setzero_ps(); }
  static D dzero() { return D{_mm256_setzero_pd()}; }
  static void acc(D& d, F x) {
    __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
    __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
    d.v = _mm256_add_pd(d.v, _mm256_add_pd(lo, hi));
  }
  static double hsum(D d) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(d.v), _mm256_extractf128_pd(d.v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
  static float hmax(F a) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  // e^x for x in [-87, 87] (no -inf, no NaN): x = (k/8) ln2 + r with |r| <= ln2/16,
  // e^x = 2^(k>>3) * 2^((k&7)/8) * e^r, the middle factor from an 8-entry table (vpermps) and e^r
  // by its degree-4 Taylor polynomial (truncation < 1.4e-9). Relative error about 1 ulp.
  static F exp_fast(F x) {
    const F magic = _mm256_set1_ps(12582912.0f);  // 1.5 * 2^23: rounds to an integer in the low bits
    const F kf = _mm256_fmadd_ps(x, _mm256_set1_ps(11.5415602f), magic);  // x * 8 / ln 2
    const __m256i ki = _mm256_castps_si256(kf);
    const F k = _mm256_sub_ps(kf, magic);
    F r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.086669921875f), x);  // ln2/8, split hi + lo
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.65243050e-05f), r);
    const F table = _mm256_setr_ps(1.0f, 1.09050773f, 1.18920712f, 1.29683955f, 1.41421356f,
                                   1.54221083f, 1.68179283f, 1.83400809f);  // 2^(j/8)
    const F t = _mm256_permutevar8x32_ps(table, ki);  // uses k mod 8 (low 3 bits)
    // (k >> 3) << 23 from the low bits of ki: the magic's own bits shift out entirely.
    const __m256i e = _mm256_and_si256(_mm256_slli_epi32(ki, 20), _mm256_set1_epi32(int(0xff800000u)));
    F y = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 24), r, _mm256_set1_ps(1.0f / 6));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(0.5f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.0f));
    y = _mm256_mul_ps(y, t);
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(y), e));
  }
  // exp_fast is right only for x in [-87, 87] (its power of two is an exponent-field add):
  // the kernel checks its inputs' range before trusting it.
  static constexpr bool kExpTotal = false;
  // e^x for x <= 0 (any, including -inf): exactly 0 below -80 (e^-80 < 2e-35).
  static F exp(F x) {
    const F lo = _mm256_set1_ps(-80.0f);
    const M under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    return _mm256_andnot_ps(under, exp_fast(_mm256_max_ps(x, lo)));
  }
  static F min(F a, F b) { return _mm256_min_ps(a, b); }
  static float hmin(F a) {
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    m = _mm_min_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  // Natural log for positive normal x (about 2 ulp); callers mask x <= 0.
  static F log(F x) {
    x = _mm256_max_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x00800000)));
    __m256i xi = _mm256_castps_si256(x);
    __m256i ei = _mm256_sub_epi32(_mm256_srli_epi32(xi, 23), _mm256_set1_epi32(126));
    x = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(xi, _mm256_set1_epi32(0x007fffff)),
                                            _mm256_set1_epi32(0x3f000000)));  // [0.5, 1)
    F e = _mm256_cvtepi32_ps(ei);
    M small = _mm256_cmp_ps(x, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
    F t = _mm256_and_ps(x, small);
    x = _mm256_sub_ps(x, _mm256_set1_ps(1.0f));
    e = _mm256_sub_ps(e, _mm256_and_ps(_mm256_set1_ps(1.0f), small));
    x = _mm256_add_ps(x, t);
    F z = _mm256_mul_ps(x, x);
    F y = _mm256_set1_ps(7.0376836292e-2f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(-1.1514610310e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.1676998740e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(-1.2420140846e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.4249322787e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(-1.6668057665e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(2.0000714765e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(-2.4999993993e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(3.3333331174e-1f));
    y = _mm256_mul_ps(_mm256_mul_ps(y, x), z);
    y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
    y = _mm256_fnmadd_ps(z, _mm256_set1_ps(0.5f), y);
    x = _mm256_add_ps(x, y);
    return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), x);
  }
};
