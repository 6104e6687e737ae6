// Database::Backup and BACKUP TO: a copy taken while writes run opens as a database holding
// every row acknowledged before the backup began, with its graph; bad targets and cancellation
// leave nothing behind.
#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mrldb/database.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

constexpr uint32_t kDim = 16;

CollectionSpec Spec() {
  CollectionSpec s;
  s.name = "c";
  s.dim = kDim;
  s.granularities = {8, 16};
  s.index_dim = 8;
  s.hnsw.m = 8;
  s.hnsw.ef_construction = 40;
  s.metric = Metric::kL2;
  s.id_type = IdType::kBigint;
  return s;
}

std::vector<float> Row(int64_t id) {
  return testing::RandomVectors(1, kDim, uint32_t(id) + 7);
}

Status InsertRange(Database& db, int64_t first, int64_t n) {
  InsertBatch b;
  std::vector<std::vector<float>> rows;
  for (int64_t i = first; i < first + n; ++i) rows.push_back(Row(i));
  for (int64_t i = 0; i < n; ++i) b.Add(Key{first + i}, std::span<const float>(rows[size_t(i)]));
  return db.Insert("c", b);
}

TEST(Backup, ACopyTakenWhileWritesRunHoldsEveryAcknowledgedRow) {
  TempDir dir;
  const std::string backup = dir.path() + "/copy";
  std::atomic<int64_t> acknowledged{0};
  int64_t before = 0;
  {
    auto db = testing::OpenOrDie(dir.path() + "/db");
    ASSERT_OK(db->CreateCollection(Spec()));
    ASSERT_OK(InsertRange(*db, 0, 3000));
    ASSERT_OK(db->WaitForIndexing());
    ASSERT_OK(db->Checkpoint());  // a saved graph to copy
    acknowledged = 3000;
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      for (int64_t next = 3000; !stop; next += 50) {
        if (!InsertRange(*db, next, 50).ok()) return;
        acknowledged = next + 50;
      }
    });
    while (acknowledged < 4000) std::this_thread::yield();  // writes are running
    before = acknowledged;
    uint64_t last = 0;
    ASSERT_OK(db->Backup(backup, [&](uint64_t bytes) { last = bytes; return true; }));
    stop = true;
    writer.join();
    EXPECT_GT(last, 0u) << "the graph files were copied";
    ASSERT_OK(db->Close());
  }
  EXPECT_TRUE(fs::exists(backup + "/hnsw"));
  EXPECT_FALSE(fs::exists(dir.path() + "/copy.mrldb-backup-graphs"));
  auto copy = testing::OpenOrDie(backup);
  for (int64_t id = 0; id < before; ++id) {
    auto r = copy->Get("c", Key{id});
    ASSERT_TRUE(r.ok()) << "row " << id << " of " << before << ": " << r.status().ToString();
    ASSERT_EQ(r->vector, Row(id)) << "row " << id;
  }
  ASSERT_OK(copy->WaitForIndexing());
  auto info = copy->DescribeCollection("c");
  ASSERT_TRUE(info.ok());
  EXPECT_GE(info->live_rows, uint64_t(before));
  EXPECT_EQ(info->index_live_rows, info->live_rows);
  // Searches on the copy find what exact search finds.
  SearchOptions o;
  o.k = 10;
  const auto q = Row(5);
  auto got = copy->Search("c", q, o);
  ASSERT_TRUE(got.ok());
  ASSERT_FALSE(got->empty());
  EXPECT_EQ(std::get<int64_t>((*got)[0].id), 5);
}

TEST(Backup, BadTargetsAndCancellationLeaveNothing) {
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path() + "/db");
  ASSERT_OK(db->CreateCollection(Spec()));
  ASSERT_OK(InsertRange(*db, 0, 500));
  ASSERT_OK(db->WaitForIndexing());
  ASSERT_OK(db->Checkpoint());
  Status st = db->Backup(dir.path() + "/db");
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("exists"), std::string::npos) << st.ToString();
  st = db->Backup(dir.path() + "/no/such/parent/copy");
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("does not exist"), std::string::npos) << st.ToString();
  st = db->Backup(dir.path() + "/cancelled", [](uint64_t) { return false; });
  EXPECT_EQ(st.code(), Status::Code::kCancelled) << st.ToString();
  EXPECT_FALSE(fs::exists(dir.path() + "/cancelled"));
  EXPECT_FALSE(fs::exists(dir.path() + "/cancelled.mrldb-backup-graphs"));
}

}  // namespace
}  // namespace mrldb
