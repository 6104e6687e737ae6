// A float32 graph's distances are the scores at the index prefix (Collection::SeedFromGraph):
// the funnel leaves out the re-rank at those dims and its results are what re-ranking the
// graph's candidates at full dims gives, with exact distances, for every metric.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mrldb/database.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

constexpr uint32_t kDim = 64, kIndex = 16, kRows = 3000, kKeep = 40, kEf = 60;

using testing::NaiveDistance;

class GraphSeed : public ::testing::TestWithParam<Metric> {};

TEST_P(GraphSeed, FunnelEqualsTheGraphsCandidatesReRankedAtFullDims) {
  const Metric metric = GetParam();
  testing::TempDir dir;
  DatabaseOptions o;
  o.auto_tune = false;
  o.info_log = [](std::string_view) {};
  auto db = testing::OpenOrDie(dir.path(), o);
  CollectionSpec s;
  s.name = "c";
  s.dim = kDim;
  s.granularities = {8, 16, 32, 64};
  s.index_dim = kIndex;
  s.metric = metric;
  s.id_type = IdType::kBigint;
  ASSERT_OK(db->CreateCollection(s));
  const auto v = testing::RandomVectors(kRows, kDim, 11);
  InsertBatch b;
  for (uint32_t i = 0; i < kRows; ++i) {
    b.Add(Key{int64_t{i}}, std::span<const float>(v.data() + size_t{i} * kDim, kDim), {});
  }
  ASSERT_OK(db->Insert("c", b));
  ASSERT_OK(db->WaitForIndexing({}));
  const auto queries = testing::RandomVectors(20, kDim, 12);
  for (size_t qi = 0; qi < 20; ++qi) {
    const float* q = queries.data() + qi * kDim;
    const std::span<const float> query(q, kDim);
    // The graph's candidates: its best kKeep at the index prefix, with their distances there.
    SearchOptions prefix;
    prefix.k = kKeep;
    prefix.plan = SearchPlan::Prefix(kIndex, kEf);
    auto cands = db->Search("c", query, prefix);
    ASSERT_TRUE(cands.ok()) << cands.status().ToString();
    ASSERT_EQ(cands->size(), kKeep);
    std::vector<std::pair<double, int64_t>> full;
    for (const Hit& h : *cands) {
      const int64_t id = std::get<int64_t>(h.id);
      const float* x = v.data() + size_t(id) * kDim;
      EXPECT_NEAR(h.distance, NaiveDistance(metric, q, x, kIndex), 2e-5 * (1 + std::abs(h.distance)));
      full.push_back({NaiveDistance(metric, q, x, kDim), id});
    }
    std::sort(full.begin(), full.end());
    // The funnel from the same graph walk: stage 0's re-rank comes from the graph.
    SearchOptions funnel;
    funnel.k = 10;
    funnel.plan = SearchPlan::Funnel({{kIndex, kKeep}, {kDim, 10}}, kEf);
    SearchStats stats;
    auto hits = db->Search("c", query, funnel, &stats);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    ASSERT_EQ(hits->size(), 10u);
    for (size_t i = 0; i < 10; ++i) {
      EXPECT_EQ(std::get<int64_t>((*hits)[i].id), full[i].second) << "query " << qi << " hit " << i;
      EXPECT_NEAR((*hits)[i].distance, full[i].first, 2e-5 * (1 + std::abs(full[i].first)));
    }
    ASSERT_EQ(stats.stages.size(), 3u);
    EXPECT_EQ(stats.stages[0].method, "hnsw");
    EXPECT_EQ(stats.stages[1].method, "rerank");
    EXPECT_EQ(stats.stages[1].dims, kIndex);
    EXPECT_EQ(stats.stages[1].device, "graph");
    EXPECT_EQ(stats.stages[1].bytes_read, 0u);
    EXPECT_EQ(stats.stages[2].dims, kDim);
  }
}

INSTANTIATE_TEST_SUITE_P(Metrics, GraphSeed,
                         ::testing::Values(Metric::kCosine, Metric::kInnerProduct, Metric::kL2),
                         [](const auto& p) {
                           return std::string(p.param == Metric::kCosine ? "Cosine"
                                              : p.param == Metric::kL2   ? "L2"
                                                                            : "InnerProduct");
                         });

}  // namespace
}  // namespace mrldb
