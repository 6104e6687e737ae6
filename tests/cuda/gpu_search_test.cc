// The GPU reranker and GPU exact search against the CPU on random shapes: odd block widths,
// empty candidate lists, keep larger than the list, every metric, float32 and float16, rows
// beyond the memory budget (partial residency), masked (deleted) rows, several selection tiles.
// Without a device every test skips and says why.
//
// Tolerances: float32 distances within 1e-4 * (1 + |d|) of the CPU's and the same ids apart
// from exact ties; float16 distances within 4e-3 * (1 + |d|), and ids may differ only between
// candidates whose CPU distances are that close (near-ties the rounding can swap).
#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "cuda/gpu_info.h"
#include "cuda/gpu_search.h"
#include "engine/gpu_reranker.h"
#include "engine/reranker.h"
#include "tests/engine/rerank_reference.h"

namespace mrldb {
namespace {

using testing::RerankFixture;

#define SKIP_WITHOUT_GPU()                                                         \
  do {                                                                             \
    auto devices = gpu::ListDevices();                                             \
    if (!devices.ok()) GTEST_SKIP() << "no GPU: " << devices.status().message();   \
  } while (0)

double Tolerance(gpu::Precision p) { return p == gpu::Precision::kFloat32 ? 1e-4 : 4e-3; }

std::unique_ptr<gpu::DeviceBlocks> Upload(const RerankFixture& f, gpu::Precision precision,
                                          size_t budget_rows = 0) {
  std::vector<uint32_t> widths;
  const auto& ladder = f.cache.ladder();
  for (size_t b = 0; b < ladder.blocks(); ++b) widths.push_back(ladder.width(b));
  gpu::DeviceBlocksOptions o;
  o.precision = precision;
  const size_t elem = precision == gpu::Precision::kFloat32 ? 4 : 2;
  if (budget_rows) o.budget_bytes = budget_rows * (f.dim * elem + widths.size() * 4 + gpu::kGraphBytesPerRow);
  auto made = gpu::DeviceBlocks::Create(widths, o);
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  if (!made.ok()) return nullptr;
  auto dev = std::move(*made);
  EXPECT_TRUE(dev->Reserve(f.rows).ok());
  for (size_t b = 0; b < ladder.blocks(); ++b) {
    for (uint64_t first = 0; first < f.rows; first += ColumnCache::kChunkRows) {
      const size_t n = std::min<uint64_t>(ColumnCache::kChunkRows, f.rows - first);
      EXPECT_TRUE(dev->SetRows(b, first, n, f.cache.Chunk(b, first / ColumnCache::kChunkRows)).ok());
    }
    EXPECT_TRUE(dev->SetSqNorms(b, 0, f.rows, f.cache.SqNorms(b)).ok());
  }
  return dev;
}

// `got` and `want` (both ascending) hold the same rows, apart from rows whose distances lie
// within `tol` of the last one kept (near-ties at the boundary), with distances within tol.
void ExpectSameResults(const std::vector<Candidate>& got, const std::vector<Candidate>& want,
                       double tol) {
  ASSERT_EQ(got.size(), want.size());
  if (want.empty()) return;
  const double last = want.back().distance;
  std::set<uint64_t> g, w;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i].distance, want[i].distance, tol * (1 + std::fabs(want[i].distance))) << "rank " << i;
    g.insert(got[i].row);
    w.insert(want[i].row);
  }
  for (size_t i = 0; i < want.size(); ++i) {
    if (!g.count(want[i].row)) {
      EXPECT_LE(std::fabs(want[i].distance - last), 2 * tol * (1 + std::fabs(last)))
          << "row " << want[i].row << " at rank " << i << " is missing from the GPU's result";
    }
    if (!w.count(got[i].row)) {
      EXPECT_LE(std::fabs(got[i].distance - last), 2 * tol * (1 + std::fabs(last)))
          << "row " << got[i].row << " at rank " << i << " is not in the CPU's result";
    }
  }
}

struct Shape {
  gpu::Precision precision;
  Metric metric;
  std::vector<uint32_t> ladder;
  size_t budget_rows;  // 0: all rows resident
};

class GpuRerankTest : public ::testing::TestWithParam<Shape> {};

TEST_P(GpuRerankTest, MatchesCpuReranker) {
  SKIP_WITHOUT_GPU();
  const Shape& s = GetParam();
  RerankFixture f(s.ladder, /*rows=*/3000, /*queries=*/37, /*seed=*/3);
  auto dev = Upload(f, s.precision, s.budget_rows);
  ASSERT_NE(dev, nullptr);
  if (s.budget_rows) {
    ASSERT_EQ(dev->resident_rows(), s.budget_rows);
  }
  GpuReranker gpu_rr(dev.get(), f.cache, s.metric, BlockStorage{});
  CpuReranker cpu_rr(f.cache, s.metric, BlockStorage{});
  // Query 0 empty, query 1 three candidates (keep is larger), then up to 700.
  CandidateLists on_gpu = f.RandomCandidates({0, 3}, 700, /*seed=*/5);
  CandidateLists on_cpu = on_gpu;
  const auto& g = s.ladder;
  const std::vector<std::pair<uint32_t, uint32_t>> stages = {
      {g[1], 300}, {g[g.size() - 2], 64}, {g.back(), 10}};
  uint32_t done = 0;
  for (auto [dims, keep] : stages) {
    SCOPED_TRACE(::testing::Message() << "stage at " << dims << " dims, keep " << keep);
    std::vector<double> q_sq = f.QuerySqNorms(dims);
    RerankArgs args{f.queries.data(), f.dim, q_sq.data(), done, dims, keep};
    RerankSplit gs, cs;
    Status st = gpu_rr.Rerank(args, &on_gpu, &gs);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_TRUE(cpu_rr.Rerank(args, &on_cpu, &cs).ok());
    EXPECT_GT(gs.gpu, 0u);
    if (s.budget_rows) {
      EXPECT_GT(gs.cpu, 0u) << "rows beyond the budget go to the CPU";
    } else {
      EXPECT_EQ(gs.cpu, 0u);
    }
    for (size_t q = 0; q < f.nq; ++q) {
      SCOPED_TRACE(::testing::Message() << "query " << q);
      ExpectSameResults(on_gpu.Query(q), on_cpu.Query(q), Tolerance(s.precision));
    }
    // Continue both from the CPU's lists, so that a near-tie swap in float16 does not
    // compound over the stages.
    on_gpu = on_cpu;
    done = dims;
  }
  EXPECT_EQ(on_cpu.Query(0).size(), 0u);
  EXPECT_EQ(on_cpu.Query(1).size(), 3u);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GpuRerankTest,
    ::testing::Values(
        Shape{gpu::Precision::kFloat32, Metric::kCosine, {16, 32, 64, 128, 256, 768}, 0},
        Shape{gpu::Precision::kFloat32, Metric::kL2, {3, 8, 13, 29, 101}, 0},
        Shape{gpu::Precision::kFloat32, Metric::kInnerProduct, {5, 17, 40, 99}, 0},
        Shape{gpu::Precision::kFloat32, Metric::kCosine, {16, 32, 64, 128}, 1000},
        Shape{gpu::Precision::kFloat16, Metric::kCosine, {16, 32, 64, 128, 256, 768}, 0},
        Shape{gpu::Precision::kFloat16, Metric::kL2, {3, 8, 13, 29, 101}, 0},
        Shape{gpu::Precision::kFloat16, Metric::kInnerProduct, {8, 16, 32, 64}, 1200}),
    [](const ::testing::TestParamInfo<Shape>& p) {
      // e.g. f32_cosine_6_blocks, f16_ip_4_blocks_budget_1200
      std::string name = fmt::format("{}_{}_{}_blocks", p.param.precision == gpu::Precision::kFloat16 ? "f16" : "f32",
                                     MetricName(p.param.metric), p.param.ladder.size());
      if (p.param.budget_rows) name += fmt::format("_budget_{}", p.param.budget_rows);
      return name;
    });

struct ExactShape {
  gpu::Precision precision;
  Metric metric;
  uint64_t rows;
  uint32_t dims;  // maybe off the ladder
  uint32_t k;
  gpu::ExactMethod method = gpu::ExactMethod::kGemm;
  // Granularities. {4, 13, 32, 77}: a dimension of 77, so rows are not 16-byte aligned (the
  // fused scan's scalar loads); {16, 32, 64, 128}: aligned (its 16-byte loads when dims allow).
  std::vector<uint32_t> ladder = {4, 13, 32, 77};
};

class GpuExactTest : public ::testing::TestWithParam<ExactShape> {};

TEST_P(GpuExactTest, MatchesBruteForceReference) {
  SKIP_WITHOUT_GPU();
  const ExactShape& s = GetParam();
  RerankFixture f(s.ladder, s.rows, /*queries=*/23, /*seed=*/9);
  auto dev = Upload(f, s.precision);
  ASSERT_NE(dev, nullptr);
  // Every third row is "deleted"; the masked rows must never come back.
  std::vector<uint8_t> mask(f.rows, 1);
  std::vector<uint64_t> eligible;
  for (uint64_t r = 0; r < f.rows; ++r) {
    if (r % 3 == 1) mask[r] = 0;
    else eligible.push_back(r);
  }
  std::vector<double> q_sq = f.QuerySqNorms(s.dims);
  gpu::ExactBatch b;
  b.queries = f.queries.data();
  b.nq = f.nq;
  b.query_stride = f.dim;
  b.dims = s.dims;
  b.q_sq = q_sq.data();
  b.mask = mask.data();
  b.rows = f.rows;
  b.metric = static_cast<gpu::Metric>(s.metric);
  b.k = s.k;
  b.method = s.method;
  auto r = dev->Exact(b);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->fused, s.method == gpu::ExactMethod::kFused);
  for (size_t q = 0; q < f.nq; ++q) {
    SCOPED_TRACE(::testing::Message() << "query " << q);
    std::vector<Candidate> got;
    for (uint32_t j = r->offsets[q]; j < r->offsets[q + 1]; ++j) {
      got.push_back({r->distance[j], r->rows[j]});
      EXPECT_NE(mask[r->rows[j]], 0) << "masked row " << r->rows[j] << " returned";
    }
    ExpectSameResults(got, f.Reference(s.metric, q, eligible, s.dims, s.k), Tolerance(s.precision));
  }
}

// Every shape by both methods, then shapes for the fused scan's own limits: k past one
// segment of staging (300: 16 queries a block; 1500: 8), aligned rows at aligned and unaligned
// prefixes, one row, fewer rows than one tile, many splits.
std::vector<ExactShape> ExactShapes() {
  using P = gpu::Precision;
  const std::vector<ExactShape> base = {
      {P::kFloat32, Metric::kCosine, 5000, 77, 10},
      {P::kFloat32, Metric::kL2, 5000, 20, 25},
      {P::kFloat32, Metric::kInnerProduct, 5000, 13, 1},
      // k larger than the eligible rows: all of them, in order.
      {P::kFloat32, Metric::kCosine, 40, 32, 100},
      // More rows than one selection tile (65,536): the tiles' survivors merge.
      {P::kFloat32, Metric::kCosine, 150000, 45, 50},
      {P::kFloat16, Metric::kCosine, 150000, 77, 20},
      {P::kFloat16, Metric::kL2, 5000, 33, 10}};
  std::vector<ExactShape> all;
  for (ExactShape s : base) {
    all.push_back(s);
    s.method = gpu::ExactMethod::kFused;
    all.push_back(s);
  }
  const std::vector<uint32_t> aligned = {16, 32, 64, 128};
  const auto F = gpu::ExactMethod::kFused;
  all.push_back({P::kFloat32, Metric::kCosine, 20000, 32, 300, F, aligned});
  all.push_back({P::kFloat32, Metric::kL2, 20000, 64, 1500, F, aligned});
  all.push_back({P::kFloat16, Metric::kCosine, 20000, 64, 300, F, aligned});
  all.push_back({P::kFloat16, Metric::kInnerProduct, 20000, 16, 10, F, aligned});
  all.push_back({P::kFloat32, Metric::kCosine, 20000, 30, 10, F, aligned});   // unaligned prefix
  all.push_back({P::kFloat32, Metric::kCosine, 1, 16, 10, F, aligned});       // one row
  all.push_back({P::kFloat32, Metric::kCosine, 100, 128, 7, F, aligned});     // under one tile
  all.push_back({P::kFloat32, Metric::kInnerProduct, 300000, 16, 100, F, aligned});
  return all;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GpuExactTest, ::testing::ValuesIn(ExactShapes()),
    [](const ::testing::TestParamInfo<ExactShape>& p) {
      // e.g. f32_cosine_5000_rows_77_dims_k10_fused_dim77
      const uint32_t dim = p.param.ladder.back();
      return fmt::format("{}_{}_{}_rows_{}_dims_k{}_{}_dim{}",
                         p.param.precision == gpu::Precision::kFloat16 ? "f16" : "f32",
                         MetricName(p.param.metric), p.param.rows, p.param.dims, p.param.k,
                         p.param.method == gpu::ExactMethod::kFused ? "fused" : "gemm", dim);
    });

// The fused scan refuses what it cannot take, naming its limits; kAuto then uses the GEMM.
TEST(GpuSearch, FusedExactRefusesWideShapes) {
  SKIP_WITHOUT_GPU();
  RerankFixture f({16, 32, 64, 128, 256, 512}, 3000, /*queries=*/3, /*seed=*/4);
  auto dev = Upload(f, gpu::Precision::kFloat32);
  ASSERT_NE(dev, nullptr);
  std::vector<double> q_sq = f.QuerySqNorms(512);
  gpu::ExactBatch b;
  b.queries = f.queries.data();
  b.nq = f.nq;
  b.query_stride = f.dim;
  b.q_sq = q_sq.data();
  b.rows = f.rows;
  b.metric = gpu::Metric::kCosine;
  b.method = gpu::ExactMethod::kFused;
  b.dims = 512;
  b.k = 10;
  auto wide = dev->Exact(b);
  ASSERT_FALSE(wide.ok());
  EXPECT_EQ(wide.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(wide.status().message().find("256 dims"), std::string::npos) << wide.status().message();
  b.dims = 64;
  b.k = gpu::kFusedMaxK + 1;
  q_sq = f.QuerySqNorms(64);
  b.q_sq = q_sq.data();
  EXPECT_EQ(dev->Exact(b).status().code(), Status::Code::kInvalidArgument);
  b.method = gpu::ExactMethod::kAuto;
  auto automatic = dev->Exact(b);
  ASSERT_TRUE(automatic.ok()) << automatic.status().ToString();
  EXPECT_FALSE(automatic->fused);
  EXPECT_EQ(automatic->offsets.back(), f.nq * std::min<uint64_t>(f.rows, b.k));
}

// The union GEMM that mrldb-bench measures against the fused kernel computes the same scores.
TEST(GpuSearch, UnionGemmMatchesCpuScores) {
  SKIP_WITHOUT_GPU();
  RerankFixture f({16, 32, 64, 128}, 2000, 11, 4);
  auto dev = Upload(f, gpu::Precision::kFloat32);
  ASSERT_NE(dev, nullptr);
  CandidateLists lists = f.RandomCandidates({0, 1}, 300, 8);
  for (size_t i = 0; i < lists.acc.size(); ++i) lists.acc[i] = 0.25 * double(i % 5);
  std::vector<uint64_t> rows;
  for (const Candidate& c : lists.cands) rows.push_back(c.row);
  gpu::RerankBatch b;
  b.queries = f.queries.data();
  b.nq = f.nq;
  b.query_stride = f.dim;
  b.offsets = lists.offsets.data();
  b.rows = rows.data();
  b.acc = lists.acc.data();
  b.b_from = 1;  // dims [16, 128)
  b.b_to = 3;
  b.metric = gpu::Metric::kInnerProduct;
  b.keep = 1;
  std::vector<double> acc;
  auto secs = dev->UnionGemmSeconds(b, &acc);
  ASSERT_TRUE(secs.ok()) << secs.status().ToString();
  ASSERT_EQ(acc.size(), rows.size());
  for (size_t q = 0; q < f.nq; ++q) {
    for (uint32_t i = lists.offsets[q]; i < lists.offsets[q + 1]; ++i) {
      double want = lists.acc[i];
      for (uint32_t d = 16; d < 128; ++d) want += double{f.queries[q * f.dim + d]} * f.data[rows[i] * f.dim + d];
      EXPECT_NEAR(acc[i], want, 1e-4 * (1 + std::fabs(want))) << "query " << q << " candidate " << i;
    }
  }
}

TEST(GpuSearch, NoDeviceMeansNotSupported) {
  auto devices = gpu::ListDevices();
  if (devices.ok()) GTEST_SKIP() << "a GPU is present";
  auto made = gpu::DeviceBlocks::Create({16, 16}, {});
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().code(), Status::Code::kNotSupported) << made.status().ToString();
}

TEST(GpuSearch, RejectsRowsThatAreNotResident) {
  SKIP_WITHOUT_GPU();
  RerankFixture f({8, 16}, 100, 1, 1);
  auto dev = Upload(f, gpu::Precision::kFloat32);
  ASSERT_NE(dev, nullptr);
  const uint32_t offsets[] = {0, 1};
  const uint64_t rows[] = {100};
  const double acc[] = {0};
  gpu::RerankBatch b;
  b.queries = f.queries.data();
  b.nq = 1;
  b.query_stride = f.dim;
  b.offsets = offsets;
  b.rows = rows;
  b.acc = acc;
  b.b_to = 1;
  b.metric = gpu::Metric::kInnerProduct;
  b.keep = 1;
  auto r = dev->Rerank(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << r.status().ToString();
}

}  // namespace
}  // namespace mrldb
