// A real full disk: a small tmpfs (mounting one needs root and a container that permits it; the
// test is skipped, saying why, where it is not). Writes fill it until they are refused, reads
// keep working, the HNSW graph's save fails without touching the saved graph, freeing space
// lets writes resume, and a database reopens on a completely full disk.
#include <iostream>

#include <gtest/gtest.h>

#include "tests/storage/fault_test_util.h"
#include "tests/storage/small_tmpfs.h"

namespace mrldb::testing {
namespace {

namespace fs = std::filesystem;

// 2 KiB of vector per row: the disk fills with few rows, so that indexing them stays quick.
constexpr uint32_t kDim = 512;

// A 24 MiB tmpfs holding a `ballast` file (freed to end the fault) and database "db" with
// collection "c" (dim 512).
class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!tmpfs_.mounted()) {
      GTEST_SKIP() << "cannot mount a 24 MiB tmpfs here (" << tmpfs_.error()
                   << "); this test needs root and a container that permits mount";
    }
    path_ = tmpfs_.path("db");
    Open();
    ASSERT_OK(db_->CreateCollection(FaultSpec(kDim)));
  }
  void Open() {
    db_.reset();
    auto opened = OpenFaulty(path_, nullptr, &log_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    db_ = std::move(opened).value();
  }
  void Reopen() {
    db_->Close().IgnoreError();  // the graph's save may fail on the full disk
    Open();
  }
  // Inserts `rows` new rows; the model follows when the write is acknowledged.
  Status Insert(int rows) {
    std::vector<std::pair<int64_t, int64_t>> batch;
    for (int i = 0; i < rows; ++i) batch.emplace_back(next_++, 0);
    Status s = db_->Insert("c", FaultBatch(batch, kDim));
    if (s.ok()) {
      for (auto [id, v] : batch) model_[id] = v;
    }
    return s;
  }
  // Nothing acknowledged is missing, nothing refused is present (in memory and in storage).
  FaultDiff ExpectModel() {
    FaultDiff d = CompareWithModel(*db_, model_, kDim);
    EXPECT_EQ(d.lost + d.phantom, 0u) << d.first;
    EXPECT_EQ(StoredRows(*db_, kDim), model_.size());
    return d;
  }

  SmallTmpfs tmpfs_{24};
  std::string path_;
  std::vector<std::string> log_;
  std::unique_ptr<Database> db_;
  FaultModel model_;
  int64_t next_ = 1;
};

TEST_F(DiskFullTest, RealTmpfsFillsRefusesWritesKeepsReadsAndRecovers) {
  Fill(tmpfs_.path("ballast"), 14u << 20);  // freed later: room for the recovery's flush
  ASSERT_OK(Insert(200));
  ASSERT_OK(db_->WaitForIndexing());
  ASSERT_OK(db_->Checkpoint());
  // The checkpoint: a header naming a generation file (every file of the graph's folder).
  const std::string graph = path_ + "/hnsw/1.hnsw";
  auto graph_files = [&] {
    std::map<std::string, std::string> files;
    for (const auto& e : fs::directory_iterator(path_ + "/hnsw")) {
      files[e.path().filename().string()] = ReadFile(e.path().string());
    }
    return files;
  };
  const auto saved = graph_files();
  ASSERT_FALSE(ReadFile(graph + ".meta").empty());
  ASSERT_GE(saved.size(), 2u);

  // Fill: 200 KiB of vectors per batch, until the disk is full.
  Status refused;
  for (int i = 0; i < 2000 && refused.ok(); ++i) refused = Insert(100);
  ASSERT_TRUE(refused.IsReadOnly()) << refused.ToString();
  EXPECT_NE(refused.message().find("disk full: "), std::string::npos) << refused.message();
  EXPECT_TRUE(Insert(10).IsReadOnly());
  ExpectModel();
  auto hits = db_->Search("c", FaultVector(7, 0, kDim));
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  EXPECT_EQ(std::get<int64_t>((*hits)[0].id), 7);

  // The graph's save fails cleanly and leaves the saved pair as it was.
  ASSERT_OK(db_->WaitForIndexing());
  Fill(tmpfs_.path("rest"), 0);
  EXPECT_FALSE(db_->Checkpoint().ok());
  EXPECT_EQ(graph_files(), saved);  // no partial generation file, no header left behind
  fs::remove(tmpfs_.path("rest"));

  // Space comes back: the next write recovers.
  fs::remove(tmpfs_.path("ballast"));
  ASSERT_OK(Insert(100));
  ExpectModel();

  // Reopen on a completely full disk: reads work, nothing acknowledged is missing.
  db_->Close().IgnoreError();
  db_.reset();
  Fill(tmpfs_.path("rest"), 0);
  ASSERT_NO_FATAL_FAILURE(Open());
  ExpectModel();
  Status full = Insert(10);
  EXPECT_TRUE(full.ok() || full.IsReadOnly()) << full.ToString();
  fs::remove(tmpfs_.path("rest"));
  ASSERT_OK(Insert(10));
  ASSERT_NO_FATAL_FAILURE(Reopen());
  FaultDiff d = ExpectModel();
  for (const auto& l : log_) {  // the graph was never damaged, only stale
    EXPECT_EQ(l.find("checksum"), std::string::npos) << l;
  }
  std::cout << "disk full (ingest): acknowledged_rows=" << model_.size()
            << " lost_rows=" << d.lost << " phantom_rows=" << d.phantom << std::endl;
}

// The disk fills while flushes and compactions run (Database::Flush compacts everything, which
// needs room for a second copy): a failed compaction leaves writes going, a failed flush makes
// the database read-only; either way nothing acknowledged is lost and writes resume.
TEST_F(DiskFullTest, RealTmpfsFillsDuringCompaction) {
  Fill(tmpfs_.path("ballast"), 12u << 20);
  Status failed;
  for (int i = 0; i < 2000 && failed.ok(); ++i) {
    failed = Insert(100);
    if (failed.ok() && i % 4 == 3) failed = db_->Flush();
  }
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.IsReadOnly() || failed.code() == Status::Code::kIOError) << failed.ToString();
  ExpectModel();
  fs::remove(tmpfs_.path("ballast"));
  ASSERT_OK(Insert(100));
  ASSERT_NO_FATAL_FAILURE(Reopen());
  FaultDiff d = ExpectModel();
  std::cout << "disk full (compaction): acknowledged_rows=" << model_.size()
            << " first_error=\"" << failed.ToString().substr(0, 90) << "\" lost_rows=" << d.lost
            << " phantom_rows=" << d.phantom << std::endl;
}

}  // namespace
}  // namespace mrldb::testing
