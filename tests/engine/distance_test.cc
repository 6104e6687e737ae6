#include <gtest/gtest.h>

#include "engine/distance.h"
#include "engine/thread_pool.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

TEST(Distance, SimdKernelsMatchScalarForEveryLength) {
  const DistanceKernels& fast = Kernels();
  const DistanceKernels& ref = ScalarKernels();
  SCOPED_TRACE(fast.name);
  auto a = testing::RandomVectors(1, 300, 1), b = testing::RandomVectors(1, 300, 2);
  for (size_t len = 0; len <= 300; ++len) {
    EXPECT_NEAR(fast.dot(a.data(), b.data(), len), ref.dot(a.data(), b.data(), len), 1e-4) << len;
    EXPECT_NEAR(fast.l2sqr(a.data(), b.data(), len), ref.l2sqr(a.data(), b.data(), len), 1e-3) << len;
  }
  // Row kernels accumulate into `out` over strided rows.
  auto x = testing::RandomVectors(7, 40, 3);
  std::vector<float> got(7, 1.0f), want(7, 1.0f);
  fast.dot_rows(a.data(), x.data(), 7, 40, 33, got.data());
  ref.dot_rows(a.data(), x.data(), 7, 40, 33, want.data());
  for (int r = 0; r < 7; ++r) EXPECT_NEAR(got[r], want[r], 1e-4);
  fast.l2_rows(a.data(), x.data(), 7, 40, 33, got.data());
  ref.l2_rows(a.data(), x.data(), 7, 40, 33, want.data());
  for (int r = 0; r < 7; ++r) EXPECT_NEAR(got[r], want[r], 1e-3);
}

TEST(ThreadPool, RunsEveryIndexExactlyOnce) {
  ThreadPool pool(4);
  for (size_t n : {size_t{0}, size_t{1}, size_t{3}, size_t{1000}}) {
    std::vector<std::atomic<int>> hits(n);
    pool.ParallelFor(n, [&](size_t i) { hits[i]++; });
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << i;
  }
  // Concurrent callers are serialized, not mixed.
  std::atomic<long> sum{0};
  std::thread t([&] { pool.ParallelFor(500, [&](size_t i) { sum += long(i); }); });
  pool.ParallelFor(500, [&](size_t i) { sum += long(i); });
  t.join();
  EXPECT_EQ(sum.load(), 2 * 499 * 500 / 2);
}

}  // namespace
}  // namespace mrldb
