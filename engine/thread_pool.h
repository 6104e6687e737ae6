// A fixed pool of worker threads with one blocking primitive, ParallelFor.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mrldb {

class ThreadPool {
 public:
  // `threads` workers in all, counting the caller of ParallelFor (so threads - 1 are spawned).
  // 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(unsigned threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned size() const { return static_cast<unsigned>(workers_.size()) + 1; }

  // Runs fn(i) for i in [0, n), spread over the pool and the calling thread; returns when all
  // are done. Concurrent ParallelFor calls are serialized. fn must not throw.
  // `grain` indices per hand-out: 1 balances costly items (searches); cheap ones (microseconds:
  // a batch's query checks, its hits) take more, or the pool's mutex becomes their bottleneck.
  void ParallelFor(size_t n, const std::function<void(size_t)>& fn, size_t grain = 1);

 private:
  void WorkerLoop();
  void RunTasks();

  std::mutex run_mu_;  // one ParallelFor at a time
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  const std::function<void(size_t)>* fn_ = nullptr;  // GUARDED_BY(mu_)
  size_t n_ = 0, next_ = 0, finished_ = 0, chunk_ = 1;  // GUARDED_BY(mu_)
  uint64_t generation_ = 0;                            // GUARDED_BY(mu_)
  bool stop_ = false;                                  // GUARDED_BY(mu_)
  std::vector<std::thread> workers_;
};

}  // namespace mrldb
