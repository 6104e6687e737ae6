// Timing, threading and memory helpers of mrldb-bench.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mrldb/status.h"

namespace mrldb::bench {

using Clock = std::chrono::steady_clock;

// The median of `v` (the upper one for an even count; 0 for none): benchmarks quote medians.
inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

inline double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Resident set size of this process in MiB (/proc/self/statm; 0 where unavailable).
inline double RssMiB() {
  long size = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
  std::fclose(f);
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

// Runs fn(i) for i in [0, n) on `threads` threads (the caller's included), dynamically
// scheduled. An exception thrown by fn stops the loop and comes back as an Internal status.
template <class Fn>
Status ParallelFor(size_t n, unsigned threads, Fn&& fn) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::string error;
  auto work = [&] {
    try {
      for (size_t i = next++; i < n; i = next++) fn(i);
    } catch (const std::exception& e) {
      std::lock_guard lock(mu);
      if (error.empty()) error = e.what();
      next = n;
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < std::min<size_t>(threads, n); ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return error.empty() ? Status::Ok() : Status::Internal(error);
}

// Mean over the first nq queries of |got ∩ truth| / |truth| (nq x k ids each; -1 entries of
// truth do not count, and a query with none counts 1).
inline double RecallAtK(const std::vector<int64_t>& got, const std::vector<int64_t>& truth,
                        size_t nq, size_t k) {
  double sum = 0;
  for (size_t q = 0; q < nq; ++q) {
    size_t valid = 0, hits = 0;
    for (size_t i = 0; i < k; ++i) {
      if (truth[q * k + i] < 0) continue;
      ++valid;
      for (size_t j = 0; j < k; ++j) hits += got[q * k + j] == truth[q * k + i];
    }
    sum += valid ? static_cast<double>(hits) / valid : 1.0;
  }
  return nq ? sum / nq : 0;
}

// One measurement: queries answered and queries per second.
struct Timing {
  size_t done = 0;
  double qps = 0;
};

// Calls run(first, count) -> Status over consecutive ranges of `round` queries of [0, nq), after
// an untimed warm-up run(0, min(round, 16)); with budget_s > 0, stops after the range during
// which budget_s seconds have passed. Returns the first error of `run`.
template <class Fn>
Result<Timing> Timed(size_t nq, size_t round, double budget_s, Fn&& run) {
  MRLDB_RETURN_IF_ERROR(run(0, std::min({round, nq, size_t{16}})));
  const auto t0 = Clock::now();
  size_t done = 0;
  while (done < nq) {
    const size_t count = std::min(round, nq - done);
    MRLDB_RETURN_IF_ERROR(run(done, count));
    done += count;
    if (budget_s > 0 && Since(t0) > budget_s) break;
  }
  return Timing{done, done / std::max(Since(t0), 1e-9)};
}

}  // namespace mrldb::bench
