// The device graph (docs/architecture.md, "The GPU graph"): searches whose every stage runs on
// the GPU against exact search (recall floors, distances equal to a double-precision reference)
// and against the CPU funnel; rows inserted and deleted after the build; a filter through every
// stage; the saved graph installed again on reopen, a damaged file refused and rebuilt. Skips
// without a GPU.
#include <cmath>
#include <filesystem>
#include <fstream>
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
constexpr size_t kRows = 20000;

#define SKIP_WITHOUT_GPU()                                                         \
  do {                                                                             \
    auto devices = gpu::ListDevices();                                             \
    if (!devices.ok()) GTEST_SKIP() << "no GPU: " << devices.status().message();   \
  } while (0)

const SyntheticGenerator& Gen() {
  static const SyntheticGenerator gen({.dim = kDim});
  return gen;
}

void Fill(Database& db, size_t first, size_t n, int64_t id_base = 0) {
  auto data = Gen().Rows(first, n);
  InsertBatch b;
  for (size_t i = 0; i < n; ++i) {
    b.Add(Key{int64_t(id_base + first + i)}, std::span<const float>(data.data() + i * kDim, kDim),
          {Value{int64_t((first + i) % 10)}});
  }
  ASSERT_OK(db.Upsert("c", b));
}

std::unique_ptr<Database> MakeDb(const TempDir& dir, Metric metric, bool create = true) {
  DatabaseOptions o;
  o.auto_tune = false;  // the plans below are the ones compared; no background build
  auto db = testing::OpenOrDie(dir.path(), o);
  if (!create) {
    // GPU searches need every block in memory; after an open they load in the background.
    EXPECT_TRUE(db->WaitForLoading().ok());
    return db;
  }
  CollectionSpec s;
  s.name = "c";
  s.dim = kDim;
  s.metric = metric;
  s.id_type = IdType::kBigint;
  s.attributes = {{"cat", AttrType::kInt}};
  EXPECT_TRUE(db->CreateCollection(s).ok());
  for (size_t first = 0; first < kRows; first += 5000) Fill(*db, first, 5000);
  EXPECT_TRUE(db->WaitForIndexing().ok());
  return db;
}

SearchOptions Opts(Device device, SearchPlan plan) {
  SearchOptions o;
  o.k = 10;
  o.device = device;
  o.plan = std::move(plan);
  return o;
}

// The funnel plan every test walks: 64-dim graph keeping 200 from a buffer of 256, then 128.
SearchPlan Plan() { return SearchPlan::Funnel({{64, 200}, {128, 0}}, 256); }

// The stage-0 device of a single GPU search: "gpu graph..." when the device graph ran.
std::string Stage0Device(Database& db, std::span<const float> q) {
  SearchStats stats;
  auto r = db.Search("c", q, Opts(Device::kGpu, Plan()), &stats);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return stats.stages.empty() ? "" : stats.stages[0].device;
}

double Recall(const std::vector<std::vector<Hit>>& got, const std::vector<std::vector<Hit>>& truth) {
  size_t hit = 0, all = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    std::set<Key> t;
    for (const Hit& h : truth[i]) t.insert(h.id);
    for (const Hit& h : got[i]) hit += t.count(h.id);
    all += truth[i].size();
  }
  return all ? double(hit) / double(all) : 1.0;
}

// The distance of a row from a query at full dims, in double (the generator's rows by id).
double Reference(Metric metric, const float* q, int64_t id) {
  auto x = Gen().Rows(uint64_t(id), 1);
  double dot = 0, qq = 0, xx = 0, l2 = 0;
  for (uint32_t d = 0; d < kDim; ++d) {
    dot += double{q[d]} * x[d];
    qq += double{q[d]} * q[d];
    xx += double{x[d]} * x[d];
    l2 += (double{q[d]} - x[d]) * (double{q[d]} - x[d]);
  }
  if (metric == Metric::kL2) return std::sqrt(l2);
  if (metric == Metric::kInnerProduct) return -dot;
  return 1.0 - dot / std::sqrt(qq * xx);
}

class GpuGraphTest : public ::testing::TestWithParam<Metric> {};

TEST_P(GpuGraphTest, FunnelOnTheDeviceGraphMatchesExactSearch) {
  SKIP_WITHOUT_GPU();
  TempDir dir;
  auto db = MakeDb(dir, GetParam());
  ASSERT_OK(db->BuildGpuGraph("c"));
  const size_t nq = 200;
  auto qs = Gen().Queries(0, nq);
  EXPECT_EQ(Stage0Device(*db, std::span<const float>(qs.data(), kDim)).rfind("gpu graph", 0), 0u);
  auto dev = db->SearchBatch("c", qs, nq, Opts(Device::kGpu, Plan()));
  auto cpu = db->SearchBatch("c", qs, nq, Opts(Device::kCpu, Plan()));
  auto exact = db->SearchBatch("c", qs, nq, Opts(Device::kCpu, SearchPlan::Exact()));
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  ASSERT_TRUE(cpu.ok() && exact.ok());
  const double r_dev = Recall(*dev, *exact), r_cpu = Recall(*cpu, *exact);
  EXPECT_GE(r_dev, 0.95);
  EXPECT_GE(r_dev, r_cpu - 0.03) << "device graph " << r_dev << ", CPU funnel " << r_cpu;
  for (size_t i = 0; i < nq; ++i) {
    ASSERT_EQ((*dev)[i].size(), 10u);
    for (size_t j = 0; j < (*dev)[i].size(); ++j) {
      const Hit& h = (*dev)[i][j];
      const double ref = Reference(GetParam(), qs.data() + i * kDim, std::get<int64_t>(h.id));
      EXPECT_NEAR(h.distance, ref, 1e-4 * (1 + std::fabs(ref))) << "query " << i << " hit " << j;
      if (j) {
        EXPECT_LE((*dev)[i][j - 1].distance, h.distance);
      }
    }
  }
  // Stage 0 alone (a PREFIX-like funnel of one stage) against exact search at the prefix.
  const SearchPlan prefix_only = SearchPlan::Funnel({{64, 0}}, 256);
  auto dp = db->SearchBatch("c", qs, nq, Opts(Device::kGpu, prefix_only));
  auto ep = db->SearchBatch("c", qs, nq, Opts(Device::kCpu, SearchPlan::Exact(64)));
  ASSERT_TRUE(dp.ok() && ep.ok());
  EXPECT_GE(Recall(*dp, *ep), 0.95);
}

TEST_P(GpuGraphTest, RowsWrittenAfterTheBuildAreFoundAndDeletedOnesAreNot) {
  SKIP_WITHOUT_GPU();
  TempDir dir;
  auto db = MakeDb(dir, GetParam());
  ASSERT_OK(db->BuildGpuGraph("c"));
  // New rows (ids from 1,000,000) are scanned by the walk until the next build.
  Fill(*db, kRows, 3000, 1000000 - int64_t(kRows));
  auto fresh = Gen().Rows(kRows + 1234, 1);
  auto r = db->SearchBatch("c", fresh, 1, Opts(Device::kGpu, Plan()));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE((*r)[0].empty());
  EXPECT_EQ((*r)[0][0].id, Key{int64_t(1000000 + 1234)});
  // A query's best hits, deleted, never come back.
  auto qs = Gen().Queries(1000, 16);
  auto before = db->SearchBatch("c", qs, 16, Opts(Device::kGpu, Plan()));
  ASSERT_TRUE(before.ok());
  std::vector<Key> gone;
  for (const auto& hits : *before) gone.push_back(hits[0].id);
  ASSERT_TRUE(db->Delete("c", gone).ok());
  std::set<Key> deleted(gone.begin(), gone.end());
  auto after = db->SearchBatch("c", qs, 16, Opts(Device::kGpu, Plan()));
  ASSERT_TRUE(after.ok());
  for (const auto& hits : *after) {
    EXPECT_EQ(hits.size(), 10u);
    for (const Hit& h : hits) EXPECT_FALSE(deleted.count(h.id)) << "a deleted row came back";
  }
}

TEST_P(GpuGraphTest, AFilterHoldsThroughEveryStage) {
  SKIP_WITHOUT_GPU();
  TempDir dir;
  auto db = MakeDb(dir, GetParam());
  ASSERT_OK(db->BuildGpuGraph("c"));
  const size_t nq = 100;
  auto qs = Gen().Queries(2000, nq);
  // cat IN (1, 2, 3): 30% of the rows, not selective enough for the brute-force path.
  SearchOptions g = Opts(Device::kGpu, Plan()), e = Opts(Device::kCpu, SearchPlan::Exact());
  g.filter = e.filter = Filter::In("cat", {Value{int64_t{1}}, Value{int64_t{2}}, Value{int64_t{3}}});
  g.attributes = {"cat"};
  auto dev = db->SearchBatch("c", qs, nq, g);
  auto exact = db->SearchBatch("c", qs, nq, e);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  ASSERT_TRUE(exact.ok());
  for (const auto& hits : *dev) {
    for (const Hit& h : hits) {
      const int64_t cat = std::get<int64_t>(h.attributes.at(0));
      EXPECT_TRUE(cat >= 1 && cat <= 3) << "cat " << cat;
    }
  }
  EXPECT_GE(Recall(*dev, *exact), 0.9);
}

INSTANTIATE_TEST_SUITE_P(Metrics, GpuGraphTest,
                         ::testing::Values(Metric::kCosine, Metric::kL2, Metric::kInnerProduct));

TEST(GpuGraphFile, TheSavedGraphIsInstalledOnReopenAndADamagedOneIsRebuilt) {
  SKIP_WITHOUT_GPU();
  TempDir dir;
  auto q = Gen().Queries(3000, 1);
  {
    auto db = MakeDb(dir, Metric::kCosine);
    ASSERT_OK(db->BuildGpuGraph("c"));
    ASSERT_OK(db->Close());
  }
  std::string file;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() + "/gpu")) {
    if (e.path().extension() == ".graph") file = e.path().string();
  }
  ASSERT_FALSE(file.empty()) << "no device graph file in gpu/";
  {
    auto db = MakeDb(dir, Metric::kCosine, /*create=*/false);
    EXPECT_EQ(Stage0Device(*db, q).rfind("gpu graph", 0), 0u) << "the saved graph was not installed";
    ASSERT_OK(db->Close());
  }
  {
    // One flipped byte in the edges: the checksum refuses the file, the HNSW path answers.
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    char c = 0;
    f.read(&c, 1);
    f.seekp(100);
    c = char(c ^ 0x5a);
    f.write(&c, 1);
  }
  {
    auto db = MakeDb(dir, Metric::kCosine, /*create=*/false);
    EXPECT_EQ(Stage0Device(*db, q).rfind("gpu graph", 0), std::string::npos);
    ASSERT_OK(db->BuildGpuGraph("c"));
    EXPECT_EQ(Stage0Device(*db, q).rfind("gpu graph", 0), 0u);
  }
  // Missing: the same.
  std::filesystem::remove(file);
  auto db = MakeDb(dir, Metric::kCosine, /*create=*/false);
  EXPECT_EQ(Stage0Device(*db, q).rfind("gpu graph", 0), std::string::npos);
}

}  // namespace
}  // namespace mrldb
