#include <algorithm>

#include <gtest/gtest.h>

#include "mrldb/synthetic.h"

namespace mrldb {
namespace {

TEST(Synthetic, DeterministicAndChunkInvariant) {
  SyntheticOptions o;
  o.dim = 64;
  SyntheticGenerator a(o), b(o);
  auto whole = a.Rows(0, 10);
  auto first = b.Rows(0, 4), rest = b.Rows(4, 6);
  first.insert(first.end(), rest.begin(), rest.end());
  EXPECT_EQ(whole, first);
  o.seed = 43;
  EXPECT_NE(SyntheticGenerator(o).Rows(0, 10), whole);
  EXPECT_NE(a.Queries(0, 1), a.Rows(0, 1));
}

// Fraction of the exact 10 nearest neighbours at full dimension that are also among the 10
// nearest at the prefix `g` (squared L2), averaged over queries.
double PrefixAgreement(const SyntheticGenerator& gen, uint32_t g) {
  const uint32_t dim = gen.options().dim;
  const size_t n = 2000, nq = 20, k = 10;
  auto rows = gen.Rows(0, n);
  auto qs = gen.Queries(0, nq);
  auto knn = [&](const float* q, uint32_t dims) {
    std::vector<std::pair<float, size_t>> d(n);
    for (size_t r = 0; r < n; ++r) {
      float s = 0;
      for (uint32_t i = 0; i < dims; ++i) {
        float t = q[i] - rows[r * dim + i];
        s += t * t;
      }
      d[r] = {s, r};
    }
    std::partial_sort(d.begin(), d.begin() + k, d.end());
    std::vector<size_t> ids;
    for (size_t i = 0; i < k; ++i) ids.push_back(d[i].second);
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  double hit = 0;
  for (size_t qi = 0; qi < nq; ++qi) {
    auto full = knn(qs.data() + qi * dim, dim), pre = knn(qs.data() + qi * dim, g);
    std::vector<size_t> both;
    std::set_intersection(full.begin(), full.end(), pre.begin(), pre.end(),
                          std::back_inserter(both));
    hit += double(both.size()) / k;
  }
  return hit / nq;
}

TEST(Synthetic, PrefixesCarryTheNeighbourhoodsOnlyInMatryoshkaMode) {
  SyntheticOptions o;
  o.dim = 256;
  const double mrl = PrefixAgreement(SyntheticGenerator(o), 64);
  o.mode = SyntheticOptions::Mode::kFlat;
  const double flat = PrefixAgreement(SyntheticGenerator(o), 64);
  EXPECT_GT(mrl, flat + 0.2) << "matryoshka " << mrl << " flat " << flat;
  EXPECT_GT(mrl, 0.4);
}

// The weak-prefix variant of mrldb-bench search (--decay 0.3 --clusters 1000): a slower decay and
// many small clusters leave the 64-dim prefix a poorer proxy than the default generator's.
TEST(Synthetic, ASlowDecayAndManyClustersWeakenThePrefix) {
  SyntheticOptions o;
  o.dim = 256;
  const double strong = PrefixAgreement(SyntheticGenerator(o), 64);
  o.decay = 0.3;
  o.clusters = 1000;
  const double weak = PrefixAgreement(SyntheticGenerator(o), 64);
  EXPECT_LT(weak, strong - 0.1) << "default " << strong << " weak " << weak;
}

// Benchmarks take their queries from Queries(): never a stored row, in any mode.
TEST(Synthetic, QueriesAreNeverRows) {
  for (auto mode : {SyntheticOptions::Mode::kMatryoshka, SyntheticOptions::Mode::kFlat}) {
    SyntheticOptions o;
    o.dim = 16;
    o.clusters = 1000;
    o.mode = mode;
    SyntheticGenerator gen(o);
    const auto rows = gen.Rows(0, 5000), queries = gen.Queries(0, 5000);
    std::vector<std::vector<float>> sorted;
    for (size_t i = 0; i < 5000; ++i) sorted.emplace_back(rows.begin() + i * 16, rows.begin() + (i + 1) * 16);
    std::sort(sorted.begin(), sorted.end());
    for (size_t q = 0; q < 5000; ++q) {
      const std::vector<float> v(queries.begin() + q * 16, queries.begin() + (q + 1) * 16);
      EXPECT_FALSE(std::binary_search(sorted.begin(), sorted.end(), v)) << "query " << q;
    }
  }
}

}  // namespace
}  // namespace mrldb
