// Scalar "vector" of width 1: the portable kernel set. Same interface as simd_avx2.hpp.
#pragma once
#include <cmath>
#include <cstdint>
#include "divergence.hpp"

struct V {
  using F = float;
  using M = bool;
  struct D { double v; };
  static constexpr int W = 1;
  static F zero() { return 0.f; }
  static F set1(float x) { return x; }
  static F load(const float* p) { return *p; }
  static F load(const fp::f16_t* p) { return fp::half_to_float(p->bits); }
  static F load(const fp::bf16_t* p) { return fp::bf16_to_float(p->bits); }
  // 2W bfloat16 values as two vectors, lanes in some fixed order.
  static void load2_any_order(const fp::bf16_t* p, F& a, F& b) {
    a = load(p);
    b = load(p + 1);
  }
  static F add(F a, F b) { return a + b; }
  static F add_if(M m, F a, F x) { return m ? a + x : a; }
  static F sub(F a, F b) { return a - b; }
  static F mul(F a, F b) { return a * b; }
  static F div(F a, F b) { return a / b; }
  static F fmadd(F a, F b, F c) { return a * b + c; }
  static F fnmadd(F a, F b, F c) { return c - a * b; }
  static F max(F a, F b) { return a > b ? a : b; }
  static F abs(F a) { return std::fabs(a); }
  static F exp(F x) { return std::exp(x); }
  static F log(F x) { return std::log(x); }
  // std::exp is right for every input (0 below the range, +inf above, NaN for NaN).
  static constexpr bool kExpTotal = true;
  static F exp_fast(F x) { return std::exp(x); }
  static F min(F a, F b) { return a < b ? a : b; }
  static float hmin(F a) { return a; }
  static M gt(F a, F b) { return a > b; }
  static M lt(F a, F b) { return a < b; }
  static M eq(F a, F b) { return a == b; }
  static M not_lt(F a, F b) { return !(a < b); }  // true for NaN
  static M mor(M a, M b) { return a || b; }
  static M mand(M a, M b) { return a && b; }
  static F keep(M m, F a) { return m ? a : 0.f; }
  static F select(M m, F a, F b) { return m ? a : b; }
  static bool any(M m) { return m; }
  static bool all(M m) { return m; }
  static int count(M m) { return m ? 1 : 0; }
  static int first(M m) { return m ? 0 : -1; }
  static M none() { return false; }
  static D dzero() { return D{0.0}; }
  static void acc(D& d, F x) { d.v += double(x); }
  static double hsum(D d) { return d.v; }
  static float hmax(F a) { return a; }
};
