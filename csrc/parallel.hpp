// parallel_for: the one way native code in fingerprint uses threads.
//
// Work [0, n) is cut into `num_threads` contiguous ranges, one per thread, the calling thread
// taking the first. Each range is processed in index order by exactly one thread, so a kernel
// whose item i depends only on its own inputs gives bit-identical results for any thread count.
// The first exception thrown by any range is re-thrown in the caller after all threads joined.
#pragma once

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

}  // namespace fp
