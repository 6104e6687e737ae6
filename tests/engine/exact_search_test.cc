// Exact search equals a naive reference implementation (double precision) for every metric,
// at ladder and off-ladder prefixes, with deletions, across several cache chunks.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "engine/top_k.h"
#include "mrldb/database.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::TempDir;

double NaiveDistance(Metric m, const float* q, const float* x, uint32_t dims) {
  double dot = 0, qq = 0, xx = 0, l2 = 0;
  for (uint32_t d = 0; d < dims; ++d) {
    dot += double{q[d]} * x[d];
    qq += double{q[d]} * q[d];
    xx += double{x[d]} * x[d];
    l2 += (double{q[d]} - x[d]) * (double{q[d]} - x[d]);
  }
  switch (m) {
    case Metric::kL2: return std::sqrt(l2);
    case Metric::kInnerProduct: return -dot;
    default: return xx > 0 ? 1.0 - dot / std::sqrt(qq * xx) : 1.0;
  }
}

struct Case {
  Metric metric;
  uint32_t dims;
};

class ExactSearchTest : public ::testing::TestWithParam<Case> {};

void CheckAgainstNaive(Database& db, const std::string& name, Metric metric, uint32_t dim,
                       uint32_t dims, const std::vector<float>& data, size_t rows,
                       const std::vector<bool>& deleted, const std::vector<float>& queries,
                       size_t nq, uint32_t k) {
  for (size_t qi = 0; qi < nq; ++qi) {
    const float* q = queries.data() + qi * dim;
    std::vector<std::pair<double, int64_t>> ref;
    std::map<int64_t, double> truth;
    for (size_t r = 0; r < rows; ++r) {
      if (deleted[r]) continue;
      double d = NaiveDistance(metric, q, data.data() + r * dim, dims);
      ref.push_back({d, int64_t(r)});
      truth[int64_t(r)] = d;
    }
    std::sort(ref.begin(), ref.end());
    ExactSearchOptions o;
    o.k = k;
    o.dims = dims;
    auto hits = db.ExactSearch(name, std::span<const float>(q, dim), o);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    ASSERT_EQ(hits->size(), std::min<size_t>(k, ref.size()));
    const double tol = 2e-4 * (1 + std::fabs(ref.front().first));
    for (size_t i = 0; i < hits->size(); ++i) {
      const Hit& h = (*hits)[i];
      int64_t id = std::get<int64_t>(h.id);
      ASSERT_TRUE(truth.count(id)) << "returned a deleted or unknown row " << id;
      // Each returned row has the distance it claims, and the i-th distance is the i-th best:
      // together, the hits are a correct top-k (up to exact ties).
      EXPECT_NEAR(h.distance, truth[id], tol) << "query " << qi << " hit " << i;
      EXPECT_NEAR(h.distance, ref[i].first, tol) << "query " << qi << " rank " << i;
      if (i > 0) {
        EXPECT_LE((*hits)[i - 1].distance, h.distance);
      }
    }
  }
}

TEST_P(ExactSearchTest, MatchesNaiveReference) {
  const Case c = GetParam();
  constexpr uint32_t kDim = 96;
  constexpr size_t kRows = 3000;
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path());
  CollectionSpec s;
  s.name = "c";
  s.dim = kDim;
  s.granularities = {16, 32, 64, 96};
  s.metric = c.metric;
  s.id_type = IdType::kBigint;
  ASSERT_OK(db->CreateCollection(s));
  auto data = testing::RandomVectors(kRows, kDim, 11);
  for (size_t first = 0; first < kRows; first += 700) {
    InsertBatch b;
    for (size_t r = first; r < std::min(kRows, first + 700); ++r) {
      b.Add(Key{int64_t(r)}, std::span<const float>(data.data() + r * kDim, kDim));
    }
    ASSERT_OK(db->Insert("c", b));
  }
  std::vector<bool> deleted(kRows, false);
  std::vector<Key> del;
  for (size_t r = 0; r < kRows; r += 7) {
    deleted[r] = true;
    del.push_back(Key{int64_t(r)});
  }
  ASSERT_EQ(*db->Delete("c", del), del.size());
  auto queries = testing::RandomVectors(5, kDim, 12);
  CheckAgainstNaive(*db, "c", c.metric, kDim, c.dims, data, kRows, deleted, queries, 5, 10);
  CheckAgainstNaive(*db, "c", c.metric, kDim, c.dims, data, kRows, deleted, queries, 1, 1);
  // k larger than the collection returns every live row.
  CheckAgainstNaive(*db, "c", c.metric, kDim, c.dims, data, kRows, deleted, queries, 1, 5000);
}

INSTANTIATE_TEST_SUITE_P(
    MetricsAndPrefixes, ExactSearchTest,
    ::testing::Values(Case{Metric::kCosine, 16}, Case{Metric::kCosine, 24}, Case{Metric::kCosine, 64},
                      Case{Metric::kCosine, 96}, Case{Metric::kInnerProduct, 16},
                      Case{Metric::kInnerProduct, 50}, Case{Metric::kInnerProduct, 96},
                      Case{Metric::kL2, 32}, Case{Metric::kL2, 70}, Case{Metric::kL2, 96}),
    [](const ::testing::TestParamInfo<Case>& p) {
      return std::string(MetricName(p.param.metric)) + "_at_" + std::to_string(p.param.dims);
    });

// The per-chunk lists of a scan are folded with MergeBest: it must keep what a TopK fed every
// candidate keeps, ties (equal distances) broken by row as there.
TEST(ExactSearch, MergeBestKeepsWhatATopKKeeps) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> dist(0, 20);  // few distinct distances: many ties
  for (size_t limit : {1, 5, 40}) {
    for (int trial = 0; trial < 50; ++trial) {
      TopK a_top(limit), b_top(limit), all(limit);
      uint64_t row = 0;
      for (int i = 0; i < 30; ++i, ++row) {
        const float d = float(dist(rng));
        (i % 3 ? a_top : b_top).Push(d, row);
        all.Push(d, row);
      }
      const auto a = a_top.TakeSorted(), b = b_top.TakeSorted(), want = all.TakeSorted();
      const auto got = MergeBest(a, b, limit);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].row, want[i].row) << "limit " << limit << ", position " << i;
        EXPECT_EQ(got[i].distance, want[i].distance);
      }
    }
  }
}

TEST(ExactSearch, ManyChunksInParallel) {
  constexpr uint32_t kDim = 24;
  constexpr size_t kRows = 40000;  // > 2 cache chunks
  TempDir dir;
  DatabaseOptions o;
  o.threads = 3;
  auto db = testing::OpenOrDie(dir.path(), o);
  CollectionSpec s;
  s.name = "c";
  s.dim = kDim;
  s.granularities = {8, 24};
  s.metric = Metric::kL2;
  s.id_type = IdType::kBigint;
  ASSERT_OK(db->CreateCollection(s));
  auto data = testing::RandomVectors(kRows, kDim, 21);
  for (size_t first = 0; first < kRows; first += 10000) {
    InsertBatch b;
    for (size_t r = first; r < first + 10000; ++r) {
      b.Add(Key{int64_t(r)}, std::span<const float>(data.data() + r * kDim, kDim));
    }
    ASSERT_OK(db->Insert("c", b));
  }
  std::vector<bool> deleted(kRows, false);
  auto queries = testing::RandomVectors(3, kDim, 22);
  CheckAgainstNaive(*db, "c", Metric::kL2, kDim, 24, data, kRows, deleted, queries, 3, 25);
  CheckAgainstNaive(*db, "c", Metric::kL2, kDim, 8, data, kRows, deleted, queries, 3, 25);
  // The same after reopen, from the cache rebuilt out of storage.
  ASSERT_OK(db->Close());
  db = testing::OpenOrDie(dir.path(), o);
  CheckAgainstNaive(*db, "c", Metric::kL2, kDim, 24, data, kRows, deleted, queries, 3, 25);
}

TEST(ExactSearch, ReturnsRequestedAttributesAndQueryMayBePrefixLength) {
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path());
  CollectionSpec s;
  s.name = "c";
  s.dim = 32;
  s.metric = Metric::kL2;
  s.attributes = {{"title", AttrType::kText}, {"year", AttrType::kInt}};
  ASSERT_OK(db->CreateCollection(s));
  InsertBatch b;
  std::vector<float> a(32, 0.0f), far(32, 5.0f);
  b.Add(Key{"near"}, a, {Value{"N"}, Value{int64_t{2020}}});
  b.Add(Key{"far"}, far, {Value{"F"}, Value{}});
  ASSERT_OK(db->Insert("c", b));
  ExactSearchOptions o;
  o.k = 2;
  o.dims = 16;
  o.attributes = {"year", "title"};
  std::vector<float> q(16, 0.1f);  // a 16-value query for a 16-dim search
  auto hits = db->ExactSearch("c", q, o);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_EQ((*hits)[0].id, Key{"near"});
  EXPECT_EQ((*hits)[0].attributes, (std::vector<Value>{Value{int64_t{2020}}, Value{"N"}}));
  EXPECT_EQ((*hits)[1].attributes, (std::vector<Value>{Value{}, Value{"F"}}));
  EXPECT_NEAR((*hits)[0].distance, std::sqrt(16 * 0.01), 1e-5);
}

// A stored vector's distance to itself is 0, never a rounding error below it (cosine printed
// -3.6e-08): exact search and the funnel's re-rank clamp cosine and L2 distances at 0.
TEST(ExactSearch, CosineAndL2DistancesAreNeverNegative) {
  constexpr uint32_t kDim = 8;
  constexpr size_t kRows = 200;
  for (Metric metric : {Metric::kCosine, Metric::kL2}) {
    TempDir dir;
    auto db = testing::OpenOrDie(dir.path());
    CollectionSpec s;
    s.name = "c";
    s.dim = kDim;
    s.metric = metric;
    s.id_type = IdType::kBigint;
    ASSERT_OK(db->CreateCollection(s));
    auto data = testing::RandomVectors(kRows, kDim, 5);
    InsertBatch b;
    for (size_t r = 0; r < kRows; ++r) {
      b.Add(Key{int64_t(r)}, std::span<const float>(data.data() + r * kDim, kDim));
    }
    ASSERT_OK(db->Insert("c", b));
    ASSERT_OK(db->WaitForIndexing());
    size_t negative = 0;
    for (size_t r = 0; r < kRows; ++r) {
      std::span<const float> q(data.data() + r * kDim, kDim);
      ExactSearchOptions eo;
      eo.k = 1;
      auto exact = db->ExactSearch("c", q, eo);
      ASSERT_TRUE(exact.ok()) << exact.status().ToString();
      SearchOptions so;
      so.k = 1;
      auto funnel = db->Search("c", q, so);
      ASSERT_TRUE(funnel.ok()) << funnel.status().ToString();
      for (const auto* hits : {&*exact, &*funnel}) {
        ASSERT_EQ(hits->size(), 1u);
        EXPECT_EQ((*hits)[0].id, Key{int64_t(r)});
        negative += (*hits)[0].distance < 0;
      }
    }
    EXPECT_EQ(negative, 0u) << MetricName(metric);
  }
}

}  // namespace
}  // namespace mrldb
