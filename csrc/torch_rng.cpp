#include "torch_rng.hpp"

#include "dispatch.hpp"
#include "parallel.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace fp {
namespace trng {

namespace {

using BlockFn = void (*)(uint32_t*, uint32_t*);

BlockFn block_fn() {
#if defined(FP_HAVE_X86_KERNELS)
  if (simd_level() >= SIMD_AVX512) return avx512::mt_block;
  if (simd_level() >= SIMD_AVX2) return avx2::mt_block;
#endif
  return generic::mt_block;
}

uint32_t modinv32(uint32_t odd) {
  uint32_t x = odd;  // correct to 3 bits; each Newton step doubles the correct bits
  for (int k = 0; k < 5; ++k) x *= 2u - odd * x;
  return x;
}

}  // namespace

void TorchMT::seed_state(uint32_t seed32) {
  generic::mt_init(s_, seed32);
  pos_ = kMtN;
}

void TorchMT::next_block(uint32_t* out) { block_fn()(s_, out); }

bool in_prefix(uint32_t seed32, uint32_t token, int64_t steps, const PermTable& table) {
#if defined(FP_HAVE_X86_KERNELS)
  if (simd_level() >= SIMD_AVX512) return avx512::in_prefix(seed32, token, steps, table);
  if (simd_level() >= SIMD_AVX2) return avx2::in_prefix(seed32, token, steps, table);
#endif
  return generic::in_prefix(seed32, token, steps, table);
}

void in_prefix8(const uint32_t* seeds32, const uint32_t* tokens, int count, int64_t steps,
                const PermTable& table, uint8_t* out) {
  if (count < 0 || count > 8) throw std::invalid_argument("in_prefix8: count must be in [0, 8]");
#if defined(FP_HAVE_X86_KERNELS)
  if (simd_level() >= SIMD_AVX512) return avx512::in_prefix8(seeds32, tokens, count, steps, table, out);
  if (simd_level() >= SIMD_AVX2) return avx2::in_prefix8(seeds32, tokens, count, steps, table, out);
#endif
  generic::in_prefix8(seeds32, tokens, count, steps, table, out);
}

void in_prefix_multi(uint32_t seed32, const uint32_t* tokens, int count, int64_t steps,
                     const PermTable& table, uint8_t* out) {
  if (count < 0 || count > kMultiMax) throw std::invalid_argument("in_prefix_multi: count out of range");
#if defined(FP_HAVE_X86_KERNELS)
  if (simd_level() >= SIMD_AVX512) return avx512::in_prefix_multi(seed32, tokens, count, steps, table, out);
  if (simd_level() >= SIMD_AVX2) return avx2::in_prefix_multi(seed32, tokens, count, steps, table, out);
#endif
  generic::in_prefix_multi(seed32, tokens, count, steps, table, out);
}

void outputs_at(uint32_t seed32, const uint32_t* idx, int count, uint32_t* out) {
#if defined(FP_HAVE_X86_KERNELS)
  if (simd_level() >= SIMD_AVX512) return avx512::outputs_at(seed32, idx, count, out);
  if (simd_level() >= SIMD_AVX2) return avx2::outputs_at(seed32, idx, count, out);
#endif
  generic::outputs_at(seed32, idx, count, out);
}

void TorchMT::fill(uint32_t* out, int64_t n) {
  int64_t done = 0;
  while (done < n) {
    if (pos_ == kMtN) {
      next_block(buf_);
      pos_ = 0;
    }
    int64_t take = std::min<int64_t>(n - done, kMtN - pos_);
    std::copy(buf_ + pos_, buf_ + pos_ + take, out + done);
    pos_ += static_cast<int>(take);
    done += take;
  }
}

std::shared_ptr<const PermTable> perm_table(int64_t n, int64_t steps) {
  if (n < 2 || n >= kRandpermSmallLimit) throw std::invalid_argument("perm_table: n out of range");
  if (steps < 0 || steps > n - 1) throw std::invalid_argument("perm_table: steps out of range");
  static std::mutex mu;
  static std::map<int64_t, std::shared_ptr<const PermTable>> cache;  // by n, longest table kept
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(n);
  if (it != cache.end() && it->second->steps >= steps) return it->second;
  auto t = std::make_shared<PermTable>();
  t->n = n;
  t->steps = steps;
  t->c.resize(static_cast<size_t>(steps));
  t->inv.assign(static_cast<size_t>(steps) + 16, 1u);  // padded for 16-lane loads
  t->shift.assign(static_cast<size_t>(steps) + 16, 0u);
  t->lim.assign(static_cast<size_t>(steps) + 16, 0u);
  for (int64_t i = 0; i < steps; ++i) {
    const uint32_t d = static_cast<uint32_t>(n - i);
    t->c[size_t(i)] = fastmod_constant(d);
    uint32_t k = 0;
    while (((d >> k) & 1u) == 0) ++k;
    t->shift[size_t(i)] = k;
    t->inv[size_t(i)] = modinv32(d >> k);
    t->lim[size_t(i)] = UINT32_MAX / d;
  }
  if (cache.size() > 64) cache.clear();  // a process rarely uses more than a few vocabularies
  cache[n] = t;
  return t;
}

void randperm(uint64_t seed, int64_t n, int64_t* out) { randperm_prefix(seed, n, n, out); }

void randperm_prefix(uint64_t seed, int64_t n, int64_t k, int64_t* out) {
  if (n < 1 || n >= kRandpermSmallLimit) throw std::invalid_argument("randperm: n out of range");
  if (k < 0 || k > n) throw std::invalid_argument("randperm: k out of range");
  if (n == 1) {
    if (k == 1) out[0] = 0;
    return;
  }
  std::vector<int32_t> r(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) r[size_t(i)] = static_cast<int32_t>(i);
  // The last step (i = n - 1) never draws; entry n-1 is final after step n-2.
  const int64_t steps = std::min<int64_t>(k, n - 1);
  auto table = perm_table(n, steps);
  TorchMT mt(seed);
  uint32_t buf[kMtN];
  for (int64_t base = 0; base < steps; base += kMtN) {
    mt.next_block(buf);
    const int64_t lim = std::min<int64_t>(kMtN, steps - base);
    for (int64_t b = 0; b < lim; ++b) {
      const int64_t i = base + b;
      const uint32_t d = static_cast<uint32_t>(n - i);
      const int64_t j = i + fastmod(buf[b], table->c[size_t(i)], d);
      std::swap(r[size_t(i)], r[size_t(j)]);
    }
  }
  for (int64_t i = 0; i < k; ++i) out[i] = r[size_t(i)];
}

void rand_f32(uint64_t seed, int64_t n, float* out) {
  TorchMT mt(seed);
  uint32_t buf[kMtN];
  for (int64_t base = 0; base < n; base += kMtN) {
    mt.next_block(buf);
    const int64_t lim = std::min<int64_t>(kMtN, n - base);
    for (int64_t b = 0; b < lim; ++b)
      out[base + b] = static_cast<float>(buf[b] & 0xFFFFFFu) * (1.0f / 16777216.0f);
  }
}

PrefixBuilder::PrefixBuilder(std::shared_ptr<const PermTable> table)
    : table_(std::move(table)),
      perm_(static_cast<size_t>(table_->n)),
      mark_(static_cast<size_t>(table_->n), 0u) {
  for (int64_t i = 0; i < table_->n; ++i) perm_[size_t(i)] = static_cast<int32_t>(i);
  touched_.reserve(static_cast<size_t>(table_->steps));
}

void PrefixBuilder::build(uint32_t seed32, int64_t steps) {
  TorchMT mt(seed32);
  uint32_t buf[kMtN];
  const uint32_t n = static_cast<uint32_t>(table_->n);
  const uint64_t* c = table_->c.data();
  int32_t* r = perm_.data();
  touched_.clear();
  for (int64_t base = 0; base < steps; base += kMtN) {
    mt.next_block(buf);
    const uint32_t lim = static_cast<uint32_t>(std::min<int64_t>(kMtN, steps - base));
    for (uint32_t b = 0; b < lim; ++b) {
      const uint32_t i = static_cast<uint32_t>(base) + b;
      const uint32_t j = i + fastmod(buf[b], c[i], n - i);
      std::swap(r[i], r[j]);
      touched_.push_back(static_cast<int32_t>(j));
    }
  }
  built_ = steps;
}

void PrefixBuilder::restore() {
  int32_t* r = perm_.data();
  for (int64_t i = 0; i < built_; ++i) r[i] = static_cast<int32_t>(i);
  for (int32_t j : touched_) r[j] = j;
  touched_.clear();
  built_ = 0;
}

void PrefixBuilder::mark_prefix() {
  if (++stamp_ == 0) {  // wrapped: clear once every 2^32 - 1 builds
    std::fill(mark_.begin(), mark_.end(), 0u);
    stamp_ = 1;
  }
  for (int64_t i = 0; i < built_; ++i) mark_[size_t(perm_[size_t(i)])] = stamp_;
}

namespace {

// Start of each seed's run in sorted keys, plus count.
std::vector<int64_t> seed_groups(const uint64_t* keys, int64_t count) {
  std::vector<int64_t> start;
  for (int64_t i = 0; i < count; ++i)
    if (i == 0 || (keys[i] >> 32) != (keys[i - 1] >> 32)) start.push_back(i);
  start.push_back(count);
  return start;
}

}  // namespace

void prefix_flags_sorted(const uint64_t* keys, int64_t count, int64_t n, int64_t steps, uint8_t* out,
                         int num_threads) {
  if (count <= 0) return;
  const std::vector<int64_t> group_start = seed_groups(keys, count);
  const int64_t n_groups = int64_t(group_start.size()) - 1;
  std::shared_ptr<const PermTable> table = perm_table(n, steps);
  parallel_for(n_groups, num_threads, [&](int64_t g0, int64_t g1) {
    std::unique_ptr<PrefixBuilder> builder;
    uint32_t seeds8[8], toks8[8];
    int64_t where8[8];
    uint8_t res8[8];
    int pending = 0;
    auto flush = [&]() {
      in_prefix8(seeds8, toks8, pending, steps, *table, res8);
      for (int k = 0; k < pending; ++k) out[where8[k]] = res8[k];
      pending = 0;
    };
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t a = group_start[size_t(g)], z = group_start[size_t(g + 1)];
      const uint32_t seed32 = static_cast<uint32_t>(keys[a] >> 32);
      if (z - a == 1) {  // one index for this seed: follow it, eight seeds at a time
        seeds8[pending] = seed32;
        toks8[pending] = static_cast<uint32_t>(keys[a] & 0xFFFFFFFFu);
        where8[pending] = a;
        if (++pending == 8) flush();
        continue;
      }
      if (z - a <= kMultiMax) {  // a few indices: follow each through one shared stream
        uint32_t toks[kMultiMax];
        const int cnt = static_cast<int>(z - a);
        for (int k = 0; k < cnt; ++k) toks[k] = static_cast<uint32_t>(keys[a + k] & 0xFFFFFFFFu);
        in_prefix_multi(seed32, toks, cnt, steps, *table, out + a);
        continue;
      }
      if (!builder) builder = std::make_unique<PrefixBuilder>(table);
      builder->build(seed32, steps);
      builder->mark_prefix();
      for (int64_t u = a; u < z; ++u) out[u] = builder->is_marked(static_cast<uint32_t>(keys[u] & 0xFFFFFFFFu)) ? 1 : 0;
      builder->restore();
    }
    if (pending) flush();
  });
}

void outputs_sorted(const uint64_t* keys, int64_t count, uint32_t* out, int num_threads) {
  if (count <= 0) return;
  const std::vector<int64_t> group_start = seed_groups(keys, count);
  const int64_t n_groups = int64_t(group_start.size()) - 1;
  constexpr int64_t kFew = 64;  // outputs_at scans its indices once per block passed over
  parallel_for(n_groups, num_threads, [&](int64_t g0, int64_t g1) {
    std::vector<uint32_t> idx, buf;
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t a = group_start[size_t(g)], z = group_start[size_t(g + 1)];
      const uint32_t seed32 = static_cast<uint32_t>(keys[a] >> 32);
      idx.resize(size_t(z - a));
      for (int64_t u = a; u < z; ++u) idx[size_t(u - a)] = static_cast<uint32_t>(keys[u] & 0xFFFFFFFFu);
      if (z - a <= kFew) {
        outputs_at(seed32, idx.data(), static_cast<int>(z - a), out + a);
        continue;
      }
      const uint32_t maxi = idx.back();  // sorted within the seed
      buf.resize(size_t(maxi) + 1);
      TorchMT mt(seed32);
      mt.fill(buf.data(), int64_t(maxi) + 1);
      for (int64_t u = a; u < z; ++u) out[u] = buf[idx[size_t(u - a)]];
    }
  });
}

}  // namespace trng
}  // namespace fp
