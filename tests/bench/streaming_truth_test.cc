// The streaming exact top-k of mrldb-bench tiered against a brute force in double precision, for
// every metric, with chunks that do not divide the rows and more threads than one.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

#include "bench/streaming_truth.h"
#include "mrldb/synthetic.h"

namespace mrldb::bench {
namespace {

double Distance(const float* q, const float* x, uint32_t d, Metric m) {
  double dot = 0, qq = 0, xx = 0, l2 = 0;
  for (uint32_t j = 0; j < d; ++j) {
    dot += double{q[j]} * x[j];
    qq += double{q[j]} * q[j];
    xx += double{x[j]} * x[j];
    l2 += (double{q[j]} - x[j]) * (double{q[j]} - x[j]);
  }
  if (m == Metric::kL2) return l2;
  if (m == Metric::kCosine) return 1 - dot / std::sqrt(qq * xx);
  return -dot;
}

class StreamingTruth : public ::testing::TestWithParam<Metric> {};

TEST_P(StreamingTruth, EqualsBruteForce) {
  const Metric metric = GetParam();
  const uint32_t dim = 48, k = 10;
  const size_t rows = 3001, nq = 25;
  SyntheticOptions so;
  so.dim = dim;
  SyntheticGenerator gen(so);
  const std::vector<float> x = gen.Rows(0, rows), q = gen.Queries(0, nq);
  StreamingTruthOptions o;
  o.k = k;
  o.metric = metric;
  o.threads = 3;
  o.chunk_rows = 700;
  uint64_t last_progress = 0;
  o.progress = [&](uint64_t done) { last_progress = done; };
  auto got = StreamingExactTopK([&](uint64_t first, size_t n, float* out) {
    gen.Fill(first, n, out);
  }, rows, dim, q.data(), nq, o);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), nq * k);
  EXPECT_EQ(last_progress, rows);
  size_t same = 0;
  for (size_t i = 0; i < nq; ++i) {
    std::vector<size_t> order(rows);
    std::iota(order.begin(), order.end(), 0);
    std::vector<double> dist(rows);
    for (size_t r = 0; r < rows; ++r) dist[r] = Distance(&q[i * dim], &x[r * dim], dim, metric);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](size_t a, size_t b) {
      return dist[a] < dist[b] || (dist[a] == dist[b] && a < b);
    });
    for (uint32_t j = 0; j < k; ++j) same += (*got)[i * k + j] == static_cast<int64_t>(order[j]);
  }
  // Rank for rank, allowing a float-rounding swap of two near-equal neighbours at most.
  EXPECT_GE(same, nq * k - 2);
}

INSTANTIATE_TEST_SUITE_P(Metrics, StreamingTruth,
                         ::testing::Values(Metric::kCosine, Metric::kInnerProduct, Metric::kL2));

TEST(StreamingTruthErrors, FewerRowsThanKAndBadArguments) {
  const uint32_t dim = 8;
  SyntheticOptions so;
  so.dim = dim;
  SyntheticGenerator gen(so);
  const std::vector<float> q = gen.Queries(0, 2);
  auto fill = [&](uint64_t first, size_t n, float* out) { gen.Fill(first, n, out); };
  StreamingTruthOptions o;
  o.k = 5;
  auto got = StreamingExactTopK(fill, 3, dim, q.data(), 2, o);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)[3], -1);
  EXPECT_EQ((*got)[4], -1);
  EXPECT_GE((*got)[0], 0);
  const std::vector<float> zero(dim, 0.0f);
  EXPECT_TRUE(StreamingExactTopK(fill, 3, dim, zero.data(), 1, o).status().IsInvalidArgument());
  o.k = 0;
  EXPECT_TRUE(StreamingExactTopK(fill, 3, dim, q.data(), 2, o).status().IsInvalidArgument());
}

}  // namespace
}  // namespace mrldb::bench
