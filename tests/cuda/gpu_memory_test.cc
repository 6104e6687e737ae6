// Device memory as the engine reports it (Database::GetMemory, DescribeCollection: SHOW MEMORY,
// DESCRIBE) after a device copy and a device graph are made, and the placement model of
// device 'auto' on a real device (docs/architecture.md, "Placement"). Skips without a GPU.
#include <gtest/gtest.h>

#include "cuda/gpu_info.h"
#include "cuda/gpu_search.h"
#include "mrldb/database.h"
#include "mrldb/synthetic.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::TempDir;

constexpr uint32_t kDim = 128;  // ladder 16, 32, 64, 128: 4 blocks
constexpr size_t kRows = 3000;

#define SKIP_WITHOUT_GPU()                                                         \
  do {                                                                             \
    auto devices = gpu::ListDevices();                                             \
    if (!devices.ok()) GTEST_SKIP() << "no GPU: " << devices.status().message();   \
  } while (0)

std::unique_ptr<Database> MakeDb(const TempDir& dir, size_t gpu_budget) {
  DatabaseOptions o;
  o.auto_tune = false;
  o.gpu_memory_bytes = gpu_budget;
  auto db = testing::OpenOrDie(dir.path(), o);
  CollectionSpec s;
  s.name = "c";
  s.dim = kDim;
  s.metric = Metric::kL2;
  s.id_type = IdType::kBigint;
  EXPECT_TRUE(db->CreateCollection(s).ok());
  SyntheticGenerator gen({.dim = kDim});
  auto data = gen.Rows(0, kRows);
  InsertBatch b;
  for (size_t i = 0; i < kRows; ++i) {
    b.Add(Key{int64_t(i)}, std::span<const float>(data.data() + i * kDim, kDim), {});
  }
  EXPECT_TRUE(db->Upsert("c", b).ok());
  EXPECT_TRUE(db->WaitForIndexing().ok());
  return db;
}

const DeviceMemoryUse& DeviceOf(const DatabaseMemory& m) {
  for (const auto& [name, u] : m.collections) {
    if (name == "c") return u.device;
  }
  static const DeviceMemoryUse none;
  ADD_FAILURE() << "no collection c in GetMemory";
  return none;
}

TEST(GpuMemory, ReportsTheDeviceCopyAndGraph) {
  SKIP_WITHOUT_GPU();
  TempDir dir;
  constexpr size_t kBudget = size_t{64} << 20;
  auto db = MakeDb(dir, kBudget);
  auto before = db->GetMemory();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  ASSERT_TRUE(before->gpu.has_value()) << before->gpu_unavailable;
  EXPECT_GT(before->gpu->total_memory, 0u);
  EXPECT_FALSE(DeviceOf(*before).copy);  // no GPU search yet
  EXPECT_EQ(DeviceOf(*before).vector_bytes, 0u);

  SyntheticGenerator gen({.dim = kDim, .seed = 3});
  SearchOptions o;
  o.device = Device::kGpu;
  o.plan = SearchPlan::Exact();
  ASSERT_TRUE(db->Search("c", gen.Queries(0, 1), o).ok());
  auto after = db->GetMemory();
  ASSERT_TRUE(after.ok());
  const DeviceMemoryUse& d = DeviceOf(*after);
  ASSERT_TRUE(d.copy) << d.unavailable;
  EXPECT_EQ(d.rows, kRows);
  EXPECT_FALSE(d.float16);
  EXPECT_EQ(d.budget_bytes, kBudget);
  // float32 values and one float norm per block, for every row the first reserve allocated.
  const uint64_t row_bytes = kDim * sizeof(float) + 4 * sizeof(float);
  EXPECT_EQ(d.vector_bytes % row_bytes, 0u);
  EXPECT_GE(d.vector_bytes, kRows * row_bytes);
  EXPECT_LE(d.vector_bytes, 2 * kRows * row_bytes);
  EXPECT_EQ(d.graph_bytes, 0u);
  EXPECT_FALSE(d.device.empty());
  ASSERT_TRUE(after->gpu.has_value());
  EXPECT_GT(after->gpu->free_memory, 0u);  // read once a copy exists
  EXPECT_LE(after->gpu->free_memory, after->gpu->total_memory);

  ASSERT_TRUE(db->BuildGpuGraph("c").ok());
  auto info = db->DescribeCollection("c");
  ASSERT_TRUE(info.ok());
  const DeviceMemoryUse& g = info->memory.device;
  ASSERT_TRUE(g.copy);
  EXPECT_EQ(g.graph_rows, kRows);
  EXPECT_GE(g.graph_bytes, kRows * sizeof(uint32_t));  // at least one edge per row
  EXPECT_LE(g.graph_bytes, kRows * gpu::kGraphBytesPerRow);
}

TEST(GpuMemory, AutoMeasuresBothSidesThenChoosesTheFaster) {
  SKIP_WITHOUT_GPU();
  TempDir dir;
  auto db = MakeDb(dir, 0);
  SyntheticGenerator gen({.dim = kDim, .seed = 4});
  auto qs = gen.Queries(0, 256);
  SearchOptions o, cpu;
  o.device = Device::kAuto;
  o.plan = cpu.plan = SearchPlan::Exact();
  cpu.device = Device::kCpu;
  auto truth = db->SearchBatch("c", qs, 256, cpu);
  ASSERT_TRUE(truth.ok());
  for (int i = 0; i < 6; ++i) {
    auto r = db->SearchBatch("c", qs, 256, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (size_t q = 0; q < 256; ++q) {
      ASSERT_EQ((*r)[q].size(), (*truth)[q].size());
      EXPECT_NEAR((*r)[q][0].distance, (*truth)[q][0].distance, 1e-3 * (1 + (*truth)[q][0].distance));
    }
  }
  auto est = db->GetPlacement("c");
  ASSERT_TRUE(est.ok());
  ASSERT_EQ(est->size(), 1u);
  const PlacementEstimate& e = (*est)[0];
  EXPECT_EQ(e.batch_min, 256u);
  EXPECT_EQ(e.batches, 6u);
  EXPECT_GE(e.gpu_runs, 1u);
  EXPECT_GE(e.cpu_runs, 1u);
  EXPECT_EQ(e.gpu_runs + e.cpu_runs, 6u);
  const bool gpu_faster = e.gpu_seconds < e.cpu_seconds;
  auto where = db->ExplainPlacement("c", o, 256);
  ASSERT_TRUE(where.ok());
  EXPECT_EQ(where->rfind(gpu_faster ? "gpu: measured" : "cpu: measured", 0), 0u) << *where;
}

}  // namespace
}  // namespace mrldb
