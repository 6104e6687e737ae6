// Searches through the Database on device 'gpu' against the same searches on the CPU: batched
// funnels (stage 0 by the graph, or by GPU brute force), exact search on and off the ladder,
// deletes, upserts and inserts after the device copy was made, and a memory budget smaller than
// the collection (partial residency, shown by the stage's device "gpu+cpu"). Skips without a GPU.
#include <cmath>
#include <set>

#include <gtest/gtest.h>

#include "cuda/gpu_info.h"
#include "mrldb/database.h"
#include "mrldb/synthetic.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::TempDir;

constexpr uint32_t kDim = 128;  // ladder 16, 32, 64, 128; index_dim 64

#define SKIP_WITHOUT_GPU()                                                         \
  do {                                                                             \
    auto devices = gpu::ListDevices();                                             \
    if (!devices.ok()) GTEST_SKIP() << "no GPU: " << devices.status().message();   \
  } while (0)

void Fill(Database& db, const SyntheticGenerator& gen, size_t first, size_t n, size_t id_base = 0) {
  auto data = gen.Rows(first, n);
  InsertBatch b;
  for (size_t i = 0; i < n; ++i) {
    b.Add(Key{int64_t(id_base + first + i)}, std::span<const float>(data.data() + i * kDim, kDim),
          {Value{int64_t((first + i) % 10)}});
  }
  ASSERT_OK(db.Upsert("c", b));
}

std::unique_ptr<Database> MakeDb(const TempDir& dir, Metric metric, size_t rows,
                                 DatabaseOptions o = {}) {
  o.auto_tune = false;  // GPU and CPU results are compared under the same default plan
  auto db = testing::OpenOrDie(dir.path(), o);
  CollectionSpec s;
  s.name = "c";
  s.dim = kDim;
  s.metric = metric;
  s.id_type = IdType::kBigint;
  s.attributes = {{"cat", AttrType::kInt}};
  EXPECT_TRUE(db->CreateCollection(s).ok());
  SyntheticGenerator gen({.dim = kDim});
  for (size_t first = 0; first < rows; first += 5000) {
    Fill(*db, gen, first, std::min<size_t>(5000, rows - first));
  }
  EXPECT_TRUE(db->WaitForIndexing().ok());
  return db;
}

// Same ids apart from near-ties at the boundary; distances within float32 tolerance.
void ExpectSameHits(const std::vector<Hit>& gpu, const std::vector<Hit>& cpu) {
  ASSERT_EQ(gpu.size(), cpu.size());
  if (cpu.empty()) return;
  std::set<Key> g, c;
  for (size_t i = 0; i < cpu.size(); ++i) {
    EXPECT_NEAR(gpu[i].distance, cpu[i].distance, 1e-4 * (1 + std::fabs(cpu[i].distance)));
    g.insert(gpu[i].id);
    c.insert(cpu[i].id);
  }
  const float last = cpu.back().distance;
  for (const Hit& h : cpu) {
    if (!g.count(h.id)) {
      EXPECT_NEAR(h.distance, last, 2e-4 * (1 + std::fabs(last)));
    }
  }
}

void CompareBatch(Database& db, const SearchOptions& base, size_t nq, uint64_t query_seed) {
  SyntheticGenerator gen({.dim = kDim, .seed = query_seed});
  auto qs = gen.Queries(0, nq);
  SearchOptions on_gpu = base, on_cpu = base;
  on_gpu.device = Device::kGpu;
  on_cpu.device = Device::kCpu;
  auto g = db.SearchBatch("c", qs, nq, on_gpu);
  auto c = db.SearchBatch("c", qs, nq, on_cpu);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  for (size_t i = 0; i < nq; ++i) {
    SCOPED_TRACE(::testing::Message() << "query " << i << " plan " << base.plan.ToString());
    ExpectSameHits((*g)[i], (*c)[i]);
  }
}

std::vector<SearchPlan> Plans() {
  return {SearchPlan::Default(),
          SearchPlan::Funnel({{64, 300}, {128, 0}}, 300),
          // Stage 0 is not the index prefix: GPU brute force at 32 dims.
          SearchPlan::Funnel({{32, 400}, {64, 100}, {128, 0}}),
          SearchPlan::Exact(),
          SearchPlan::Exact(45)};
}

class GpuFunnelTest : public ::testing::TestWithParam<Metric> {};

TEST_P(GpuFunnelTest, BatchSearchMatchesCpu) {
  SKIP_WITHOUT_GPU();
  TempDir dir;
  auto db = MakeDb(dir, GetParam(), 20000);
  for (const SearchPlan& plan : Plans()) {
    SearchOptions o;
    o.k = 10;
    o.plan = plan;
    CompareBatch(*db, o, 64, 7);
  }
  // A filter: selective (stage 0 brute force over the matching rows, on the GPU with a mask).
  SearchOptions o;
  o.k = 10;
  o.filter = Filter::Eq("cat", Value{int64_t(3)});
  CompareBatch(*db, o, 32, 8);
}

INSTANTIATE_TEST_SUITE_P(Metrics, GpuFunnelTest,
                         ::testing::Values(Metric::kCosine, Metric::kInnerProduct, Metric::kL2),
                         [](const ::testing::TestParamInfo<Metric>& p) {
                           return std::string(MetricName(p.param));
                         });

TEST(GpuFunnel, WritesAfterTheDeviceCopyAreSearched) {
  SKIP_WITHOUT_GPU();
  TempDir dir;
  auto db = MakeDb(dir, Metric::kCosine, 10000);
  SearchOptions o;
  o.k = 20;
  o.plan = SearchPlan::Exact();
  CompareBatch(*db, o, 16, 3);  // makes the device copy
  // Delete a few hundred rows, overwrite others with new vectors, append new rows.
  std::vector<Key> gone;  // not in 500..799, which the upsert below writes again
  for (int64_t id = 0; id < 10000; id += 29) {
    if (id < 500 || id >= 800) gone.push_back(Key{id});
  }
  auto deleted = db->Delete("c", gone);
  ASSERT_TRUE(deleted.ok());
  SyntheticGenerator other({.dim = kDim, .seed = 99});
  Fill(*db, other, 500, 300);   // ids 500..799 get new vectors (upsert)
  Fill(*db, other, 0, 2000, 20000);  // new ids 20000..21999
  for (const SearchPlan& plan : Plans()) {
    o.plan = plan;
    CompareBatch(*db, o, 32, 4);
  }
  // Deleted ids never come back.
  SyntheticGenerator gen({.dim = kDim});
  auto qs = gen.Rows(0, 32);  // the deleted rows' own vectors would be their nearest neighbours
  o.device = Device::kGpu;
  o.plan = SearchPlan::Exact();
  auto r = db->SearchBatch("c", qs, 32, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::set<Key> dead(gone.begin(), gone.end());
  for (const auto& hits : *r) {
    for (const Hit& h : hits) EXPECT_FALSE(dead.count(h.id)) << "deleted id returned";
  }
}

// A stored row's distance to itself is 0, never a rounding error below it, in the GPU re-rank
// and the GPU exact search: their final distances are clamped as the CPU's (engine/reranker.cc).
TEST(GpuFunnel, CosineAndL2DistancesAreNeverNegative) {
  SKIP_WITHOUT_GPU();
  for (Metric metric : {Metric::kCosine, Metric::kL2}) {
    TempDir dir;
    auto db = MakeDb(dir, metric, 5000);
    SyntheticGenerator gen({.dim = kDim});
    constexpr size_t kQueries = 256;
    auto qs = gen.Rows(0, kQueries);  // stored rows: each is its own nearest neighbour
    for (const SearchPlan& plan : {SearchPlan::Default(), SearchPlan::Exact()}) {
      SearchOptions o;
      o.k = 5;
      o.plan = plan;
      o.device = Device::kGpu;
      auto r = db->SearchBatch("c", qs, kQueries, o);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      size_t negative = 0;
      for (const auto& hits : *r) {
        for (const Hit& h : hits) negative += h.distance < 0;
      }
      EXPECT_EQ(negative, 0u) << MetricName(metric) << ", " << plan.ToString();
    }
  }
}

TEST(GpuFunnel, PartialResidencyIsShownAndCorrect) {
  SKIP_WITHOUT_GPU();
  TempDir dir;
  DatabaseOptions opts;
  opts.gpu_memory_bytes = 6000 * (kDim * 4 + 4 * 4);  // 6,000 of 15,000 rows
  auto db = MakeDb(dir, Metric::kCosine, 15000, opts);
  for (const SearchPlan& plan : Plans()) {
    SearchOptions o;
    o.k = 10;
    o.plan = plan;
    CompareBatch(*db, o, 24, 5);
  }
  SyntheticGenerator gen({.dim = kDim, .seed = 6});
  auto q = gen.Queries(0, 1);
  SearchOptions o;
  o.device = Device::kGpu;
  o.plan = SearchPlan::Funnel({{32, 200}, {64, 50}, {128, 0}});
  SearchStats stats;
  auto r = db->Search("c", q, o, &stats);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(stats.stages.size(), 3u);
  for (const StageStats& st : stats.stages) {
    EXPECT_EQ(st.device.rfind("gpu", 0), 0u) << st.method << " ran on " << st.device;
  }
  EXPECT_EQ(stats.stages[0].device.rfind("gpu+cpu (", 0), 0u) << stats.stages[0].device;
}

// 'auto' places by measurement: the first batch of a shape explores the GPU (the device copy,
// logged when it is made, appears with it), and every batch answers as the CPU does.
TEST(GpuFunnel, AutoUsesTheGpuForScansAndForTheDeviceGraph) {
  SKIP_WITHOUT_GPU();
  TempDir dir;
  std::vector<std::string> log;
  DatabaseOptions opts;
  opts.info_log = [&log](std::string_view line) { log.emplace_back(line); };
  auto db = MakeDb(dir, Metric::kCosine, 5000, opts);
  SyntheticGenerator gen({.dim = kDim});
  auto qs = gen.Queries(0, 32);
  auto resident = [&log] {
    for (const auto& l : log) {
      if (l.find("resident on GPU") != std::string::npos) return true;
    }
    return false;
  };
  SearchOptions o, cpu;
  o.device = Device::kAuto;
  cpu.device = Device::kCpu;
  // Stage 0 in the graph and no device graph yet: the GPU re-ranks what the HNSW graph found
  // (the same hits), and the device copy is made so that the device graph can be built.
  auto graph_auto = db->SearchBatch("c", qs, 32, o);
  auto graph_cpu = db->SearchBatch("c", qs, 32, cpu);
  ASSERT_TRUE(graph_auto.ok() && graph_cpu.ok());
  for (size_t i = 0; i < 32; ++i) ExpectSameHits((*graph_auto)[i], (*graph_cpu)[i]);
  EXPECT_TRUE(resident());
  o.plan = cpu.plan = SearchPlan::Exact();
  auto on_auto = db->SearchBatch("c", qs, 32, o);
  ASSERT_TRUE(on_auto.ok()) << on_auto.status().ToString();
  auto on_cpu = db->SearchBatch("c", qs, 32, cpu);
  ASSERT_TRUE(on_cpu.ok());
  for (size_t i = 0; i < 32; ++i) ExpectSameHits((*on_auto)[i], (*on_cpu)[i]);
}

TEST(GpuFunnel, DeviceGpuWithoutDeviceFailsClearly) {
  auto devices = gpu::ListDevices();
  if (devices.ok()) GTEST_SKIP() << "a GPU is present";
  TempDir dir;
  auto db = MakeDb(dir, Metric::kCosine, 200);
  SyntheticGenerator gen({.dim = kDim});
  auto q = gen.Queries(0, 1);
  SearchOptions o;
  o.device = Device::kGpu;
  auto r = db->Search("c", q, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotSupported) << r.status().ToString();
  // 'auto' falls back to the CPU and answers.
  o.device = Device::kAuto;
  auto batch = db->SearchBatch("c", gen.Queries(0, 20), 20, o);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ((*batch)[0].size(), 10u);
}

}  // namespace
}  // namespace mrldb
