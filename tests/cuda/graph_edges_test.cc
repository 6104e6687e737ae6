// MergeReverseEdges (the host step of the device graph's build): runs without a GPU.
#include <algorithm>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "cuda/gpu_search.h"

namespace mrldb::gpu {
namespace {

TEST(MergeReverseEdges, KeepsTheFirstHalfAddsReverseEdgesAndNeverDuplicates) {
  constexpr uint64_t kRows = 500;
  constexpr uint32_t kDegree = 8;
  std::mt19937 rng(1);
  std::vector<uint32_t> pruned(kRows * kDegree, kNoEdge);
  for (uint64_t u = 0; u < kRows; ++u) {
    std::set<uint32_t> used;
    // Some rows have short lists (kNoEdge padded), as after pruning a sparse neighbourhood.
    const uint32_t n = u % 7 == 0 ? 3 : kDegree;
    for (uint32_t r = 0; r < n; ++r) {
      uint32_t v;
      do v = rng() % kRows; while (v == u || used.count(v));
      used.insert(v);
      pruned[u * kDegree + r] = v;
    }
  }
  const auto out = MergeReverseEdges(pruned, kRows, kDegree);
  ASSERT_EQ(out.size(), pruned.size());
  size_t reverse = 0;
  for (uint64_t u = 0; u < kRows; ++u) {
    const uint32_t* o = &out[u * kDegree];
    std::set<uint32_t> seen;
    for (uint32_t r = 0; r < kDegree; ++r) {
      if (o[r] == kNoEdge) continue;
      EXPECT_NE(o[r], u) << "a self edge";
      EXPECT_LT(o[r], kRows);
      EXPECT_TRUE(seen.insert(o[r]).second) << "row " << u << " has edge " << o[r] << " twice";
    }
    // The first half of the pruned list comes first, in order (a short list's empty slots
    // take reverse edges).
    for (uint32_t r = 0; r < kDegree / 2; ++r) {
      if (pruned[u * kDegree + r] != kNoEdge) {
        EXPECT_EQ(o[r], pruned[u * kDegree + r]);
      }
    }
    // Every other edge is a reverse edge or one of the row's own.
    const uint32_t* fwd = &pruned[u * kDegree];
    for (uint32_t r = kDegree / 2; r < kDegree; ++r) {
      if (o[r] == kNoEdge) continue;
      const uint32_t v = o[r];
      const bool own = std::find(fwd, fwd + kDegree, v) != fwd + kDegree;
      const uint32_t* back = &pruned[v * kDegree];
      const bool rev = std::find(back, back + kDegree, uint32_t(u)) != back + kDegree;
      EXPECT_TRUE(own || rev) << "row " << u << " got edge " << v << " from nowhere";
      reverse += rev && !own;
    }
  }
  EXPECT_GT(reverse, kRows / 2) << "reverse edges were not added";
}

TEST(MergeReverseEdges, ASmallGraphBecomesConnectedBothWays) {
  // A chain 0 -> 1 -> 2 -> 3: with reverse edges every row reaches its predecessor too.
  const std::vector<uint32_t> pruned = {1, kNoEdge, 2, kNoEdge, 3, kNoEdge, kNoEdge, kNoEdge};
  const auto out = MergeReverseEdges(pruned, 4, 2);
  EXPECT_EQ(out, (std::vector<uint32_t>{1, kNoEdge, 2, 0, 3, 1, 2, kNoEdge}));
}

}  // namespace
}  // namespace mrldb::gpu
