#include "engine/thread_pool.h"

#include <algorithm>

namespace mrldb {

ThreadPool::ThreadPool(unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::RunTasks() {
  // REQUIRES: mu_ not held.
  for (;;) {
    size_t begin, end;
    const std::function<void(size_t)>* fn;
    {
      // Indices go out `grain` at a time (ParallelFor).
      std::lock_guard<std::mutex> l(mu_);
      if (fn_ == nullptr || next_ >= n_) return;
      begin = next_;
      end = std::min(n_, begin + chunk_);
      next_ = end;
      fn = fn_;
    }
    for (size_t i = begin; i < end; ++i) (*fn)(i);
    std::lock_guard<std::mutex> l(mu_);
    finished_ += end - begin;
    if (finished_ == n_) done_cv_.notify_all();
  }
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      work_cv_.wait(l, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    RunTasks();
  }
}

void ThreadPool::ParallelFor(size_t n, const std::function<void(size_t)>& fn, size_t grain) {
  if (n == 0) return;
  if (n == 1 || workers_.empty()) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::lock_guard<std::mutex> run(run_mu_);
  {
    std::lock_guard<std::mutex> l(mu_);
    fn_ = &fn;
    n_ = n;
    chunk_ = std::max<size_t>(1, grain);
    next_ = 0;
    finished_ = 0;
    ++generation_;
  }
  work_cv_.notify_all();
  RunTasks();
  std::unique_lock<std::mutex> l(mu_);
  done_cv_.wait(l, [&] { return finished_ == n_; });
  fn_ = nullptr;
}

}  // namespace mrldb
