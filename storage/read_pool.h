// ReadPool: threads that wait on storage reads, so that one query's re-rank stage keeps several
// reads in flight (docs/architecture.md, "Memory budget": parallel reads). Unlike ThreadPool's
// ParallelFor, any number of callers may run at once: each call's parts are claimed one at a
// time by the pool's threads and by the caller itself, so a call never waits behind another's
// parts that no thread has started, and a busy pool degrades to the caller doing all the work.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace mrldb::storage {

class ReadPool {
 public:
  explicit ReadPool(unsigned threads);
  ~ReadPool();
  ReadPool(const ReadPool&) = delete;
  ReadPool& operator=(const ReadPool&) = delete;

  // Runs fn(i) for every i in [0, n), on the pool's threads and the caller; returns when all
  // have returned. fn must not throw.
  void Run(size_t n, const std::function<void(size_t)>& fn);

 private:
  struct Call;
  void Loop();
  // Claims and runs parts of `call` until none is left. Returns after the last one it ran.
  static void Work(Call* call);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Call>> queue_;  // GUARDED_BY(mu_): calls with parts to hand out
  bool stop_ = false;                        // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace mrldb::storage
