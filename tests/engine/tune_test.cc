// Database::Tune: real queries handed in (TuneOptions::queries) and their bad inputs, and a plan
// tuned for one k re-derived for another (mrldb/types.h, DefaultPlan).
#include <cmath>

#include <gtest/gtest.h>

#include "mrldb/database.h"
#include "mrldb/synthetic.h"
#include "tests/engine/funnel_util.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using namespace funnel_testing;  // NOLINT: the shared helpers of the funnel tests
using testing::TempDir;

class TuneTest : public ::testing::Test {
 protected:
  void Open(double decay, const std::string& path) {
    SyntheticOptions so;
    so.dim = kDim;
    so.decay = decay;
    so.noise = decay < 1 ? 0.9 : 0.6;
    gen_ = std::make_unique<SyntheticGenerator>(so);
    DatabaseOptions o;
    o.auto_tune = false;  // the plans under test are TUNE's
    db_ = testing::OpenOrDie(path, o);
    ASSERT_OK(db_->CreateCollection(Spec(Metric::kCosine)));
    for (size_t first = 0; first < 8000; first += 2000) Fill(*db_, *gen_, first, 2000);
  }
  uint32_t Keep0(uint32_t k) {
    SearchOptions o;
    o.k = k;
    auto plan = db_->ExplainPlan("c", o);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return plan.ok() ? plan->stages.front().keep : 0;
  }

  TempDir dir_;  // declared before db_: removed after it closes
  std::unique_ptr<SyntheticGenerator> gen_;
  std::unique_ptr<Database> db_;
};

// Tuned on queries the caller hands in (none of them a stored row), the stored plan holds on
// other unseen queries (same tolerance argument as AutoTune.PlanHoldsOnUnseenQueries).
TEST_F(TuneTest, RealQueriesTuneAPlanThatHolds) {
  Open(0.3, dir_.path());
  TuneOptions t;
  t.target_recall = 0.95;
  t.queries = gen_->Queries(5000, 200);
  auto report = db_->Tune("c", t);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->reached_target);
  EXPECT_GE(report->held_back_recall, 0.95);
  const DefaultPlan plan = db_->DescribeCollection("c")->spec.default_plan;
  EXPECT_EQ(plan.source, PlanSource::kTune);
  EXPECT_EQ(plan.rows, 8000u);
  EXPECT_EQ(plan.recall, report->held_back_recall);
  EXPECT_GE(MeanRecall(*db_, *gen_, SearchOptions{}, 1000), 0.95 - 0.005)
      << report->plan.ToString();
  // A single query tunes and validates on itself.
  t.queries = gen_->Queries(7000, 1);
  t.store = false;
  EXPECT_TRUE(db_->Tune("c", t).ok());
}

TEST_F(TuneTest, BadQueriesAreClearErrors) {
  Open(1.0, dir_.path());
  auto error = [&](std::vector<float> queries, uint32_t k = 10) {
    TuneOptions t;
    t.queries = std::move(queries);
    t.k = k;
    auto r = db_->Tune("c", t);
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    return r.status().message();
  };
  auto qs = gen_->Queries(0, 4);
  EXPECT_EQ(error(std::vector<float>(qs.begin(), qs.end() - 1)),
            "the tuning queries hold 1023 values, not a whole number of 256-dimensional vectors "
            "(collection 'c')");
  auto nan = qs;
  nan[2 * kDim + 5] = std::nanf("");
  EXPECT_EQ(error(nan), "tuning query 3: query value nan at dimension 5 is not finite");
  auto zero = qs;
  std::fill(zero.begin(), zero.begin() + kDim, 0.0f);
  EXPECT_NE(error(zero).find("tuning query 1: query has zero norm"), std::string::npos);
  EXPECT_EQ(error(qs, 8001), "collection 'c' has 8000 rows; tuning for k = 8001 needs at least k");
  EXPECT_EQ(error(qs, 0), "k = 0 is outside 1..100000");
  EXPECT_TRUE(db_->DescribeCollection("c")->spec.default_plan.stages.empty());
}

// A plan tuned at k = 10, re-derived for k = 50 and 100 from its second point (measured at
// 100), reaches the target - 0.02 on unseen queries without a shortlist over 3x the one a tune
// at that k chooses, for weak and strong prefixes. The linear rule this replaced gave 5x and
// 10x the k = 10 shortlist.
TEST_F(TuneTest, PlansForAnotherKAreRederived) {
  for (double decay : {0.3, 1.0}) {
    SCOPED_TRACE(decay);
    TempDir dir;
    Open(decay, dir.path());
    TuneOptions t;
    t.target_recall = 0.95;
    auto at10 = db_->Tune("c", t);
    ASSERT_TRUE(at10.ok()) << at10.status().ToString();
    EXPECT_EQ(at10->wide_k, 100u);
    EXPECT_GE(at10->wide_keep, 100u);
    EXPECT_GE(at10->straight_keep, 11u);
    EXPECT_GE(at10->wide_held_back_recall, 0.95);
    EXPECT_EQ(Keep0(10), at10->plan.stages.front().keep);
    EXPECT_EQ(Keep0(100), at10->wide_keep);  // the measured point, reproduced
    for (uint32_t k : {50u, 100u}) {
      SCOPED_TRACE(k);
      TuneOptions direct = t;
      direct.k = k;
      direct.store = false;
      auto at_k = db_->Tune("c", direct);
      ASSERT_TRUE(at_k.ok());
      EXPECT_LE(Keep0(k), 3 * at_k->plan.stages.front().keep) << at_k->plan.ToString();
      SearchOptions o;
      o.k = k;
      const double recall = MeanRecall(*db_, *gen_, o, 300);
      EXPECT_GE(recall, 0.95 - 0.02);
      std::printf("decay %.1f, k %u: re-derived keep0 %u (from %u at 10, %u at 100), recall %.3f; "
                  "tuned at k: %s\n", decay, k, Keep0(k), at10->straight_keep, at10->wide_keep,
                  recall, at_k->plan.ToString().c_str());
    }
    // Without a second point (a plan set by hand) the shortlist follows (k / k0)^0.5.
    ASSERT_OK(db_->SetDefaultPlan("c", SearchPlan::Funnel({{64, 40}, {128, 20}, {256, 10}}, 60)));
    SearchOptions o;
    o.k = 40;
    auto plan = db_->ExplainPlan("c", o);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(plan->ToString(), "FUNNEL (64 KEEP 80, 128 KEEP 40, 256) EF 120");
    o.k = 5;  // fewer than it was made for: as stored
    EXPECT_EQ(db_->ExplainPlan("c", o)->ToString(), "FUNNEL (64 KEEP 40, 128 KEEP 20, 256) EF 60");
    db_.reset();
  }
}

}  // namespace
}  // namespace mrldb
