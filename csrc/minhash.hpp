// Document fingerprints: MinHash and SimHash signatures of token n-gram shingles over a ragged
// corpus (token ids + offsets). Inputs are checked again here (offsets monotone within [0, n],
// ids >= 0); a bad input raises std::invalid_argument, never reads out of bounds.
//
// Definitions (fingerprint/minhash.py documents them for users; tests/reference/minhash.py is a
// slow independent implementation that must agree bit for bit):
//   mix64(z)      = splitmix64 finaliser: z ^= z >> 30; z *= 0xBF58476D1CE4E5B9;
//                   z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31   (mod 2^64)
//   shingle hash  = h := 0; for each id x of the n-gram in order: h := mix64(h + x + 0x9E3779B97F4A7C15)
//                   (a document shorter than ngram but not empty has one shingle: all its ids)
//   minhash slot k = min over shingles of (a_k * (h >> 3) + b_k) mod (2^61 - 1)
//   (a_k, b_k)    = from the splitmix64 stream of `seed` (s += 0x9E3779B97F4A7C15; out mix64(s)):
//                   a_k = 1 + next % (2^61 - 2), b_k = next % (2^61 - 1), drawn a_0, b_0, a_1, ...
//   empty document: every slot = 2^64 - 1 (kEmpty), larger than any hash value.
//   simhash bit j (j < bits) = 1 iff sum over shingles of w * (bit j of h ? +1 : -1) > 0.
#pragma once

#include <cstdint>

namespace fp {
namespace mh {

constexpr uint64_t kPrime = (uint64_t(1) << 61) - 1;
constexpr uint64_t kEmpty = ~uint64_t(0);

// Fills a[num_perm], b[num_perm] from `seed`.
void permutations(uint64_t seed, int64_t num_perm, uint64_t* a, uint64_t* b);

// 64-bit shingle hashes of one document's ids [0, len): max(len - ngram + 1, len > 0 ? 1 : 0) values.
int64_t num_shingles(int64_t len, int64_t ngram);
void shingle_hashes(const int64_t* ids, int64_t len, int64_t ngram, uint64_t* out);

// Signatures [B, num_perm] (row-major) of the B = num_docs documents ids[offsets[d]:offsets[d+1]].
void minhash_batch(const int64_t* ids, int64_t n, const int64_t* offsets, int64_t num_docs,
                   int64_t ngram, const uint64_t* a, const uint64_t* b, int64_t num_perm,
                   uint64_t* out, int num_threads);

// SimHash [B] of the same shingles; weights (length n, may be null = 1 each): a shingle weighs
// the weight of its first position.
void simhash_batch(const int64_t* ids, int64_t n, const int64_t* offsets, int64_t num_docs,
                   int64_t ngram, int bits, const double* weights, uint64_t* out, int num_threads);

}  // namespace mh
}  // namespace fp
