// parallel_for: the one way native code in fingerprint uses threads.
//
// Work [0, n) is cut into `num_threads` contiguous ranges, one per thread, the calling thread
// taking the first. Each range is processed in index order by exactly one thread, so a kernel
// whose item i depends only on its own inputs gives bit-identical results for any thread count.
// The first exception thrown by any range is re-thrown in the caller after all threads joined.
//
// parallel_for_chunks is the same with ranges of `chunk` items handed out in order to whichever
// thread is free (an atomic counter), for kernels of independent items on machines whose cores
// are shared: a thread that gets less CPU takes fewer ranges. Which thread computes an item
// changes from run to run, its result does not.
#pragma once

#include <atomic>
#include <algorithm>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace fp {

template <class Fn>
void parallel_for(int64_t n, int num_threads, Fn&& fn) {
  if (n <= 0) return;
  int64_t t = std::max<int64_t>(1, std::min<int64_t>(num_threads, n));
  if (t == 1) {
    fn(int64_t(0), n);
    return;
  }
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto run = [&](int64_t begin, int64_t end) {
    try {
      fn(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
    }
  };
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(t - 1));
  const int64_t base = n / t, extra = n % t;
  int64_t begin = base + (extra > 0 ? 1 : 0);  // range 0 is run by the calling thread
  for (int64_t i = 1; i < t; ++i) {
    int64_t len = base + (i < extra ? 1 : 0);
    workers.emplace_back(run, begin, begin + len);
    begin += len;
  }
  run(0, base + (extra > 0 ? 1 : 0));
  for (auto& w : workers) w.join();
  if (first_error) std::rethrow_exception(first_error);
}

template <class Fn>
void parallel_for_chunks(int64_t n, int num_threads, int64_t chunk, Fn&& fn) {
  if (n <= 0) return;
  chunk = std::max<int64_t>(1, chunk);
  const int64_t ranges = (n + chunk - 1) / chunk;
  const int t = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, ranges)));
  std::atomic<int64_t> next{0};
  parallel_for(t, t, [&](int64_t, int64_t) {
    for (;;) {
      const int64_t b = next.fetch_add(chunk, std::memory_order_relaxed);
      if (b >= n) break;
      fn(b, std::min(n, b + chunk));
    }
  });
}

}  // namespace fp
