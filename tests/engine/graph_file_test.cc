// ReadGraphFile (engine/graph_file.h) reads what hnswlib's loadIndex reads from the same file,
// searches the same, and refuses a file that is cut short or too long.
#include <filesystem>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>
#include <hnswlib/hnswlib.h>

#include "engine/graph_file.h"
#include "engine/prefix_index.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

constexpr int kDim = 8;

TEST(GraphFile, ReadsWhatHnswlibReadsAndRefusesDamagedFiles) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string file = dir.path() + "/g.hnsw";
  hnswlib::L2Space space(kDim);
  const auto v = testing::RandomVectors(3000, kDim, 3);
  {
    hnswlib::HierarchicalNSW<float> g(&space, 4000, 8, 40, 7);
    for (size_t i = 0; i < 3000; ++i) g.addPoint(v.data() + i * kDim, 1000 + i);
    g.markDelete(1005);
    g.saveIndex(file);
  }
  hnswlib::HierarchicalNSW<float> want(&space, file);
  auto got = ReadGraphFile(file, &space);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  hnswlib::HierarchicalNSW<float>& g = **got;
  EXPECT_EQ(g.cur_element_count.load(), want.cur_element_count.load());
  EXPECT_EQ(g.max_elements_, want.max_elements_);
  EXPECT_EQ(g.maxlevel_, want.maxlevel_);
  EXPECT_EQ(g.enterpoint_node_, want.enterpoint_node_);
  EXPECT_EQ(g.getDeletedCount(), 1u);
  EXPECT_EQ(g.element_levels_, want.element_levels_);
  EXPECT_EQ(g.label_lookup_, want.label_lookup_);
  const auto q = testing::RandomVectors(20, kDim, 4);
  g.setEf(50);
  want.setEf(50);
  for (size_t i = 0; i < 20; ++i) {
    auto a = g.searchKnn(q.data() + i * kDim, 10);
    auto b = want.searchKnn(q.data() + i * kDim, 10);
    ASSERT_EQ(a.size(), b.size());
    while (!a.empty()) {
      EXPECT_EQ(a.top(), b.top());
      a.pop();
      b.pop();
    }
  }
  // The graph takes new points after the load, as a loaded hnswlib graph does.
  g.addPoint(v.data(), 99999);
  EXPECT_EQ(g.cur_element_count.load(), 3001u);

  const auto size = std::filesystem::file_size(file);
  for (uintmax_t cut : {uintmax_t{40}, size / 2, size - 1}) {
    SCOPED_TRACE(cut);
    std::filesystem::copy_file(file, file + ".cut", std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(file + ".cut", cut);
    auto bad = ReadGraphFile(file + ".cut", &space);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), Status::Code::kCorruption) << bad.status().ToString();
  }
  std::filesystem::copy_file(file, file + ".long", std::filesystem::copy_options::overwrite_existing);
  std::ofstream(file + ".long", std::ios::app | std::ios::binary) << "extra";
  auto bad = ReadGraphFile(file + ".long", &space);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("after the last node"), std::string::npos)
      << bad.status().ToString();
  EXPECT_EQ(ReadGraphFile(dir.path() + "/none", &space).status().code(), Status::Code::kIOError);
}

// PrefixIndex counts the upper levels' link lists as rows are added (MemoryBytes reads the
// count instead of visiting every node); a loaded graph counts them over its nodes. The two
// agree on the same graph.
TEST(GraphFile, TheUpperLinkListsCountedAsRowsArriveAreThoseOfTheSavedGraph) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path());
  HnswParams params;
  params.m = 4;  // a node reaches level 1 with probability 1/4
  params.ef_construction = 20;
  PrefixIndex built(Metric::kL2, kDim, params);
  ASSERT_OK(built.Reserve(3000));
  const auto v = testing::RandomVectors(3000, kDim, 5);
  for (uint64_t i = 0; i < 3000; ++i) ASSERT_OK(built.Add(i, v.data() + i * kDim));
  EXPECT_GT(built.upper_link_lists(), 3000u / 8);
  const size_t bytes = built.MemoryBytes();
  const uint64_t lists = built.upper_link_lists();
  ASSERT_OK(built.Save(dir.path() + "/g", 3000));
  PrefixIndex loaded(Metric::kL2, kDim, params);
  uint64_t covered = 0;
  ASSERT_OK(loaded.Load(dir.path() + "/g", &covered));
  EXPECT_EQ(covered, 3000u);
  EXPECT_EQ(loaded.upper_link_lists(), lists);
  EXPECT_GT(bytes, 3000u * kDim * sizeof(float));
}

}  // namespace
}  // namespace mrldb
