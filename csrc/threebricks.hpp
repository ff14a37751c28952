// three_bricks / radioactive-watermark kernels (Fernandez et al. 2023; Sander et al. 2024):
// window seeds of the `hash` seeding, Maryland green flags and Aaronson uniforms, with the
// multi-bit payload shift (payload p looks up token (t + p) mod V). Flags and uniforms are computed
// once per distinct (seed, token) pair, with one generator stream per distinct seed. Inputs are checked again
// here; a bad input raises std::invalid_argument.
#pragma once

#include <cstdint>

namespace fp {
namespace tb {

// Seed of each row of a [n, width] window matrix: s = seed; s = (s * salt + w_j) mod (2^64 - 1)
// for j = 0 .. width-1 (exact 128-bit arithmetic; seed and salt already reduced mod 2^64 - 1).
void hash_seeds(const int64_t* windows, int64_t n, int64_t width, uint64_t seed, uint64_t salt,
                uint64_t* out, int num_threads);

// out[i * P + p] = 1 if token (tokens[i] + p) mod vocab is among the first green_size entries of
// torch.randperm(vocab) after manual_seed(seeds[i]); P = n_payloads.
void maryland_flags(const uint64_t* seeds, const int64_t* tokens, int64_t n, int64_t vocab,
                    int64_t green_size, int64_t n_payloads, uint8_t* out, int num_threads);

// out[i * P + p] = torch.rand(vocab)[(tokens[i] + p) mod vocab] after manual_seed(seeds[i]),
// i.e. (z & 0xFFFFFF) * 2^-24 for that index's 32-bit draw z, as a double (exact).
void aaronson_uniforms(const uint64_t* seeds, const int64_t* tokens, int64_t n, int64_t vocab,
                       int64_t n_payloads, double* out, int num_threads);

}  // namespace tb
}  // namespace fp
