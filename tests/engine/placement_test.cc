// PlacementModel fed with timings (no GPU needed): it picks the measured-faster side, explores
// a bounded number of times, adapts when timings change and buckets batch sizes.
#include "engine/placement.h"

#include <gtest/gtest.h>

namespace mrldb {
namespace {

const std::string kShape = "FUNNEL (64 KEEP 400, 256) scan";

// Runs `batches` batches of n queries: each is placed by the model, then "runs" at the given
// per-query seconds of the side chosen. Returns how many ran on the GPU.
int Drive(PlacementModel* m, size_t n, int batches, double cpu_s, double gpu_s,
          const std::string& shape = kShape) {
  int on_gpu = 0;
  for (int i = 0; i < batches; ++i) {
    const PlacementChoice c = m->Choose(shape, n, true);
    on_gpu += c.gpu;
    m->Record(shape, n, c.gpu, (c.gpu ? gpu_s : cpu_s) * n);
  }
  return on_gpu;
}

TEST(PlacementTest, BucketsArePowersOfFour) {
  EXPECT_EQ(PlacementModel::Bucket(1), 0u);
  EXPECT_EQ(PlacementModel::Bucket(3), 0u);
  EXPECT_EQ(PlacementModel::Bucket(4), 1u);
  EXPECT_EQ(PlacementModel::Bucket(15), 1u);
  EXPECT_EQ(PlacementModel::Bucket(16), 2u);
  EXPECT_EQ(PlacementModel::Bucket(1023), 4u);
  EXPECT_EQ(PlacementModel::Bucket(1024), 5u);
  EXPECT_EQ(PlacementModel::BucketRange(5), "1024-4095");
  EXPECT_EQ(PlacementModel::BucketRange(0), "1-3");
}

TEST(PlacementTest, TriesEachSideOnceThenPicksTheFaster) {
  PlacementModel m;
  PlacementChoice first = m.Choose(kShape, 1024, true);
  EXPECT_TRUE(first.gpu);
  EXPECT_TRUE(first.exploring);
  EXPECT_EQ(first.reason, "gpu: exploring, not yet measured at batch 1024");
  m.Record(kShape, 1024, true, 1024 * 0.8e-6);
  PlacementChoice second = m.Choose(kShape, 1024, true);
  EXPECT_FALSE(second.gpu);
  EXPECT_TRUE(second.exploring);
  m.Record(kShape, 1024, false, 1024 * 2.1e-6);
  PlacementChoice third = m.Choose(kShape, 1024, true);
  EXPECT_TRUE(third.gpu);
  EXPECT_FALSE(third.exploring);
  EXPECT_EQ(third.reason, "gpu: measured 0.8 us/query vs cpu 2.1 us/query at batch 1024");
  // The other way round: the CPU is faster.
  PlacementModel slow_gpu;
  Drive(&slow_gpu, 64, 2, 1e-6, 5e-6);
  PlacementChoice c = slow_gpu.Choose(kShape, 64, true);
  EXPECT_FALSE(c.gpu);
  EXPECT_EQ(c.reason, "cpu: measured 1.0 us/query vs gpu 5.0 us/query at batch 64");
}

TEST(PlacementTest, ExplorationIsBounded) {
  PlacementOptions o;
  o.reprobe_every = 32;
  PlacementModel m(o);
  // The GPU is slower: it runs once to be measured, then once every 32 batches.
  const int on_gpu = Drive(&m, 256, 1000, 1e-6, 3e-6);
  EXPECT_GE(on_gpu, 1000 / 32 - 1);
  EXPECT_LE(on_gpu, 1 + 1000 / 32 + 1);
  // The CPU is slower: likewise the other way.
  PlacementModel m2(o);
  const int on_cpu = 1000 - Drive(&m2, 256, 1000, 3e-6, 1e-6);
  EXPECT_GE(on_cpu, 1000 / 32 - 1);
  EXPECT_LE(on_cpu, 1 + 1000 / 32 + 1);
}

TEST(PlacementTest, AdaptsWhenTimingsChange) {
  PlacementOptions o;
  o.reprobe_every = 8;
  PlacementModel m(o);
  Drive(&m, 1024, 20, 2e-6, 1e-6);
  EXPECT_TRUE(m.Choose(kShape, 1024, false).gpu);
  // The GPU gets slow (another process on it): the median follows within a window.
  Drive(&m, 1024, 20, 2e-6, 6e-6);
  EXPECT_FALSE(m.Choose(kShape, 1024, false).gpu);
  // The GPU gets fast again: a re-probe of the loser notices it.
  Drive(&m, 1024, 60, 2e-6, 0.5e-6);
  EXPECT_TRUE(m.Choose(kShape, 1024, false).gpu);
}

TEST(PlacementTest, MedianIgnoresAWarmUpOutlier) {
  PlacementModel m;
  m.Choose(kShape, 1024, true);
  m.Record(kShape, 1024, true, 1024 * 1e-3);  // first GPU call: initialization
  m.Choose(kShape, 1024, true);
  m.Record(kShape, 1024, false, 1024 * 2e-6);
  for (int i = 0; i < 3; ++i) m.Record(kShape, 1024, true, 1024 * 1e-6);
  EXPECT_TRUE(m.Choose(kShape, 1024, false).gpu);
}

TEST(PlacementTest, BucketsAndShapesAreSeparate) {
  PlacementModel m;
  Drive(&m, 1024, 4, 2e-6, 1e-6);  // large batches: the GPU wins
  Drive(&m, 16, 4, 1e-6, 4e-6);    // batches of 16: the CPU wins
  EXPECT_TRUE(m.Choose(kShape, 2000, false).gpu);
  EXPECT_FALSE(m.Choose(kShape, 20, false).gpu);
  // Another shape knows nothing yet: a large batch explores, a small one stays on the CPU.
  EXPECT_TRUE(m.Choose("EXACT scan", 1024, false).exploring);
  const PlacementChoice small = m.Choose("EXACT scan", 1, false);
  EXPECT_FALSE(small.gpu);
  EXPECT_FALSE(small.exploring);
  EXPECT_EQ(small.reason, "cpu: batch of 1 (under 16), not yet measured on the GPU for this plan");
  auto est = m.Estimates();
  ASSERT_EQ(est.size(), 2u);
  EXPECT_EQ(est[0].batch_min, 16u);
  EXPECT_EQ(est[0].batch_max, 63u);
  EXPECT_EQ(est[1].batch_min, 1024u);
  EXPECT_DOUBLE_EQ(est[1].gpu_seconds, 1e-6);
  EXPECT_DOUBLE_EQ(est[1].cpu_seconds, 2e-6);
}

TEST(PlacementTest, SmallBatchesExploreOnceTheShapeRanOnTheGpu) {
  PlacementModel m;
  EXPECT_EQ(Drive(&m, 1, 10, 1e-6, 1e-7), 0);  // never measured on the GPU: the CPU
  Drive(&m, 256, 2, 1e-6, 1e-7);               // the shape ran on the GPU at batch 256
  const PlacementChoice c = m.Choose(kShape, 1, true);
  EXPECT_TRUE(c.gpu);
  EXPECT_TRUE(c.exploring);
  m.Record(kShape, 1, true, 1e-7);
  EXPECT_TRUE(m.Choose(kShape, 1, false).gpu);  // measured faster at batch 1 too
}

TEST(PlacementTest, AFailedRunIsNotRetriedEveryBatch) {
  PlacementOptions o;
  o.reprobe_every = 10;
  PlacementModel m(o);
  // The GPU is chosen to explore but never records (its run failed): the CPU answers meanwhile.
  int tries = 0;
  for (int i = 0; i < 50; ++i) {
    const PlacementChoice c = m.Choose(kShape, 1024, true);
    if (c.gpu) ++tries;
    else m.Record(kShape, 1024, false, 1024 * 1e-6);
  }
  EXPECT_LE(tries, 50 / 10 + 1);
  EXPECT_GE(tries, 2);
}

TEST(PlacementTest, LookingDoesNotCount) {
  PlacementModel m;
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(m.Choose(kShape, 1024, false).exploring);
  EXPECT_TRUE(m.Estimates().empty());
}

TEST(PlacementTest, EntriesAreBounded) {
  PlacementOptions o;
  o.max_entries = 4;
  PlacementModel m(o);
  for (int s = 0; s < 10; ++s) Drive(&m, 64, 2, 1e-6, 2e-6, "shape " + std::to_string(s));
  EXPECT_EQ(m.Estimates().size(), 4u);
}

}  // namespace
}  // namespace mrldb
