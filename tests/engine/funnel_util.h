// Shared by the funnel and tuning tests: the collection "c" they search (256 dims, two attribute
// columns), synthetic rows for it, and recall against exact search.
#pragma once

#include <set>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "mrldb/database.h"
#include "mrldb/synthetic.h"
#include "tests/test_util.h"

namespace mrldb::funnel_testing {

inline constexpr uint32_t kDim = 256;  // default ladder 16, 32, 64, 128, 256; index_dim 64

inline CollectionSpec Spec(Metric metric) {
  CollectionSpec s;
  s.name = "c";
  s.dim = kDim;
  s.metric = metric;
  s.id_type = IdType::kBigint;
  s.attributes = {{"cat", AttrType::kInt}, {"tag", AttrType::kText}};
  return s;
}

// Row i: cat = i % 100, tag = "even"/"odd", except every 7th row whose tag is NULL.
inline void Fill(Database& db, const SyntheticGenerator& gen, size_t first, size_t n) {
  auto data = gen.Rows(first, n);
  InsertBatch b;
  for (size_t i = 0; i < n; ++i) {
    const size_t row = first + i;
    b.Add(Key{int64_t(row)}, std::span<const float>(data.data() + i * kDim, kDim),
          {Value{int64_t(row % 100)}, row % 7 == 0 ? Value{} : Value{row % 2 ? "odd" : "even"}});
  }
  ASSERT_OK(db.Insert("c", b));
}

inline double Recall(const std::vector<Hit>& got, const std::vector<Hit>& truth) {
  std::set<Key> want;
  for (const Hit& h : truth) want.insert(h.id);
  double hit = 0;
  for (const Hit& h : got) hit += want.count(h.id);
  return truth.empty() ? 1.0 : hit / truth.size();
}

// Mean recall@k of `options` against exact search with the same filter, over nq queries.
// The queries are gen.Queries(first, nq): never stored rows.
inline double MeanRecall(Database& db, const SyntheticGenerator& gen, SearchOptions options,
                         size_t nq, uint64_t first = 0) {
  SearchOptions exact = options;
  exact.plan = SearchPlan::Exact();
  auto qs = gen.Queries(first, nq);
  double sum = 0;
  for (size_t i = 0; i < nq; ++i) {
    std::span<const float> q(qs.data() + i * kDim, kDim);
    auto got = db.Search("c", q, options);
    auto want = db.Search("c", q, exact);
    EXPECT_TRUE(got.ok() && want.ok()) << got.status().ToString() << want.status().ToString();
    if (!got.ok() || !want.ok()) return 0;
    EXPECT_EQ(got->size(), want->size());
    sum += Recall(*got, *want);
  }
  return sum / nq;
}
}  // namespace mrldb::funnel_testing
