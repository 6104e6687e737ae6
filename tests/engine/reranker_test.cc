// The CPU reranker (the source of truth the GPU is compared with) against a plain double
// precision reference: odd block widths, empty candidate lists, keep larger than the list,
// every metric, two stages in a row.
#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "engine/column_cache.h"
#include "engine/reranker.h"
#include "tests/engine/rerank_reference.h"

namespace mrldb {
namespace {

class CpuRerankerTest : public ::testing::TestWithParam<Metric> {};

TEST_P(CpuRerankerTest, MatchesDoublePrecisionReference) {
  const Metric metric = GetParam();
  const std::vector<uint32_t> ladder = {3, 8, 13, 29};
  testing::RerankFixture f(ladder, /*rows=*/500, /*queries=*/9, /*seed=*/7);
  CpuReranker reranker(f.cache, metric, BlockStorage{});
  // Query 0: no candidates; query 1: 5 candidates, keep 40; the rest: 0..120 random rows.
  CandidateLists lists = f.RandomCandidates({0, 5}, 120, /*seed=*/11);
  std::vector<std::vector<uint64_t>> expect = f.ListRows(lists);
  uint32_t done = 0;
  for (auto [dims, keep] : std::vector<std::pair<uint32_t, uint32_t>>{{8, 40}, {29, 7}}) {
    std::vector<double> q_sq = f.QuerySqNorms(dims);
    RerankArgs args{f.queries.data(), f.dim, q_sq.data(), done, dims, keep};
    RerankSplit split;
    ASSERT_TRUE(reranker.Rerank(args, &lists, &split).ok());
    EXPECT_EQ(split.gpu, 0u);
    done = dims;
    for (size_t q = 0; q < f.nq; ++q) {
      SCOPED_TRACE(::testing::Message() << "query " << q << " dims " << dims);
      auto want = f.Reference(metric, q, expect[q], dims, keep);
      std::vector<Candidate> got = lists.Query(q);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].row, want[i].row) << "rank " << i;
        EXPECT_NEAR(got[i].distance, want[i].distance, 1e-4 * (1 + std::fabs(want[i].distance)));
      }
      expect[q].clear();
      for (const Candidate& c : want) expect[q].push_back(c.row);
    }
  }
  EXPECT_EQ(lists.Query(0).size(), 0u);
  EXPECT_EQ(lists.Query(1).size(), 5u);
}

INSTANTIATE_TEST_SUITE_P(Metrics, CpuRerankerTest,
                         ::testing::Values(Metric::kCosine, Metric::kInnerProduct, Metric::kL2),
                         [](const ::testing::TestParamInfo<Metric>& p) {
                           return std::string(MetricName(p.param));
                         });

}  // namespace
}  // namespace mrldb
