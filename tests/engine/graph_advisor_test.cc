// Choosing the graph: MeasureGraphs on a sample (every candidate measured, its shortlist holding
// on the held-back half), the choice rule, and the background chooser rebuilding a collection's
// graph and tuning it again.
#include <atomic>
#include <mutex>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "engine/graph_advisor.h"
#include "mrldb/database.h"
#include "mrldb/synthetic.h"
#include "tests/engine/funnel_util.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using namespace funnel_testing;  // NOLINT: the shared helpers of the funnel tests
using testing::TempDir;

GraphSample Sample(size_t n, Metric metric) {
  SyntheticOptions so;
  so.dim = kDim;
  GraphSample s;
  s.metric = metric;
  s.dim = kDim;
  s.rows = SyntheticGenerator(so).Rows(0, n);
  return s;
}

TEST(GraphAdvisor, MeasuresEveryCandidateAndItsShortlistHolds) {
  const GraphSample sample = Sample(3000, Metric::kCosine);
  GraphMeasureOptions o;
  o.target_recall = 0.95;
  o.queries = 100;
  const std::vector<std::pair<uint32_t, GraphCodes>> candidates = {
      {16, GraphCodes::kFloat32}, {64, GraphCodes::kFloat32}, {64, GraphCodes::kInt8}};
  auto measured = MeasureGraphs(sample, candidates, o);
  ASSERT_TRUE(measured.ok()) << measured.status().ToString();
  ASSERT_EQ(measured->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const GraphCandidate& c = (*measured)[i];
    SCOPED_TRACE(c.dims);
    EXPECT_EQ(c.dims, candidates[i].first);
    EXPECT_EQ(c.codes, candidates[i].second);
    EXPECT_TRUE(c.reached);
    EXPECT_GE(c.recall, 0.95);
    EXPECT_GE(c.keep0, o.k);
    EXPECT_GT(c.ms, 0);
  }
  // A shorter prefix carries less of the neighbourhood: it needs a longer shortlist; int8 codes
  // take less memory than the float32 prefixes.
  EXPECT_GE((*measured)[0].keep0, (*measured)[1].keep0);
  EXPECT_LT((*measured)[2].memory_bytes, (*measured)[1].memory_bytes);
}

TEST(GraphAdvisor, BadInputsAndCancel) {
  GraphMeasureOptions o;
  auto small = MeasureGraphs(Sample(100, Metric::kL2), {{64, GraphCodes::kFloat32}}, o);
  EXPECT_TRUE(small.status().IsInvalidArgument());
  EXPECT_EQ(small.status().message(),
            "choosing a graph for k = 10 needs a sample of at least 110 rows, not 100");
  const GraphSample sample = Sample(500, Metric::kL2);
  auto wide = MeasureGraphs(sample, {{300, GraphCodes::kFloat32}}, o);
  EXPECT_EQ(wide.status().message(), "graph candidate of 300 dims: outside 1..256");
  std::atomic<bool> cancel{true};
  o.cancel = &cancel;
  EXPECT_EQ(MeasureGraphs(sample, {{64, GraphCodes::kFloat32}}, o).status().code(),
            Status::Code::kCancelled);
}

TEST(GraphAdvisor, ChoosesOnlyAClearlyFasterGraph) {
  auto cand = [](uint32_t dims, GraphCodes codes, double ms, bool reached) {
    GraphCandidate c;
    c.dims = dims;
    c.codes = codes;
    c.ms = ms;
    c.reached = reached;
    return c;
  };
  const GraphCodes f32 = GraphCodes::kFloat32, i8 = GraphCodes::kInt8;
  std::vector<GraphCandidate> m = {cand(16, f32, 0.010, false), cand(32, i8, 0.020, true),
                                   cand(64, f32, 0.030, true)};
  // 32 int8 is 1.5x faster than the current 64 float32; 16 is faster still but misses.
  const GraphCandidate* pick = ChooseGraph(m, 64, f32, 1.25);
  ASSERT_NE(pick, nullptr);
  EXPECT_EQ(pick->dims, 32u);
  EXPECT_EQ(pick->codes, i8);
  EXPECT_EQ(ChooseGraph(m, 64, f32, 1.6), nullptr);  // not clearly faster
  EXPECT_EQ(ChooseGraph(m, 32, i8, 1.25), nullptr);  // already the fastest
  m[2].reached = false;  // the current graph misses the target: any reaching one is better
  EXPECT_EQ(ChooseGraph(m, 64, f32, 10)->dims, 32u);
  m[1].reached = false;
  EXPECT_EQ(ChooseGraph(m, 64, f32, 1.25), nullptr);  // none reaches it
}

// Without an analysis every ladder prefix from 16 to 128 is measured (float32 and int8) beside
// the current graph; a stored ANALYZE drops the prefixes whose exact shortlist held the target
// only beyond kMaxAnalyzedShortlist and adds its graph_prefix above 128.
TEST(GraphAdvisor, CandidatesFollowTheAnalysis) {
  CollectionSpec spec = Spec(Metric::kCosine);
  spec.granularities = {16, 32, 64, 128, 256};
  spec.index_dim = 64;
  spec.hnsw.codes = GraphCodes::kFloat32;
  auto dims = [](const std::vector<std::pair<uint32_t, GraphCodes>>& c) {
    std::vector<uint32_t> out;
    for (const auto& [d, codes] : c) {
      if (codes == GraphCodes::kFloat32) out.push_back(d);
    }
    return out;
  };
  auto plain = GraphCandidates(spec);
  EXPECT_EQ(plain.size(), 8u);
  EXPECT_EQ(dims(plain), (std::vector<uint32_t>{16, 32, 64, 128}));
  PrefixAnalysis& a = spec.analysis;
  a.rows = 10000;
  a.graph_prefix = 256;
  for (uint32_t g : spec.granularities) {
    PrefixQuality q;
    q.dims = g;
    q.shortlist = g <= 32 ? 0 : g == 256 ? 10 : 2000;  // 16 and 32: beyond 4096
    a.levels.push_back(q);
  }
  auto analysed = GraphCandidates(spec);
  EXPECT_EQ(dims(analysed), (std::vector<uint32_t>{64, 128, 256}));
  EXPECT_EQ(analysed.size(), 6u);
  spec.index_dim = 16;  // the current graph is measured even on a hopeless prefix
  spec.hnsw.codes = GraphCodes::kInt8;
  analysed = GraphCandidates(spec);
  ASSERT_EQ(analysed.size(), 7u);
  EXPECT_EQ(analysed.back(), std::make_pair(16u, GraphCodes::kInt8));
}

// With auto_graph, a collection built on the 128-dim prefix gets measured, the choice is
// recorded (DESCRIBE's graph_choice), a chosen graph is rebuilt and tuned again, and the plan in
// force still holds on unseen queries. Which graph wins is the measurement's (wall-clock) call.
TEST(AutoGraph, RecordsItsChoiceAndRebuildsTheChosenGraph) {
  TempDir dir;
  std::vector<std::string> log;
  std::mutex log_mu;
  DatabaseOptions o;
  o.auto_graph = true;
  o.info_log = [&](std::string_view line) {
    std::lock_guard l(log_mu);
    log.emplace_back(line);
  };
  auto db = testing::OpenOrDie(dir.path(), o);
  CollectionSpec spec = Spec(Metric::kCosine);
  spec.index_dim = 128;
  ASSERT_OK(db->CreateCollection(spec));
  SyntheticOptions so;
  so.dim = kDim;
  SyntheticGenerator gen(so);
  for (size_t first = 0; first < 6000; first += 2000) Fill(*db, gen, first, 2000);
  ASSERT_OK(db->WaitForTuning());
  auto info = db->DescribeCollection("c");
  ASSERT_TRUE(info.ok());
  const GraphAdvice& advice = info->spec.graph_advice;
  EXPECT_EQ(advice.rows, 6000u);
  std::printf("graph choice: %s\n", advice.note.c_str());
  const std::string chosen = fmt::format("chose index_dim {} {}:", info->spec.index_dim,
                                         GraphCodesName(info->spec.hnsw.codes));
  if (advice.note.rfind("chose", 0) == 0) {
    EXPECT_EQ(advice.note.rfind(chosen, 0), 0u) << advice.note;
    EXPECT_NE(info->spec.index_dim * 10 + int(info->spec.hnsw.codes), 1280u);
  } else {
    EXPECT_EQ(advice.note.rfind("kept index_dim 128 float32:", 0), 0u) << advice.note;
  }
  EXPECT_NE(advice.note.find("measured: index_dim 16 float32: "), std::string::npos);
  EXPECT_NE(advice.note.find("index_dim 128 int8: "), std::string::npos);
  EXPECT_EQ(info->spec.default_plan.source, PlanSource::kAutoTuned);
  EXPECT_EQ(info->spec.default_plan.stages.front().dims, info->spec.index_dim);
  EXPECT_EQ(info->index_pending_rows, 0u);
  EXPECT_GE(MeanRecall(*db, gen, SearchOptions{}, 500), 0.95 - 0.005) << advice.note;
  size_t measuring = 0;
  {
    std::lock_guard l(log_mu);
    for (const auto& line : log) measuring += line.find("measuring 8 graphs") != std::string::npos;
  }
  EXPECT_EQ(measuring, 1u);  // once: not again until the rows doubled
  // The choice survives a reopen.
  db.reset();
  db = testing::OpenOrDie(dir.path(), o);
  EXPECT_EQ(db->DescribeCollection("c")->spec.graph_advice.note, advice.note);
}

}  // namespace
}  // namespace mrldb
