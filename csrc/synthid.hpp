// SynthID-Text kernels: g-values, context-repetition and EOS masks, per-layer counts.
// Two hashing variants (see fingerprint/watermark/synthid.py): google-deepmind/synthid-text's
// current one (sha256 initial value, 12 rounds of re-hashing, bit 30) and the older one in
// transformers (initial value 1, lookup in a fixed random 0/1 table at the key's floor-mod).
// All arithmetic is on uint64_t, which wraps exactly as torch's int64 does. Inputs are re-checked
// here; a bad input raises std::invalid_argument.
#pragma once

#include <cstdint>

namespace fp {
namespace sid {

constexpr uint64_t kMul = 6364136223846793005ULL;

inline uint64_t acc(uint64_t h, uint64_t x) { return (h + x) * kMul + 1ULL; }

// Arithmetic (sign-propagating) right shift of the int64 bit pattern, as torch's >> on int64.
// Right-shifting a negative signed value is implementation-defined before C++20; every supported
// compiler (GCC, Clang, MSVC) shifts arithmetically, which the static_assert checks.
static_assert((int64_t(-8) >> 1) == int64_t(-4), "arithmetic right shift of signed integers required");
inline uint64_t asr(uint64_t x, unsigned s) { return static_cast<uint64_t>(static_cast<int64_t>(x) >> s); }

// One re-hashing round of synthid-text's g-value: acc(k, 1) >> 5, with acc(k, 1) = k * kMul + (kMul + 1).
inline uint64_t regen(uint64_t k) { return asr(k * kMul + (kMul + 1ULL), 5); }

enum Mode : int { MODE_SYNTHID_TEXT = 0, MODE_TRANSFORMERS = 1 };

struct Config {
  int mode = MODE_SYNTHID_TEXT;
  uint64_t iv = 0;                 // initial hash value
  const int64_t* keys = nullptr;   // depth keys
  int64_t depth = 0;
  int64_t ngram_len = 5;
  int64_t history = 1024;          // context_history_size
  bool has_eos = false;
  int64_t eos = 0;
  const uint8_t* table = nullptr;  // transformers: 0/1 sampling table
  int64_t table_size = 0;
  // keys[d] * kMul + 1, filled by the kernels: a layer's key is acc(h, keys[d]) = h * kMul +
  // key_mul[d], one multiplication per n-gram shared by all layers.
  const uint64_t* key_mul = nullptr;
};

struct DetectOut {
  int64_t* counts = nullptr;        // [B, depth]: sum of g over positions kept by the library mask
  int64_t* counts_dedup = nullptr;  // [B, depth]: same over kept positions with a first-seen context
  int64_t* num_scored = nullptr;    // [B]
  int64_t* num_trials = nullptr;    // [B]
  int64_t* num_rows = nullptr;      // [B]: n-grams in the text, max(0, len - ngram_len + 1)
};

void check_config(const Config& c);
void check_ragged(const int64_t* offsets, int64_t B, int64_t n_ids);
// g-values of every n-gram of every text: rows in text order, [rows, depth].
void g_values(const Config& c, const int64_t* ids, int64_t n_ids, const int64_t* offsets, int64_t B,
              uint8_t* out, int64_t out_rows, int num_threads);
// Per n-gram row: rep (1 = context not among the last `history` context hashes), eos (1 = the
// n-gram's last token lies before the text's first EOS).
void masks(const Config& c, const int64_t* ids, int64_t n_ids, const int64_t* offsets, int64_t B,
           uint8_t* rep, uint8_t* eos, int64_t out_rows, int num_threads);
void detect(const Config& c, const int64_t* ids, int64_t n_ids, const int64_t* offsets, int64_t B,
            const DetectOut& out, int num_threads);
// g-values [vocab, depth] of every next token after one (ngram_len - 1)-token context; returns
// the context's hash.
uint64_t vocab_g_values(const Config& c, const int64_t* context, int64_t vocab, uint8_t* out, int num_threads);

// synthid-text g-values [rows, depth] of the n-grams whose hashes (through the last token) are
// h[0..rows): the AVX-512 kernel set (csrc/synthid_avx512.cpp), used when the CPU has it.
namespace avx512 {
void g_rows_text(const uint64_t* h, int64_t rows, const uint64_t* key_mul, int64_t depth, uint8_t* out);
}

}  // namespace sid
}  // namespace fp
