// The device graph's walk with one and with several thread blocks per query
// (FunnelBatch::blocks_per_query, docs/architecture.md "The GPU graph"), on a DeviceBlocks of
// synthetic Matryoshka rows: every setting against exact search in double precision (recall
// floor, no row twice, ascending distances equal to the reference, masked rows never
// returned, rows past the graph found), the automatic choice by batch size, and a captured
// call replayed on new queries. Skips without a GPU.
#include <algorithm>
#include <cmath>
#include <set>

#include <gtest/gtest.h>

#include "cuda/gpu_info.h"
#include "cuda/gpu_search.h"
#include "mrldb/synthetic.h"

namespace mrldb {
namespace {

#define SKIP_WITHOUT_GPU()                                                         \
  do {                                                                             \
    auto devices = gpu::ListDevices();                                             \
    if (!devices.ok()) GTEST_SKIP() << "no GPU: " << devices.status().message();   \
  } while (0)

constexpr uint32_t kDim = 128;
const std::vector<uint32_t> kLadder = {16, 32, 64, 128};
constexpr uint64_t kRows = 30000, kGraphRows = 26000;  // the last 4,000 are scanned by the walk
constexpr size_t kNq = 40;
constexpr uint32_t kK = 10;

struct Data {
  Data() : gen({.dim = kDim}), x(gen.Rows(0, kRows)), q(gen.Queries(0, kNq)) {
    // Four of the queries are rows past the graph (each must find itself first).
    for (size_t i = 0; i < 4; ++i) std::copy_n(x.data() + (kGraphRows + 997 * i) * kDim, kDim, q.data() + i * kDim);
    mask.assign(kRows, 1);
    for (uint64_t r = 5; r < kRows; r += 7) mask[r] = 0;  // "deleted"
    for (size_t i = 0; i < 4; ++i) mask[kGraphRows + 997 * i] = 1;
  }
  double Distance(size_t qi, uint64_t row) const {  // cosine at full dims, in double
    double dot = 0, qq = 0, xx = 0;
    for (uint32_t d = 0; d < kDim; ++d) {
      const double a = q[qi * kDim + d], b = x[row * kDim + d];
      dot += a * b;
      qq += a * a;
      xx += b * b;
    }
    return 1.0 - dot / std::sqrt(qq * xx);
  }
  std::vector<uint64_t> Truth(size_t qi) const {
    std::vector<std::pair<double, uint64_t>> all;
    for (uint64_t r = 0; r < kRows; ++r) {
      if (mask[r]) all.push_back({Distance(qi, r), r});
    }
    std::partial_sort(all.begin(), all.begin() + kK, all.end());
    std::vector<uint64_t> out;
    for (uint32_t i = 0; i < kK; ++i) out.push_back(all[i].second);
    return out;
  }
  SyntheticGenerator gen;
  std::vector<float> x, q;
  std::vector<uint8_t> mask;
};

const Data& D() {
  static const Data d;
  return d;
}

std::unique_ptr<gpu::DeviceBlocks> Upload() {
  std::vector<uint32_t> widths;
  for (size_t b = 0; b < kLadder.size(); ++b) widths.push_back(kLadder[b] - (b ? kLadder[b - 1] : 0));
  auto made = gpu::DeviceBlocks::Create(widths, {});
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  if (!made.ok()) return nullptr;
  auto dev = std::move(*made);
  EXPECT_TRUE(dev->Reserve(kRows).ok());
  std::vector<float> block, norms(kRows, 0.0f);
  for (size_t b = 0; b < kLadder.size(); ++b) {
    const uint32_t begin = b ? kLadder[b - 1] : 0, w = kLadder[b] - begin;
    block.resize(kRows * w);
    for (uint64_t r = 0; r < kRows; ++r) {
      const float* v = D().x.data() + r * kDim;
      std::copy_n(v + begin, w, block.data() + r * w);
      for (uint32_t d = begin; d < kLadder[b]; ++d) norms[r] += v[d] * v[d];
    }
    EXPECT_TRUE(dev->SetRows(b, 0, kRows, block.data()).ok());
    EXPECT_TRUE(dev->SetSqNorms(b, 0, kRows, norms.data()).ok());
  }
  gpu::GraphBuildOptions g;
  g.level = 2;  // 64 dims
  g.rows = kGraphRows;
  auto built = dev->BuildGraph(g);
  EXPECT_TRUE(built.ok()) << built.status().ToString();
  return dev;
}

gpu::FunnelBatch Batch(size_t nq, uint32_t blocks) {
  gpu::FunnelBatch b;
  b.queries = D().q.data();
  b.nq = nq;
  b.query_stride = kDim;
  b.mask = D().mask.data();
  b.rows = kRows;
  b.keep0 = 64;
  b.itopk = 64;
  b.blocks_per_query = blocks;
  b.stages = {{3, kK}};  // 128 dims
  return b;
}

TEST(GpuWalk, EveryNumberOfBlocksPerQueryMatchesExactSearch) {
  SKIP_WITHOUT_GPU();
  auto dev = Upload();
  ASSERT_NE(dev, nullptr);
  std::vector<std::vector<uint64_t>> truth;
  for (size_t i = 0; i < kNq; ++i) truth.push_back(D().Truth(i));
  for (uint32_t blocks : {1u, 2u, 4u, 8u, 16u}) {
    SCOPED_TRACE(::testing::Message() << blocks << " blocks per query");
    auto r = dev->Funnel(Batch(kNq, blocks));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->blocks_per_query, blocks);
    size_t hit = 0;
    for (size_t i = 0; i < kNq; ++i) {
      ASSERT_EQ(r->offsets[i + 1] - r->offsets[i], kK) << "query " << i;
      std::set<uint64_t> seen, want(truth[i].begin(), truth[i].end());
      for (uint32_t j = r->offsets[i]; j < r->offsets[i + 1]; ++j) {
        const uint64_t row = r->rows[j];
        ASSERT_LT(row, kRows);
        EXPECT_TRUE(seen.insert(row).second) << "row " << row << " twice for query " << i;
        EXPECT_NE(D().mask[row], 0) << "masked row " << row << " returned";
        const double ref = D().Distance(i, row);
        EXPECT_NEAR(r->distance[j], ref, 1e-4 * (1 + std::fabs(ref)));
        if (j > r->offsets[i]) {
          EXPECT_LE(r->distance[j - 1], r->distance[j]);
        }
        hit += want.count(row);
      }
      if (i < 4) {
        EXPECT_EQ(r->rows[r->offsets[i]], kGraphRows + 997 * i) << "a row past the graph was not found";
      }
    }
    EXPECT_GE(double(hit) / double(kNq * kK), 0.95);
  }
}

TEST(GpuWalk, SmallBatchesGetSeveralBlocksPerQueryAndLargeOnesOne) {
  SKIP_WITHOUT_GPU();
  auto dev = Upload();
  ASSERT_NE(dev, nullptr);
  auto one = dev->Funnel(Batch(1, 0));
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_GT(one->blocks_per_query, 1u);
  EXPECT_EQ(one->rows[0], kGraphRows);  // query 0 is that row
  // The same shape again replays the captured call on new queries (queries 1 .. 3 are rows
  // past the graph too), and the first query once more gives the same answer.
  for (size_t i = 1; i < 4; ++i) {
    gpu::FunnelBatch again = Batch(1, 0);
    again.queries = D().q.data() + i * kDim;
    auto r = dev->Funnel(again);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->rows[0], kGraphRows + 997 * i) << "query " << i;
  }
  auto repeat = dev->Funnel(Batch(1, 0));
  ASSERT_TRUE(repeat.ok());
  EXPECT_EQ(repeat->rows, one->rows);
  EXPECT_EQ(repeat->distance, one->distance);
  // Timed stages run launch by launch: the same answer, with the walk's device time.
  gpu::FunnelBatch timed = Batch(1, 0);
  timed.time_stages = true;
  auto t = dev->Funnel(timed);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->rows, one->rows);
  EXPECT_GT(t->graph_seconds, 0.0);
  EXPECT_EQ(one->graph_seconds, 0.0);
  // A batch that fills the device: one block each (the queries repeat).
  std::vector<float> many;
  for (int rep = 0; rep < 20; ++rep) many.insert(many.end(), D().q.begin(), D().q.end());
  gpu::FunnelBatch b = Batch(kNq * 20, 0);
  b.queries = many.data();
  auto big = dev->Funnel(b);
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  EXPECT_EQ(big->blocks_per_query, 1u);
  auto bad = dev->Funnel(Batch(1, 17));
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument) << bad.status().ToString();
}

}  // namespace
}  // namespace mrldb
