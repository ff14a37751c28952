// Top-k divergence panel: divergences between two models known only through their top-k
// log-probabilities (as LLM APIs return them). Shared declarations (no Python headers here).
#pragma once

#include <cstdint>

namespace fp {

// Output fields, in the order of fingerprint.result.ALL_FIELDS.
enum TopkField : int {
  TK_LOGPROB_P, TK_LOGPROB_Q, TK_RANK_P, TK_RANK_Q, TK_ENTROPY_P, TK_ENTROPY_Q,
  TK_CE_PQ, TK_CE_QP, TK_KL_PQ, TK_KL_QP, TK_JS, TK_TV, TK_TOP1_AGREE,
  TK_VAR_LOGP_P, TK_VAR_LOGQ_P, TK_VAR_LOGQ_Q, TK_VAR_LOGP_Q,
  TK_NUM_FIELDS
};

// What is done with the probability mass outside the top-k lists (fingerprint.topk docstring).
enum TopkTail : int { TAIL_BUCKET = 0, TAIL_IGNORE = 1, TAIL_RENORMALIZE = 2, TAIL_GEOMETRIC = 3, NUM_TAILS };

// Per-row error bits (0 = row computed). The _P bit of a pair is for model P, the _Q bit
// (one place higher) for model Q. A row with any bit set has NaN in every field.
enum TopkError : int32_t {
  TK_ERR_ID_P = 1 << 0,        // id < -1, or id >= vocab when the vocabulary size is known
  TK_ERR_ID_Q = 1 << 1,
  TK_ERR_NAN_P = 1 << 2,       // NaN log-prob of a non-padding entry
  TK_ERR_NAN_Q = 1 << 3,
  TK_ERR_POSITIVE_P = 1 << 4,  // log-prob > kTopkPositiveTol (includes +inf)
  TK_ERR_POSITIVE_Q = 1 << 5,
  TK_ERR_DUP_P = 1 << 6,       // the same id twice in one row
  TK_ERR_DUP_Q = 1 << 7,
  TK_ERR_MASS_P = 1 << 8,      // sum of the row's probabilities > 1 + kTopkMassTol
  TK_ERR_MASS_Q = 1 << 9,
  TK_ERR_TARGET_P = 1 << 10,   // the target's given log-prob disagrees with its top-k log-prob
  TK_ERR_TARGET_Q = 1 << 11,
  TK_ERR_VOCAB_P = 1 << 12,    // geometric: the row has vocab or more distinct ids (no tail)
  TK_ERR_VOCAB_Q = 1 << 13,
  TK_ERR_TARGET_RANGE = 1 << 14,  // target < 0, or >= vocab when the vocabulary size is known
};

constexpr double kTopkPositiveTol = 1e-6;  // largest log-prob accepted (rounding above 0)
constexpr double kTopkMassTol = 1e-4;      // a row's probabilities may sum to 1 + this
constexpr double kTopkTargetTol = 1e-6;    // |target log-prob - top-k log-prob| allowed
constexpr double kTopkTailEps = 1e-15;     // geometric: JS/TV tail sums stop below this mass

// One model's [n, k] arrays. Strides are in elements and may be anything (Fortran order,
// negative, 0); ids are int32 or int64, log-probs float32 or float64.
struct TopkSide {
  const void* ids = nullptr;
  const void* logprobs = nullptr;
  bool ids64 = true, lp64 = true;
  int64_t k = 0;
  int64_t id_stride0 = 0, id_stride1 = 0, lp_stride0 = 0, lp_stride1 = 0;
  const double* target_logprobs = nullptr;  // [n] or null; NaN = unknown
};

struct TopkArgs {
  TopkSide p, q;
  int64_t n = 0;
  int tail = TAIL_BUCKET;
  int64_t vocab = 0;                      // 0 = unknown (required > 0 for TAIL_GEOMETRIC)
  const int64_t* targets = nullptr;       // [n] or null
  double* out[TK_NUM_FIELDS] = {};        // [n] each, null = not requested
  int32_t* errors = nullptr;              // [n], required
};

// Computes the requested fields for every row; rows are split over `num_threads` threads and
// every row depends only on its own inputs, so results are identical for any thread count.
void topk_panel(const TopkArgs& args, int num_threads);

// Geometric tail helpers. A tail is
// t_j = exp(logc - x j), j = 1..L, x >= 0.
// Sum of exp(-x j), j = 1..L.
double geo_s0(double x, int64_t L);
// Mean and variance of j under weights exp(-x j), j = 1..L (L >= 1).
double geo_mean(double x, int64_t L);
double geo_var(double x, int64_t L);
// The x > 0 with geo_s0(x, L) = rho, for 0 < rho < L.
double geo_solve(double rho, int64_t L);

}  // namespace fp
