// The AVX-512 (F, BW, VL, DQ) kernels of the top-k panel, compiled only in topk_avx512.cpp with
// its own flags and called by topk.cpp when fp::simd_level() >= SIMD_AVX512, for rows without
// padding (contiguous int64 ids, float64 log-probs). Plain pointers only: no types shared with
// topk.cpp beyond these declarations.
#pragma once

#include <cstdint>

namespace fp {
namespace topk_avx512 {

constexpr int64_t kMaxK = 64;  // rows up to this length (one 64-bit lane mask per row)
constexpr int32_t kHasPadding = -1;

// Checks a row of k <= kMaxK entries: kHasPadding if an id is -1 (nothing else done); else
// the error bits of model P's numbering (TK_ERR_ID_P: id >= lim as unsigned, TK_ERR_NAN_P,
// TK_ERR_POSITIVE_P: log-prob > kTopkPositiveTol) and, for a row without errors, *top = the
// first index of the largest log-prob (0 if all are -inf) and *ids31 = every id < 2^31.
int32_t check_row(const int64_t* ids, const double* lp, int64_t k, uint64_t lim, int64_t* top,
                  bool* ids31);

// Pairs two rows by id: pmatch[i] = index of P's id i in Q's row, or -1 (kp entries, and
// pmatch[kp] is written as scratch); qmatch[j] likewise. Returns TK_ERR_DUP_P if an id occurs
// twice in P's row, TK_ERR_DUP_Q likewise for Q (the match arrays are meaningless then).
// 1 <= kp, kq <= kMaxK.
int32_t pair_rows(const int64_t* pid, int64_t kp, const int64_t* qid, int64_t kq, int32_t* pmatch,
                  int32_t* qmatch);

// pair_rows for kp, kq <= kSmallK whose ids are all in [0, 2^31) (int32 lanes).
constexpr int64_t kSmallK = 32;
int32_t pair_rows_small(const int64_t* pid, int64_t kp, const int64_t* qid, int64_t kq,
                        int32_t* pmatch, int32_t* qmatch);

// The whole pairwise pass of the bucket (rest = true) and ignore (rest = false) policies for
// 1 <= kp, kq <= 32, cells in registers: first moments of the shared cells (as pair_shared), the
// rest cell of mass max(0, 1 - shared mass) per model (bucket), and (want_var) the centred
// second moments about -ce. Also returns own_log_p/q = log max(0, 1 - mass_p/q) (the per-model
// rest buckets). False (nothing done) for longer rows.
// With rest and own.want_var, also own_var_p = sum of p (lp - mu)^2 over P's list (p > 0), mu =
// s1_p + r log r with r = max(0, 1 - mass_p) (minus the bucket entropy), likewise for Q.
struct OwnSums {
  double mass_p, mass_q, s1_p, s1_q;
  bool want_var;
};
struct PairOut {
  double kl_pq, kl_qp, ce_pq, ce_qp, tv, js, v_qp, v_pq, own_log_p, own_log_q, own_var_p, own_var_q;
};
bool pair_fused(const double* pp, const double* plp, const int32_t* pmatch, int64_t kp,
                const double* qp, const double* qlp, int64_t kq, const OwnSums& own,
                bool rest, bool want_js, bool want_var, PairOut& out);

// y[i] = log(x[i]) for eight values x >= 0 (0 -> -inf), by the same polynomial as the other
// kernels of this set.
void log8(const double* x, double* y);

// Index of the first entry equal to id among k, or -1.
int64_t find_id(const int64_t* ids, int64_t k, int64_t id);

// p = exp(lp) over n entries (-inf -> 0; every lp <= 1e-6, none NaN), their sum, the sum of
// p lp over p > 0, and (match != null) the sum of p over entries with match >= 0. exp is
// accurate to about one ulp, also where the result is subnormal or 0. Sums per lane, then the
// lanes in a fixed order.
struct RowSums {
  double mass, s1, shared;
};
RowSums exp_sums(const double* lp, int64_t n, const int32_t* match, double* p);

// Both rows at once (check_row, pair_rows / pair_rows_small, exp_sums; match arrays with kp,
// kq entries plus one scratch slot): kHasPadding if a row has padding, else the rows' error
// bits in their final places (TK_ERR_*_P / _Q; the mass is checked only for rows without
// other errors), 0 when o holds the tops and sums.
struct LoadOut {
  int64_t ptop, qtop;
  RowSums p, q;
};
int32_t load_pair(const int64_t* pid, const double* plp, int64_t kp, const int64_t* qid,
                  const double* qlp, int64_t kq, uint64_t lim, int32_t* pmatch, int32_t* qmatch,
                  double* pp, double* qp, LoadOut& o);

// The bucket/ignore panel's first moments over the shared ids (P's entries whose id Q also has;
// the others count as empty cells), in P's row order: cells written to cP, clP, cQ, clQ at P's
// positions (kp rounded up to 4 written; empty cells have P = Q = 0). Any kp >= 1.
struct PairSums {
  double kl_pq, kl_qp, ce_pq, ce_qp, tv, js;
  double mp, mq;  // the shared masses under P and Q (both summed in P's row order)
};
PairSums pair_shared(const double* pp, const double* plp, const int32_t* pmatch, int64_t kp,
                     const double* qp, const double* qlp, int64_t kq, bool want_js, double* cP,
                     double* clP, double* cQ, double* clQ);

}  // namespace topk_avx512
}  // namespace fp
