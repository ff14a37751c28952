// Green-list watermark kernels: KGW (transformers / lm-watermarking seeding) and Unigram counts.
// Inputs are checked again here (token ids against the vocabulary, offsets); a bad input raises
// std::invalid_argument with a message, never reads out of bounds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fp {
namespace wm {

// Pseudo-random functions of a window of token ids, as lm-watermarking's alternative_prf_schemes
// defines them, with torch's int64 (wrap-around) arithmetic where torch does the arithmetic and
// exact integers where Python does.
enum Prf : int {
  PRF_ADDITIVE = 0,          // key * sum(w)                       (exact)
  PRF_MULTIPLICATIVE = 1,    // key * prod(w)       prod in int64, product with key exact
  PRF_MINFUNC = 2,           // key * min(w)                       (exact)
  PRF_SIMPLE_SKIP = 3,       // prod(hashint(key * w[::2]))        int64
  PRF_SKIPGRAM = 4,          // hashint(key * w[0])
  PRF_ANCHORED_SKIPGRAM = 5, // hashint(key * w[0]) * hashint(key * w[-1])
  PRF_MINHASH = 6,           // min(hashint(key * w))
  PRF_ANCHORED_MINHASH = 7,  // min(key * hashint(w) * hashint(w[-1]))   int64, signed min
  PRF_MINSKIPGRAM = 8,       // min over pairs i<j of hashint(key*w_i) * hashint(key*w_j)
  PRF_NONCOMM = 9,           // k = key; k = (k * hashint(k * w_i)) mod 2^32 for each w_i
  PRF_POSITION = 10,         // sum(key * w * [1..h])              int64
  PRF_COUNT = 11
};

constexpr int64_t kHashTableSize = 1000003;

struct KgwConfig {
  int prf = PRF_ADDITIVE;
  int64_t prf_width = 1;   // tokens fed to the PRF: the last prf_width of the prefix
  int64_t ngram_len = 2;   // scored unit: n-gram ending at the scored token
  int64_t min_len = 2;     // shorter texts (after BOS removal) are not scored (the libraries raise)
  bool self_salt = false;  // prefix includes the scored token itself
  uint64_t key = 15485863; // hash key, < 2^63
  int64_t vocab = 0;
  int64_t green_size = 0;  // int(vocab * gamma)
  bool select_head = true; // green = first green_size entries of randperm (else the last)
  const int32_t* table = nullptr;  // hashint table: randperm(1000003) for its seed (or null)
  bool ignore_repeated = true;
  int64_t bos = -1;        // strip one leading token equal to this id (-1: never)
};

// Throws std::invalid_argument for an inconsistent configuration.
void check_config(const KgwConfig& cfg);

// The seed passed to manual_seed: PRF(window) mod (2^64 - 1), in [0, 2^64 - 2].
uint64_t kgw_seed(const KgwConfig& cfg, const int64_t* window, int64_t width);

struct KgwBatchOut {
  // per text
  int64_t* num_scored = nullptr;      // as the library counts (n-grams, unique or not)
  int64_t* num_green = nullptr;
  int64_t* num_trials = nullptr;      // distinct (seed, token) pairs (all positions if !ignore_repeated)
  int64_t* num_green_trials = nullptr;
  int64_t* num_repeated = nullptr;    // scored positions whose (seed, token) pair occurred earlier
  uint8_t* too_short = nullptr;
  // per position (length of ids) or null
  uint8_t* green_mask = nullptr;      // token green for its context (0 at unscored positions)
  uint8_t* counted_mask = nullptr;    // position counted in num_scored
};

void kgw_detect_batch(const KgwConfig& cfg, const int64_t* ids, int64_t n_ids, const int64_t* offsets,
                      int64_t n_texts, const KgwBatchOut& out, int num_threads);

// Seeds (mod 2^64 - 1) of every scored position of one text (after BOS removal), for tests.
std::vector<uint64_t> kgw_position_seeds(const KgwConfig& cfg, const int64_t* ids, int64_t n);

// Green flags of (seed32, token) pairs, parallel over pairs.
void green_membership(const uint32_t* seeds32, const int64_t* tokens, int64_t n, int64_t vocab,
                      int64_t green_size, bool select_head, uint8_t* out, int num_threads);

// The green list for seed32, in permutation order (head: first green_size entries of randperm;
// tail: the last green_size entries).
void green_list(uint32_t seed32, int64_t vocab, int64_t green_size, bool select_head, int64_t* out);

// Unigram counts: per text, total tokens, green tokens, unique tokens, green unique tokens.
void unigram_counts(const uint8_t* green, int64_t vocab, const int64_t* ids, int64_t n_ids,
                    const int64_t* offsets, int64_t n_texts, int64_t* total, int64_t* green_total,
                    int64_t* unique, int64_t* green_unique, int num_threads);

}  // namespace wm
}  // namespace fp
