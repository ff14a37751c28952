// Dense per-position divergence panel: shared declarations (no Python headers here).
#pragma once

#include <cstdint>
#include <cstring>

namespace fp {

// Storage types of a dense row. f16/bf16 are read as raw 16-bit patterns.
enum DType : int { DT_F32 = 0, DT_F16 = 1, DT_BF16 = 2 };
struct f16_t { uint16_t bits; };
struct bf16_t { uint16_t bits; };

// Output fields of the dense panel, in the order of fingerprint.divergence.DENSE_FIELDS.
enum Field : int {
  F_LOGPROB_P, F_LOGPROB_Q, F_RANK_P, F_RANK_Q, F_ENTROPY_P, F_ENTROPY_Q,
  F_CE_PQ, F_CE_QP, F_KL_PQ, F_KL_QP, F_JS, F_TV, F_TOP1_AGREE,
  F_VAR_LOGP_P, F_VAR_LOGQ_P, F_VAR_LOGQ_Q, F_VAR_LOGP_Q,
  F_LSE_P, F_LSE_Q,
  NUM_FIELDS
};

// Per-row error bits (0 = row computed).
enum RowError : int32_t {
  ERR_NONFINITE_P = 1,   // NaN or +inf in p's row
  ERR_NONFINITE_Q = 2,
  ERR_ALL_NEGINF_P = 4,  // every entry of p's row is -inf: no distribution
  ERR_ALL_NEGINF_Q = 8,
  ERR_TARGET_RANGE = 16, // target id outside [0, vocab)
};

struct DenseArgs {
  const void* p = nullptr;
  const void* q = nullptr;
  int dtype_p = DT_F32, dtype_q = DT_F32;
  int64_t n = 0, vocab = 0;
  int64_t row_stride_p = 0, row_stride_q = 0;  // in elements; the last axis is contiguous
  const int64_t* targets = nullptr;             // [n] or null
  double* out[NUM_FIELDS] = {};                 // [n] each, null = not requested
  int32_t* errors = nullptr;                    // [n], required
};

// Computes the requested fields for every row; rows are split over `num_threads` threads.
void dense_panel(const DenseArgs& args, int num_threads);

// Per-ISA row kernels (rows [begin, end)).
namespace generic { void dense_rows(const DenseArgs& a, int64_t begin, int64_t end); }
namespace avx2 { void dense_rows(const DenseArgs& a, int64_t begin, int64_t end); }
namespace avx512 { void dense_rows(const DenseArgs& a, int64_t begin, int64_t end); }

inline float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t ex = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
  if (ex == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal half: renormalise
      int e = -1;
      do { ++e; mant <<= 1; } while (!(mant & 0x400u));
      mant &= 0x3ffu;
      bits = sign | (uint32_t(112 - e) << 23) | (mant << 13);
    }
  } else if (ex == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((ex + 112u) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline float bf16_to_float(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline float to_float(float x) { return x; }
inline float to_float(f16_t x) { return half_to_float(x.bits); }
inline float to_float(bf16_t x) { return bf16_to_float(x.bits); }

}  // namespace fp
