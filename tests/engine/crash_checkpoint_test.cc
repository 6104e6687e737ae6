// Checkpoints of the HNSW graph: a save interrupted at any step leaves the previous checkpoint
// loadable, and a writer killed with SIGKILL finds a background checkpoint at reopen (only the
// rows since it are replayed, no rebuild).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "engine/prefix_index.h"
#include "mrldb/database.h"
#include "tests/engine/crash_model.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::TempDir;
constexpr uint32_t kDims = 16;

void AddRows(PrefixIndex& index, uint64_t first, uint64_t end) {
  ASSERT_OK(index.Reserve(end));
  for (uint64_t row = first; row < end; ++row) {
    const auto v = crash::VectorOf(int64_t(row), 0);
    ASSERT_OK(index.Add(row, v.data()));
  }
}

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(PrefixIndexCheckpoint, ASaveStoppedAtAnyStepLeavesTheLastCheckpointLoadable) {
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string path = dir.path() + "/1.hnsw";
  HnswParams params;
  PrefixIndex index(Metric::kL2, kDims, params);
  AddRows(index, 0, 300);
  ASSERT_OK(index.Save(path, 300));
  AddRows(index, 300, 500);
  index.MarkDeleted(7);
  for (int step = 1; step <= 5; ++step) {
    SCOPED_TRACE(step);
    index.SetSaveHookForTest([step](int at) { return at < step; });
    EXPECT_FALSE(index.Save(path, 500).ok());
    // What a process killed at that step leaves: the new checkpoint once the header is renamed
    // (step 4), the previous one before.
    PrefixIndex loaded(Metric::kL2, kDims, params);
    uint64_t covered = 0;
    ASSERT_OK(loaded.Load(path, &covered));
    EXPECT_EQ(covered, step >= 4 ? 500u : 300u);
    EXPECT_EQ(loaded.size(), step >= 4 ? 500u : 300u);
    EXPECT_EQ(loaded.IsDeleted(7), step >= 4);
    const auto q = crash::VectorOf(42, 0);
    std::vector<std::pair<float, uint64_t>> hits;
    loaded.Search(q.data(), 1, 50, nullptr, &hits);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].second, 42u);
  }
  // A completed save leaves only its header and graph; older generations and leftovers go.
  index.SetSaveHookForTest(nullptr);
  ASSERT_OK(index.Save(path, 500));
  const auto files = Files(dir.path());
  ASSERT_EQ(files.size(), 2u) << ::testing::PrintToString(files);
  EXPECT_EQ(files[1], "1.hnsw.meta");
  EXPECT_EQ(files[0].rfind("1.hnsw.", 0), 0u);
  PrefixIndex::RemoveFiles(path);
  EXPECT_TRUE(Files(dir.path()).empty());
}

TEST(PrefixIndexCheckpoint, ADamagedGenerationFileIsCorruption) {
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string path = dir.path() + "/3.hnsw";
  PrefixIndex index(Metric::kL2, kDims, HnswParams{});
  AddRows(index, 0, 100);
  ASSERT_OK(index.Save(path, 100));
  for (const auto& f : Files(dir.path())) {
    if (f != "3.hnsw.meta") std::filesystem::resize_file(dir.path() + "/" + f, 1000);
  }
  PrefixIndex loaded(Metric::kL2, kDims, HnswParams{});
  uint64_t covered = 0;
  const Status st = loaded.Load(path, &covered);
  EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.ToString();
}

// Databases written before generation files: header "mrldb-hnsw-1" without a generation, the
// graph at <cid>.hnsw. They load, and the next save moves them to the new layout.
TEST(PrefixIndexCheckpoint, AVersion1CheckpointLoads) {
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string path = dir.path() + "/2.hnsw";
  PrefixIndex index(Metric::kL2, kDims, HnswParams{});
  AddRows(index, 0, 100);
  ASSERT_OK(index.Save(path, 100));
  std::string magic, rest;
  {
    std::ifstream meta(path + ".meta");
    meta >> magic;
    std::getline(meta, rest);
  }
  ASSERT_EQ(magic, "mrldb-hnsw-2");
  // "... <generation> <graph codes>": a version-1 header had neither (its graph is float32).
  const std::string codes = rest.substr(rest.rfind(' ') + 1);
  ASSERT_EQ(codes, "float32");
  rest = rest.substr(0, rest.rfind(' '));
  const std::string generation = rest.substr(rest.rfind(' ') + 1);
  std::filesystem::rename(path + "." + generation, path);
  std::ofstream(path + ".meta", std::ios::trunc)
      << "mrldb-hnsw-1" << rest.substr(0, rest.rfind(' ')) << "\n";
  PrefixIndex loaded(Metric::kL2, kDims, HnswParams{});
  uint64_t covered = 0;
  ASSERT_OK(loaded.Load(path, &covered));
  EXPECT_EQ(covered, 100u);
  EXPECT_EQ(loaded.size(), 100u);
  ASSERT_OK(loaded.Save(path, 100));
  const auto files = Files(dir.path());
  ASSERT_EQ(files.size(), 2u) << ::testing::PrintToString(files);
  EXPECT_NE(files[0], "2.hnsw");
}

// The writer of BackgroundCheckpointSurvivesAKill: inserts (never calls Checkpoint) until killed,
// writing the rows acknowledged so far to <dir>/acked.
TEST(CrashCheckpoint, WriterProcess) {
  const char* dir = std::getenv("MRLDB_CHECKPOINT_WRITER");
  if (dir == nullptr) GTEST_SKIP() << "runs only as the writer of BackgroundCheckpointSurvivesAKill";
  DatabaseOptions o;
  o.index_checkpoint_rows = 1000;
  o.index_checkpoint_seconds = 0;
  o.info_log = [](std::string_view) {};
  auto db = Database::Open(std::string(dir) + "/db", o);
  if (!db.ok()) _exit(3);
  for (int64_t b = 0;; ++b) {
    InsertBatch batch;
    for (int64_t i = 0; i < 200; ++i) {
      const auto v = crash::VectorOf(b * 200 + i, 0);
      batch.Add(Key{b * 200 + i}, std::span<const float>(v), crash::AttributesOf(b * 200 + i, 0, false));
    }
    if (!(*db)->Insert("c", batch).ok()) _exit(4);
    std::ofstream(std::string(dir) + "/acked", std::ios::trunc) << (b + 1) * 200 << "\n";
    // Slow enough for the indexer to keep up on a busy machine.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Before background checkpoints the graph was saved only at Close and Checkpoint, so a server
// killed with SIGKILL always reopened with "no saved graph" and rebuilt it over every row.
TEST(CrashCheckpoint, BackgroundCheckpointSurvivesAKill) {
  TempDir tmp;
  const std::string dir = tmp.path();
  {
    auto db = testing::OpenOrDie(dir + "/db");
    ASSERT_OK(db->CreateCollection(crash::Spec()));
  }
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("MRLDB_CHECKPOINT_WRITER", dir.c_str(), 1);
    execl("/proc/self/exe", "crash_tests", "--gtest_filter=CrashCheckpoint.WriterProcess", nullptr);
    _exit(127);
  }
  // Until a background checkpoint exists and the writer is past it.
  const std::string meta = dir + "/db/hnsw/1.hnsw.meta";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  uint64_t acked = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(dir + "/acked");
    in >> acked;
    if (std::filesystem::exists(meta) && acked >= 4000) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited with " << WEXITSTATUS(status);
  ASSERT_TRUE(std::filesystem::exists(meta)) << "no background checkpoint in 60 s";

  std::vector<std::string> log;
  DatabaseOptions o;
  o.info_log = [&](std::string_view line) {
    if (line.find("loading finished") == std::string_view::npos) log.emplace_back(line);
  };
  auto db = testing::OpenOrDie(dir + "/db", o);
  ASSERT_OK(db->WaitForLoading());  // the saved graph loads in the background
  auto info = db->DescribeCollection("c");
  ASSERT_TRUE(info.ok());
  EXPECT_GE(info->live_rows, acked);
  // The checkpoint covers part of the rows: fewer than all are replayed.
  EXPECT_LT(info->index_pending_rows, info->live_rows);
  ASSERT_OK(db->WaitForIndexing());
  info = db->DescribeCollection("c");
  EXPECT_EQ(info->index_live_rows, info->live_rows);
  EXPECT_TRUE(log.empty()) << log.front();
  ASSERT_OK(db->Close());
}

}  // namespace
}  // namespace mrldb
