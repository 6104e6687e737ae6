// ANALYZE: the verdict on Matryoshka-like and on weak (flat) prefixes, the derived plan it
// widens (reaching the recall target on unseen queries), persistence, and the disagreement
// report.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mrldb/database.h"
#include "mrldb/synthetic.h"
#include "tests/engine/funnel_util.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using namespace funnel_testing;  // NOLINT: collection "c", 256 dims, Fill, MeanRecall
using testing::TempDir;

DatabaseOptions NoTuner() {
  DatabaseOptions o;
  o.auto_tune = false;
  return o;
}

SyntheticGenerator Generator(SyntheticOptions::Mode mode) {
  SyntheticOptions so;
  so.dim = kDim;
  so.mode = mode;
  so.noise = mode == SyntheticOptions::Mode::kFlat ? 0.9 : 0.6;
  return SyntheticGenerator(so);
}

// Strong prefixes are called Matryoshka-like and weak ones are not; on the weak set the derived
// plan, widened by the analysis, reaches the collection's recall target on 500 unseen queries
// (it did not before), and the analysis survives a reopen (DESCRIBE shows it).
TEST(Analyze, VerdictsDifferAndWeakPrefixesGetAPlanThatReachesTheTarget) {
  for (auto mode : {SyntheticOptions::Mode::kMatryoshka, SyntheticOptions::Mode::kFlat}) {
    const bool flat = mode == SyntheticOptions::Mode::kFlat;
    SCOPED_TRACE(flat ? "flat" : "matryoshka");
    TempDir dir;
    const auto gen = Generator(mode);
    double before = 0;
    PrefixAnalysis a;
    {
      auto db = testing::OpenOrDie(dir.path(), NoTuner());
      ASSERT_OK(db->CreateCollection(Spec(Metric::kCosine)));
      for (size_t first = 0; first < 8000; first += 2000) Fill(*db, gen, first, 2000);
      ASSERT_OK(db->WaitForIndexing({}));
      before = MeanRecall(*db, gen, SearchOptions{}, 500);
      AnalyzeOptions o;
      o.sample = 100;
      auto r = db->Analyze("c", o);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      a = *r;
    }
    std::printf("%s: %s\n", flat ? "flat" : "matryoshka", a.verdict.c_str());
    for (const PrefixQuality& q : a.levels) {
      std::printf("  %4u dims: recall %.3f rank_corr %.3f shortlist %u\n", q.dims, q.recall,
                  q.rank_corr, q.shortlist);
    }
    EXPECT_EQ(a.matryoshka, !flat);
    ASSERT_EQ(a.levels.size(), 5u);
    EXPECT_EQ(a.levels.back().recall, 1.0);  // the full dimension finds itself
    EXPECT_GT(a.levels[2].recall, a.levels[0].recall);
    auto db = testing::OpenOrDie(dir.path(), NoTuner());
    auto info = db->DescribeCollection("c");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->spec.analysis.verdict, a.verdict);
    EXPECT_EQ(info->spec.analysis.levels.size(), a.levels.size());
    const double after = MeanRecall(*db, gen, SearchOptions{}, 500);
    std::printf("  derived plan %s: recall %.3f before ANALYZE, %.3f after\n",
                info->plan_in_force.c_str(), before, after);
    EXPECT_GE(after, info->spec.target_recall - 0.005);
    if (flat) {
      EXPECT_LT(before, info->spec.target_recall - 0.005);  // what ANALYZE fixed
    }
  }
}

SearchPlan PlanInForce(Database& db) {
  auto plan = db.ExplainPlan("c", SearchOptions{});
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? *plan : SearchPlan{};
}

// TUNE reads the stored analysis: the graph funnel's sweep starts at the exact shortlist
// measured at the index prefix instead of at the smallest keep, so it measures fewer plans, and
// the plan it stores still reaches the target on unseen queries.
TEST(Analyze, TuneStartsFromTheAnalysedShortlistAndMeasuresFewerPlans) {
  TempDir dir;
  const auto gen = Generator(SyntheticOptions::Mode::kFlat);
  auto db = testing::OpenOrDie(dir.path(), NoTuner());
  ASSERT_OK(db->CreateCollection(Spec(Metric::kCosine)));
  for (size_t first = 0; first < 8000; first += 2000) Fill(*db, gen, first, 2000);
  ASSERT_OK(db->WaitForIndexing({}));
  TuneOptions t;
  t.store = false;
  auto plain = db->Tune("c", t);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_FALSE(plain->analysed);
  EXPECT_EQ(plain->start_keep, 11u);  // k + 1: the sampled row is left out
  AnalyzeOptions ao;
  ao.sample = 100;
  auto a = db->Analyze("c", ao);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->levels[2].dims, 64u);
  const uint32_t shortlist = a->levels[2].shortlist;
  ASSERT_GT(shortlist, 40u) << a->verdict;  // weak prefixes: far above the smallest keep
  t.store = true;
  auto seeded = db->Tune("c", t);
  ASSERT_TRUE(seeded.ok()) << seeded.status().ToString();
  std::printf("without the analysis %s, %u plans; with it %s, %u plans from keep %u\n",
              plain->plan.ToString().c_str(), plain->plans_tried, seeded->plan.ToString().c_str(),
              seeded->plans_tried, seeded->start_keep);
  EXPECT_TRUE(seeded->analysed);
  EXPECT_EQ(seeded->start_keep, shortlist);
  EXPECT_EQ(seeded->shapes.front().plan.stages.front().dims, 64u);  // not weak enough for a scan
  EXPECT_LT(seeded->plans_tried, plain->plans_tried);
  EXPECT_TRUE(seeded->reached_target);
  EXPECT_GE(MeanRecall(*db, gen, SearchOptions{}, 500), t.target_recall - 0.005)
      << PlanInForce(*db).ToString();
}

// An index prefix that cannot shortlist (flat rows around one center: the 64-dim prefix's
// exact shortlist is a large part of the collection): ANALYZE says so and names a larger
// index_dim; the derived plan is exact search (fewer values than the graph walk for that
// shortlist) instead of a funnel that misses the target; TUNE measures exact search first, and
// what it stores reaches the target on unseen queries.
TEST(Analyze, AWeakIndexPrefixGetsExactSearchInsteadOfAPlanMissingTheTarget) {
  TempDir dir;
  SyntheticOptions so;
  so.dim = kDim;
  so.mode = SyntheticOptions::Mode::kFlat;
  so.clusters = 1;
  const SyntheticGenerator gen(so);
  auto db = testing::OpenOrDie(dir.path(), NoTuner());
  ASSERT_OK(db->CreateCollection(Spec(Metric::kCosine)));
  for (size_t first = 0; first < 6000; first += 2000) Fill(*db, gen, first, 2000);
  ASSERT_OK(db->WaitForIndexing({}));
  const double target = 0.95;
  const std::string derived = PlanInForce(*db).ToString();
  const double before = MeanRecall(*db, gen, SearchOptions{}, 300);
  AnalyzeOptions ao;
  ao.sample = 100;
  auto a = db->Analyze("c", ao);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  std::printf("%s\n", a->verdict.c_str());
  EXPECT_FALSE(a->matryoshka);
  EXPECT_GT(a->graph_prefix, 64u);
  EXPECT_NE(a->verdict.find(fmt::format("ALTER COLLECTION c SET (index_dim = {})", a->graph_prefix)),
            std::string::npos) << a->verdict;
  const SearchPlan plan = PlanInForce(*db);
  const double after = MeanRecall(*db, gen, SearchOptions{}, 300);
  std::printf("derived %s: recall %.3f; after ANALYZE %s: %.3f\n", derived.c_str(), before,
              plan.ToString().c_str(), after);
  EXPECT_LT(before, target - 0.005);
  EXPECT_EQ(plan.ToString(), "FUNNEL (256)");  // exact search, not the graph
  EXPECT_GE(after, target - 0.005);
  TuneOptions t;
  auto tuned = db->Tune("c", t);
  ASSERT_TRUE(tuned.ok()) << tuned.status().ToString();
  for (const TuneShape& shape : tuned->shapes) {
    std::printf("  %s: %.3f, %.3f ms%s\n", shape.plan.ToString().c_str(), shape.recall, shape.ms,
                shape.reached ? "" : ", short");
  }
  ASSERT_GE(tuned->shapes.size(), 2u);
  EXPECT_EQ(tuned->shapes[0].plan.ToString(), "FUNNEL (256)");  // exact search, measured first
  EXPECT_TRUE(tuned->reached_target);
  EXPECT_GE(MeanRecall(*db, gen, SearchOptions{}, 300), target - 0.005)
      << PlanInForce(*db).ToString();
}

// Rows of the prefix-sharing class pairs change their predicted label between granularities;
// the report puts them first.
TEST(Analyze, DisagreementFindsTheHardRows) {
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path(), NoTuner());
  CollectionSpec s;
  s.name = "p";
  s.dim = 128;
  s.id_type = IdType::kBigint;
  s.attributes = {{"label", AttrType::kInt}};
  ASSERT_OK(db->CreateCollection(s));
  LabelledSyntheticOptions lo;
  lo.dim = 128;
  lo.classes = 8;
  lo.modes = 2;
  lo.hard_classes = 4;
  lo.shared_dims = 64;
  lo.noise = 0.6;
  LabelledSyntheticGenerator gen(lo);
  std::vector<float> v(3000 * 128);
  std::vector<int64_t> labels(3000);
  gen.Fill(0, 3000, v.data(), labels.data());
  InsertBatch b;
  for (size_t i = 0; i < 3000; ++i) {
    b.Add(Key{int64_t(i)}, std::span<const float>(v.data() + i * 128, 128), {Value{labels[i]}});
  }
  ASSERT_OK(db->Insert("p", b));
  DisagreementOptions o;
  o.label = "label";
  o.sample = 400;
  o.limit = 20;
  auto rows = db->Disagreements("p", o);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 20u);
  size_t hard = 0;
  for (size_t i = 0; i < rows->size(); ++i) {
    const Disagreement& d = (*rows)[i];
    hard += std::get<int64_t>(d.label) < 4;
    EXPECT_GT(d.label_changes, 0u);
    if (i > 0) {
      EXPECT_LE(d.label_changes, (*rows)[i - 1].label_changes);
    }
  }
  EXPECT_GE(hard, 18u);  // the pairs sharing their first 64 dims
  o.label = "nope";
  EXPECT_FALSE(db->Disagreements("p", o).ok());
}

}  // namespace
}  // namespace mrldb
