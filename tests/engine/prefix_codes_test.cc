// Int8 graph codes: encoding bounds, every SIMD kernel equal to the scalar reference, distances
// close to the float ones, and a graph on codes that finds what exact search finds.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <string>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "engine/distance.h"
#include "engine/prefix_codes.h"
#include "engine/prefix_index.h"
#include "mrldb/database.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

std::vector<float> RandomVector(std::mt19937& rng, uint32_t dims, bool unit) {
  std::normal_distribution<float> n(0, 1);
  std::vector<float> v(dims);
  double sq = 0;
  for (uint32_t i = 0; i < dims; ++i) {
    v[i] = n(rng) / float(1 + i / 8);  // decaying, as a Matryoshka prefix
    sq += double{v[i]} * v[i];
  }
  if (unit) {
    for (float& x : v) x = float(x / std::sqrt(sq));
  }
  return v;
}

float MaxAbs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

std::vector<uint8_t> Encode(const std::vector<float>& v, float scale) {
  std::vector<uint8_t> code(PrefixCodes::Bytes(uint32_t(v.size())));
  PrefixCodes::Encode(v.data(), uint32_t(v.size()), scale, code.data());
  return code;
}

TEST(PrefixCodesTest, DecodedValuesAreWithinHalfAStepAndOutliersAreClipped) {
  std::mt19937 rng(1);
  for (uint32_t dims : {1u, 16u, 31u, 32u, 64u, 100u, 128u}) {
    const auto v = RandomVector(rng, dims, false);
    const float scale = PrefixCodes::ScaleFor(MaxAbs(v));
    std::vector<uint8_t> code(PrefixCodes::Bytes(dims), 0xff);
    EXPECT_FALSE(PrefixCodes::Encode(v.data(), dims, scale, code.data()));
    for (uint32_t i = 0; i < dims; ++i) {
      EXPECT_NEAR(PrefixCodes::Decode(code.data(), i, scale), v[i], scale / 2 * 1.0001f) << dims << " " << i;
    }
    for (size_t i = dims; i < code.size(); ++i) EXPECT_EQ(code[i], 0) << "padding " << i;
    // A value far beyond the trained range is clipped to the largest code, and reported.
    auto big = v;
    big[0] = 1000 * scale * 127;
    EXPECT_TRUE(PrefixCodes::Encode(big.data(), dims, scale, code.data()));
    EXPECT_EQ(reinterpret_cast<const int8_t*>(code.data())[0], 127);
  }
  EXPECT_EQ(PrefixCodes::ScaleFor(0), 1.0f);  // all-zero training data: a usable scale
  EXPECT_EQ(PrefixCodes::Bytes(64), 64u);     // one cache line at 64 dims
  EXPECT_EQ(PrefixCodes::Bytes(16), 32u);
}

TEST(PrefixCodesTest, SimdKernelsEqualTheScalarOneAndTrackFloatDistances) {
  std::mt19937 rng(2);
  const CodeKernels& ref = ScalarCodeKernels();
  const auto kernels = AvailableCodeKernels();
  std::printf("code kernels: %s chosen, %zu available\n", CodeKernelsForCpu().name, kernels.size());
  for (uint32_t dims : {16u, 32u, 48u, 64u, 96u, 128u, 256u}) {
    for (int t = 0; t < 200; ++t) {
      const auto a = RandomVector(rng, dims, true), b = RandomVector(rng, dims, true);
      // One scale for both, as in a graph (unit vectors: values below 1).
      const float scale = PrefixCodes::ScaleFor(std::max(MaxAbs(a), MaxAbs(b)));
      const CodeParam param{PrefixCodes::Bytes(dims), scale * scale};
      const auto ca = Encode(a, scale), cb = Encode(b, scale);
      // Integer arithmetic: every SIMD kernel must agree exactly.
      for (const CodeKernels* simd : kernels) {
        EXPECT_EQ(simd->ip_distance(ca.data(), cb.data(), &param), ref.ip_distance(ca.data(), cb.data(), &param))
            << simd->name << " " << dims;
        EXPECT_EQ(simd->l2_distance(ca.data(), cb.data(), &param), ref.l2_distance(ca.data(), cb.data(), &param))
            << simd->name << " " << dims;
      }
      // And stay close to the float distances (unit vectors: errors of a few 1e-3).
      const size_t len = dims;
      const float ip = ScalarKernels().ip_distance(a.data(), b.data(), &len);
      const float l2 = ScalarKernels().l2_distance(a.data(), b.data(), &len);
      EXPECT_NEAR(ref.ip_distance(ca.data(), cb.data(), &param), ip, 0.02f) << dims;
      EXPECT_NEAR(ref.l2_distance(ca.data(), cb.data(), &param), l2, 0.04f) << dims;
    }
  }
}

// The graph on int8 codes against exact search over the float prefixes, per metric.
class CodeGraphTest : public ::testing::TestWithParam<Metric> {};

TEST_P(CodeGraphTest, FindsTheExactNeighboursOfTheFloatPrefixes) {
  const Metric metric = GetParam();
  constexpr uint32_t kDims = 64;
  constexpr size_t kRows = 5000, kQueries = 50, kCount = 20;
  std::mt19937 rng(3);
  const bool unit = metric == Metric::kCosine;
  std::vector<std::vector<float>> rows;
  HnswParams p;
  p.codes = GraphCodes::kInt8;
  PrefixIndex index(metric, kDims, p);
  ASSERT_TRUE(index.Reserve(kRows).ok());
  std::vector<float> flat;
  for (size_t r = 0; r < kRows; ++r) {
    rows.push_back(RandomVector(rng, kDims, unit));
    flat.insert(flat.end(), rows.back().begin(), rows.back().end());
  }
  EXPECT_TRUE(index.NeedsTraining());
  EXPECT_FALSE(index.Add(0, rows[0].data()).ok());  // no code before the scale is trained
  index.Train(flat.data(), 1000, kRows);             // a sample, as the collection trains
  for (size_t r = 0; r < kRows; ++r) ASSERT_TRUE(index.Add(r, rows[r].data()).ok());
  const size_t len = kDims;
  auto distance = [&](const float* a, const float* b) {
    return metric == Metric::kL2 ? ScalarKernels().l2_distance(a, b, &len)
                                 : ScalarKernels().ip_distance(a, b, &len);
  };
  double found = 0;
  for (size_t qi = 0; qi < kQueries; ++qi) {
    const auto q = RandomVector(rng, kDims, unit);
    std::vector<std::pair<float, size_t>> all;
    for (size_t r = 0; r < kRows; ++r) all.push_back({distance(q.data(), rows[r].data()), r});
    std::partial_sort(all.begin(), all.begin() + kCount, all.end());
    // A shortlist 4x the size, as a funnel's stage 0 takes, holds the exact top kCount.
    std::vector<std::pair<float, uint64_t>> got;
    index.Search(q.data(), 4 * kCount, 200, nullptr, &got);
    std::set<uint64_t> ids;
    for (const auto& [d, row] : got) ids.insert(row);
    for (size_t i = 0; i < kCount; ++i) found += ids.count(all[i].second);
    // Reloaded from its checkpoint, the graph (codes, scale) answers the same.
    if (qi == 0) {
      testing::TempDir dir;
      const std::string path = dir.path() + "/g.hnsw";
      ASSERT_TRUE(index.Save(path, kRows).ok());
      PrefixIndex loaded(metric, kDims, p);
      uint64_t covered = 0;
      ASSERT_TRUE(loaded.Load(path, &covered).ok());
      EXPECT_FALSE(loaded.NeedsTraining());
      EXPECT_EQ(loaded.code_scale(), index.code_scale());
      EXPECT_EQ(loaded.trained_rows(), kRows);
      std::vector<std::pair<float, uint64_t>> again;
      loaded.Search(q.data(), 4 * kCount, 200, nullptr, &again);
      EXPECT_EQ(again, got);
      // A float32 index does not take an int8 graph.
      PrefixIndex other(metric, kDims, HnswParams{});
      EXPECT_EQ(other.Load(path, &covered).code(), Status::Code::kCorruption);
    }
  }
  const double recall = found / (kQueries * kCount);
  EXPECT_GE(recall, 0.97) << MetricName(metric);
}

// Codes are trained on the rows present when the graph starts; rows far beyond that range make
// the collection rebuild its graph with codes retrained, and searches stay right throughout.
TEST(CodeDrift, RowsBeyondTheTrainedRangeRetrainTheCodes) {
  testing::TempDir dir;
  std::mutex mu;
  std::vector<std::string> log;
  DatabaseOptions o;
  o.info_log = [&](std::string_view line) {
    std::lock_guard l(mu);
    log.emplace_back(line);
  };
  auto db = testing::OpenOrDie(dir.path(), o);
  constexpr uint32_t kDim = 64;
  CollectionSpec spec;
  spec.name = "c";
  spec.dim = kDim;
  spec.index_dim = 32;
  spec.metric = Metric::kL2;
  spec.id_type = IdType::kBigint;
  spec.hnsw.codes = GraphCodes::kInt8;
  ASSERT_TRUE(db->CreateCollection(spec).ok());
  std::mt19937 rng(4);
  std::vector<std::vector<float>> rows;
  auto insert = [&](size_t n, float magnitude) {
    InsertBatch b;
    for (size_t i = 0; i < n; ++i) {
      auto v = RandomVector(rng, kDim, false);
      for (float& x : v) x *= magnitude;
      b.Add(Key{int64_t(rows.size())}, v, {});
      rows.push_back(std::move(v));
    }
    ASSERT_TRUE(db->Insert("c", b).ok());
    ASSERT_TRUE(db->WaitForIndexing().ok());
  };
  insert(500, 1.0f);
  insert(3000, 30.0f);  // 30x the trained range
  ASSERT_TRUE(db->WaitForIndexing().ok());  // the rebuild, if one was started
  bool retrained = false;
  {
    std::lock_guard l(mu);
    for (const auto& line : log) retrained |= line.find("int8 codes retrained") != std::string::npos;
  }
  EXPECT_TRUE(retrained) << ::testing::PrintToString(log);
  // The funnel on the rebuilt graph finds what exact search finds, for the large and the small.
  double found = 0, wanted = 0;
  for (size_t qi = 0; qi < 40; ++qi) {
    auto q = rows[qi * 80];
    for (float& x : q) x += 0.01f;
    SearchOptions f, exact;
    f.k = exact.k = 10;
    f.plan = SearchPlan::Funnel({{32, 100}, {kDim, 0}}, 100);
    exact.plan = SearchPlan::Exact();
    auto got = db->Search("c", q, f);
    auto want = db->Search("c", q, exact);
    ASSERT_TRUE(got.ok() && want.ok());
    std::set<Key> ids;
    for (const Hit& h : *want) ids.insert(h.id);
    for (const Hit& h : *got) found += ids.count(h.id);
    wanted += want->size();
  }
  EXPECT_GE(found / wanted, 0.95);
}

INSTANTIATE_TEST_SUITE_P(Metrics, CodeGraphTest,
                         ::testing::Values(Metric::kCosine, Metric::kInnerProduct, Metric::kL2),
                         [](const auto& p) { return std::string(MetricName(p.param)); });

}  // namespace
}  // namespace mrldb
