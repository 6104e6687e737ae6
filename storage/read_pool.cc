#include "storage/read_pool.h"

#include <atomic>

namespace mrldb::storage {

struct ReadPool::Call {
  const std::function<void(size_t)>* fn = nullptr;
  size_t n = 0;
  std::atomic<size_t> next{0};  // the next part to claim
  std::mutex mu;
  std::condition_variable done_cv;
  size_t done = 0;  // GUARDED_BY(mu): parts that returned
};

ReadPool::ReadPool(unsigned threads) {
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

ReadPool::~ReadPool() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ReadPool::Work(Call* call) {
  size_t ran = 0;
  for (size_t i; (i = call->next.fetch_add(1)) < call->n; ++ran) (*call->fn)(i);
  if (ran == 0) return;
  std::lock_guard l(call->mu);
  call->done += ran;
  if (call->done == call->n) call->done_cv.notify_all();
}

void ReadPool::Run(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  if (n == 1 || threads_.empty()) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  auto call = std::make_shared<Call>();
  call->fn = &fn;
  call->n = n;
  size_t queued = 0;
  {
    std::lock_guard l(mu_);
    // One queue entry per part a pool thread may take (the caller takes at least one).
    for (size_t i = 1; i < n && i <= threads_.size(); ++i, ++queued) queue_.push_back(call);
  }
  // One thread woken per entry: waking all of them for a few parts only makes them contend.
  for (size_t i = 0; i < queued; ++i) cv_.notify_one();
  Work(call.get());
  std::unique_lock l(call->mu);
  call->done_cv.wait(l, [&] { return call->done == call->n; });
}

void ReadPool::Loop() {
  for (;;) {
    std::shared_ptr<Call> call;
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      call = std::move(queue_.front());
      queue_.pop_front();
    }
    Work(call.get());
  }
}

}  // namespace mrldb::storage
