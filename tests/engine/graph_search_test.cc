// mrldb's own graph search (engine/graph_search.h) against hnswlib's searchKnn on the same graph:
// the same results up to ties, with deleted nodes and filters, on graphs of one node to many
// levels; and against exact search.
#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>
#include <hnswlib/hnswlib.h>

#include "engine/graph_search.h"

namespace mrldb {
namespace {

class AllowedBits final : public hnswlib::BaseFilterFunctor {
 public:
  explicit AllowedBits(const std::vector<uint8_t>& bits) : bits_(bits) {}
  bool operator()(hnswlib::labeltype label) override { return bits_[label] != 0; }

 private:
  const std::vector<uint8_t>& bits_;
};

struct Fixture {
  explicit Fixture(size_t rows, uint32_t d = 24, size_t m = 8)
      : dims(d), space(d), graph(&space, rows, m, 100, /*seed=*/7) {
    std::mt19937 rng(11);
    std::normal_distribution<float> n(0, 1);
    data.resize(rows * dims);
    for (float& v : data) v = n(rng);
    // Labels are not the insertion order: the search must map internal ids to labels.
    for (size_t r = 0; r < rows; ++r) graph.addPoint(&data[r * dims], 3 * r + 1);
  }
  std::vector<float> Query(std::mt19937& rng) const {
    std::normal_distribution<float> n(0, 1);
    std::vector<float> q(dims);
    for (float& v : q) v = n(rng);
    return q;
  }
  // hnswlib's answer, ascending.
  std::vector<std::pair<float, uint64_t>> Reference(const std::vector<float>& q, size_t count,
                                                    size_t ef, hnswlib::BaseFilterFunctor* f) {
    graph.setEf(ef);
    auto pq = graph.searchKnn(q.data(), count, f);
    std::vector<std::pair<float, uint64_t>> out(pq.size());
    for (size_t i = pq.size(); i-- > 0; pq.pop()) out[i] = {pq.top().first, pq.top().second};
    return out;
  }
  uint32_t dims;
  hnswlib::L2Space space;
  hnswlib::HierarchicalNSW<float> graph;
  std::vector<float> data;
};

// The same distances in the same order; ids may differ only where distances tie.
void ExpectSameAnswer(const std::vector<std::pair<float, uint64_t>>& got,
                      const std::vector<std::pair<float, uint64_t>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_FLOAT_EQ(got[i].first, want[i].first) << "rank " << i;
    if (got[i].first != want[i].first) return;
  }
  std::multiset<uint64_t> a, b;
  for (const auto& p : got) a.insert(p.second);
  for (const auto& p : want) b.insert(p.second);
  EXPECT_EQ(a, b);
}

TEST(GraphSearch, AnswersAsHnswlibDoes) {
  Fixture f(3000);
  std::mt19937 rng(5);
  std::vector<std::pair<float, uint64_t>> got;
  for (size_t ef : {1, 10, 64, 300}) {
    for (size_t count : {1, 10, 50}) {
      for (int i = 0; i < 20; ++i) {
        const auto q = f.Query(rng);
        SearchGraph(f.graph, q.data(), count, ef, nullptr, &got);
        ExpectSameAnswer(got, f.Reference(q, count, std::max(ef, count), nullptr));
      }
    }
  }
}

TEST(GraphSearch, SkipsDeletedAndFilteredNodesButRoutesThroughThem) {
  Fixture f(3000);
  for (size_t r = 0; r < 3000; r += 3) f.graph.markDelete(3 * r + 1);
  std::vector<uint8_t> allowed(3 * 3000 + 1, 0);
  for (size_t r = 0; r < 3000; r += 2) allowed[3 * r + 1] = 1;
  AllowedBits functor(allowed);
  std::mt19937 rng(6);
  std::vector<std::pair<float, uint64_t>> got;
  for (int i = 0; i < 30; ++i) {
    const auto q = f.Query(rng);
    SearchGraph(f.graph, q.data(), 10, 40, nullptr, &got);
    ExpectSameAnswer(got, f.Reference(q, 10, 40, nullptr));
    for (const auto& [d, label] : got) EXPECT_NE((label - 1) / 3 % 3, 0u) << "deleted " << label;
    SearchGraph(f.graph, q.data(), 10, 40, &allowed, &got);
    ExpectSameAnswer(got, f.Reference(q, 10, 40, &functor));
    for (const auto& [d, label] : got) EXPECT_TRUE(allowed[label]) << label;
  }
}

TEST(GraphSearch, FindsWhatExactSearchFinds) {
  Fixture f(4000, 16, 16);
  std::mt19937 rng(8);
  double found = 0, wanted = 0;
  std::vector<std::pair<float, uint64_t>> got;
  for (int i = 0; i < 50; ++i) {
    const auto q = f.Query(rng);
    std::vector<std::pair<float, uint64_t>> all;
    for (size_t r = 0; r < 4000; ++r) {
      float d = 0;
      for (uint32_t j = 0; j < f.dims; ++j) d += (q[j] - f.data[r * f.dims + j]) * (q[j] - f.data[r * f.dims + j]);
      all.push_back({d, 3 * r + 1});
    }
    std::partial_sort(all.begin(), all.begin() + 10, all.end());
    SearchGraph(f.graph, q.data(), 10, 100, nullptr, &got);
    std::set<uint64_t> ids;
    for (const auto& p : got) ids.insert(p.second);
    for (size_t j = 0; j < 10; ++j) found += ids.count(all[j].second);
    wanted += 10;
  }
  EXPECT_GE(found / wanted, 0.95);
}

// A hidden node is neither returned nor entered, only for the guard's life and thread; the rest
// of the graph is still found (TUNE's sampled rows become unseen queries this way).
TEST(GraphSearch, AHiddenNodeIsNeverEnteredWhileTheGuardLives) {
  Fixture f(4000, 16, 16);
  std::vector<std::pair<float, uint64_t>> got;
  double found = 0, wanted = 0;
  for (size_t r = 0; r < 4000; r += 80) {
    const float* x = &f.data[r * f.dims];
    const uint64_t self = 3 * r + 1;
    SearchGraph(f.graph, x, 1, 10, nullptr, &got);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].second, self) << "a stored row finds itself";
    std::vector<std::pair<float, uint64_t>> all;
    for (size_t o = 0; o < 4000; ++o) {
      float d = 0;
      for (uint32_t j = 0; j < f.dims; ++j) d += (x[j] - f.data[o * f.dims + j]) * (x[j] - f.data[o * f.dims + j]);
      if (o != r) all.push_back({d, 3 * o + 1});
    }
    std::partial_sort(all.begin(), all.begin() + 10, all.end());
    {
      ScopedHiddenNode hide(self);
      SearchGraph(f.graph, x, 10, 100, nullptr, &got);
      std::vector<uint8_t> allowed(3 * 4000 + 1, 1);
      std::vector<std::pair<float, uint64_t>> filtered;
      SearchGraph(f.graph, x, 10, 100, &allowed, &filtered);  // the filtered walk hides it too
      for (const auto& p : filtered) EXPECT_NE(p.second, self);
    }
    std::set<uint64_t> ids;
    for (const auto& p : got) {
      EXPECT_NE(p.second, self) << "row " << r;
      ids.insert(p.second);
    }
    for (size_t j = 0; j < 10; ++j) found += ids.count(all[j].second);
    wanted += 10;
    SearchGraph(f.graph, x, 1, 10, nullptr, &got);
    EXPECT_EQ(got[0].second, self) << "the guard is gone";
  }
  EXPECT_GE(found / wanted, 0.95);
  // The graph's entry point hidden: the walk starts at one of its neighbours instead.
  const auto entry = f.graph.enterpoint_node_;
  const uint64_t entry_label = f.graph.getExternalLabel(entry);
  const float* x = &f.data[(entry_label - 1) / 3 * f.dims];
  ScopedHiddenNode hide(entry_label);
  SearchGraph(f.graph, x, 10, 100, nullptr, &got);
  ASSERT_EQ(got.size(), 10u);
  for (const auto& p : got) EXPECT_NE(p.second, entry_label);
}

TEST(GraphSearch, TinyAndEmptyGraphs) {
  hnswlib::L2Space space(4);
  hnswlib::HierarchicalNSW<float> g(&space, 10, 4, 10);
  const float q[4] = {0, 0, 0, 0};
  std::vector<std::pair<float, uint64_t>> got = {{1.0f, 1}};
  SearchGraph(g, q, 5, 10, nullptr, &got);
  EXPECT_TRUE(got.empty());
  const float x[4] = {1, 0, 0, 0};
  g.addPoint(x, 9);
  SearchGraph(g, q, 5, 10, nullptr, &got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].second, 9u);
  EXPECT_FLOAT_EQ(got[0].first, 1.0f);
  g.markDelete(9);
  SearchGraph(g, q, 5, 10, nullptr, &got);
  EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace mrldb
