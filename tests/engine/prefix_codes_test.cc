// Int8 graph codes: encoding bounds, every SIMD kernel equal to the scalar reference, distances
// close to the float ones, and a graph on codes that finds what exact search finds.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "engine/distance.h"
#include "engine/prefix_codes.h"
#include "engine/prefix_index.h"

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

std::vector<uint8_t> Encode(const std::vector<float>& v) {
  std::vector<uint8_t> code(PrefixCodes::Bytes(uint32_t(v.size())));
  PrefixCodes::Encode(v.data(), uint32_t(v.size()), code.data());
  return code;
}

TEST(PrefixCodesTest, DecodedValuesAreWithinHalfAStep) {
  std::mt19937 rng(1);
  for (uint32_t dims : {1u, 16u, 31u, 32u, 64u, 100u, 128u}) {
    const auto v = RandomVector(rng, dims, false);
    const auto code = Encode(v);
    float max_abs = 0;
    for (float x : v) max_abs = std::max(max_abs, std::fabs(x));
    for (uint32_t i = 0; i < dims; ++i) {
      EXPECT_NEAR(PrefixCodes::Decode(code.data(), i), v[i], max_abs / 127 / 2 * 1.0001f) << dims << " " << i;
    }
  }
  const std::vector<float> zero(64, 0.0f);  // a zero vector decodes to zeros, not NaN
  const auto code = Encode(zero);
  EXPECT_EQ(PrefixCodes::Decode(code.data(), 3), 0.0f);
}

TEST(PrefixCodesTest, SimdKernelsEqualTheScalarOneAndTrackFloatDistances) {
  std::mt19937 rng(2);
  const CodeKernels& ref = ScalarCodeKernels();
  const auto kernels = AvailableCodeKernels();
  std::printf("code kernels: %s chosen, %zu available\n", CodeKernelsForCpu().name, kernels.size());
  for (uint32_t dims : {16u, 32u, 48u, 64u, 96u, 128u, 256u}) {
    const size_t padded = PrefixCodes::Padded(dims);
    for (int t = 0; t < 200; ++t) {
      const auto a = RandomVector(rng, dims, true), b = RandomVector(rng, dims, true);
      const auto ca = Encode(a), cb = Encode(b);
      // Integer dot products: every SIMD kernel must agree exactly.
      for (const CodeKernels* simd : kernels) {
        EXPECT_EQ(simd->ip_distance(ca.data(), cb.data(), &padded), ref.ip_distance(ca.data(), cb.data(), &padded))
            << simd->name;
        EXPECT_EQ(simd->l2_distance(ca.data(), cb.data(), &padded), ref.l2_distance(ca.data(), cb.data(), &padded))
            << simd->name;
      }
      // And stay close to the float distances (unit vectors: errors of a few 1e-3).
      const size_t len = dims;
      const float ip = ScalarKernels().ip_distance(a.data(), b.data(), &len);
      const float l2 = ScalarKernels().l2_distance(a.data(), b.data(), &len);
      EXPECT_NEAR(ref.ip_distance(ca.data(), cb.data(), &padded), ip, 0.02f) << dims;
      EXPECT_NEAR(ref.l2_distance(ca.data(), cb.data(), &padded), l2, 0.04f) << dims;
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
  for (size_t r = 0; r < kRows; ++r) {
    rows.push_back(RandomVector(rng, kDims, unit));
    ASSERT_TRUE(index.Add(r, rows.back().data()).ok());
  }
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
  }
  const double recall = found / (kQueries * kCount);
  EXPECT_GE(recall, 0.97) << MetricName(metric);
}

INSTANTIATE_TEST_SUITE_P(Metrics, CodeGraphTest,
                         ::testing::Values(Metric::kCosine, Metric::kInnerProduct, Metric::kL2),
                         [](const auto& p) { return std::string(MetricName(p.param)); });

}  // namespace
}  // namespace mrldb
