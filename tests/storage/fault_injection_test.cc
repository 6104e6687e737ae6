// Storage faults injected through FaultFs: a write RocksDB cannot store turns the database
// read-only with a clear error, loses no acknowledged row, leaves no trace of the failed batch
// (in memory, in storage, after a reopen), keeps reads working, and ends when the fault clears.
// Nothing here may abort the process: RocksDB 7.8 asserts when it is asked to append to a WAL
// whose writer failed, and Debian's librocksdb keeps assertions on.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/storage/fault_test_util.h"

namespace mrldb::testing {
namespace {

using Error = FaultFs::Error;

class FaultInjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = std::make_shared<FaultFs>();
    Open();
    ASSERT_OK(db_->CreateCollection(FaultSpec()));
    Commit({{1, 0}, {2, 0}, {3, 0}});
  }
  void Open() {
    db_.reset();
    auto db = OpenFaulty(dir_.path(), fs_, &log_);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }
  // A write that must succeed; the model follows it.
  void Commit(const std::vector<std::pair<int64_t, int64_t>>& rows, bool upsert = false,
              bool sync = false) {
    WriteOptions w;
    w.sync = sync ? 1 : 0;
    InsertBatch b = FaultBatch(rows);
    ASSERT_OK(upsert ? db_->Upsert("c", b, w) : db_->Insert("c", b, w));
    for (auto [id, v] : rows) model_[id] = v;
  }
  void ExpectModel() {
    FaultDiff d = CompareWithModel(*db_, model_);
    EXPECT_EQ(d.lost, 0u) << d.first;
    EXPECT_EQ(d.phantom, 0u) << d.first;
    EXPECT_EQ(StoredRows(*db_), model_.size());
  }
  // Every kind of write is refused with the read-only error, and every kind of read works.
  void ExpectReadOnly(std::string_view what) {
    auto is_read_only = [&](const Status& s) {
      EXPECT_TRUE(s.IsReadOnly()) << s.ToString();
      EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
    };
    is_read_only(db_->Insert("c", FaultBatch({{100, 0}})));
    is_read_only(db_->Upsert("c", FaultBatch({{1, 9}})));
    std::vector<Key> ids = {Key{int64_t{2}}};
    is_read_only(db_->Delete("c", ids).status());
    CollectionSpec other = FaultSpec();
    other.name = "other";
    is_read_only(db_->CreateCollection(other));
    is_read_only(db_->DropCollection("c"));
    AlterOptions alter;
    alter.ef_search = 77;
    is_read_only(db_->AlterCollection("c", alter));
    // Reads: the in-memory state and storage.
    ExpectModel();
    auto info = db_->DescribeCollection("c");
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->live_rows, model_.size());
    EXPECT_NE(info->spec.hnsw.ef_search, 77u);
    std::vector<float> q = FaultVector(1, model_[1]);
    auto hits = db_->Search("c", q);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    ASSERT_FALSE(hits->empty());
    EXPECT_EQ(std::get<int64_t>((*hits)[0].id), 1);
    auto exact = db_->ExactSearch("c", q);
    ASSERT_TRUE(exact.ok()) << exact.status().ToString();
    EXPECT_EQ(exact->size(), std::min<size_t>(10, model_.size()));
    EXPECT_TRUE(db_->Get("c", Key{int64_t{1}}).ok());
    EXPECT_EQ(db_->ListCollections(), std::vector<std::string>{"c"});
  }

  TempDir dir_;
  std::shared_ptr<FaultFs> fs_;
  std::vector<std::string> log_;
  std::unique_ptr<Database> db_;
  FaultModel model_;
};

// The probe's abort: a WAL append fails with ENOSPC while every memtable is empty (just after
// a flush), then space comes back. RocksDB's Resume() keeps the failed WAL writer in that case,
// and the next write used to die in `Assertion sync_without_flush_called_`.
TEST_F(FaultInjectionTest, WalOutOfSpaceWithEmptyMemtablesRecoversWithoutAbort) {
  ASSERT_OK(db_->Flush());  // memtables empty
  fs_->FailAfter(0, Error::kNoSpace, FaultFs::kWal, FaultFs::kAppend);
  Status s = db_->Insert("c", FaultBatch({{10, 0}, {11, 0}}));
  ASSERT_TRUE(s.IsReadOnly()) << s.ToString();
  EXPECT_NE(s.message().find("disk full: "), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("the database is read-only until space is freed"),
            std::string::npos) << s.message();
  EXPECT_FALSE(db_->Get("c", Key{int64_t{10}}).ok());
  ExpectReadOnly("disk full");
  fs_->Heal();
  Commit({{10, 1}, {11, 1}});  // the failed batch's ids are free: it left nothing behind
  Commit({{12, 1}});
  ExpectModel();
  Open();
  ExpectModel();
}

TEST_F(FaultInjectionTest, WalOutOfSpaceWithFullMemtablesRecovers) {
  fs_->FailAfter(0, Error::kNoSpace, FaultFs::kWal, FaultFs::kAppend);
  EXPECT_TRUE(db_->Upsert("c", FaultBatch({{1, 5}, {20, 5}})).IsReadOnly());
  ExpectReadOnly("disk full");
  fs_->Heal();
  Commit({{20, 6}});
  ExpectModel();
  Open();
  ExpectModel();
}

// A failed fsync: the batch's bytes are in the WAL file although the write failed. RocksDB
// calls that fatal; the recovery reopens and must not replay the batch, then or later.
TEST_F(FaultInjectionTest, FailedWalSyncBatchNeverReappears) {
  fs_->FailAfter(0, Error::kIO, FaultFs::kWal, FaultFs::kSync);
  WriteOptions sync;
  sync.sync = 1;
  Status s = db_->Insert("c", FaultBatch({{30, 0}, {31, 0}}), sync);
  ASSERT_TRUE(s.IsReadOnly()) << s.ToString();
  EXPECT_NE(s.message().find("storage write failed: "), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("the database is read-only until the fault clears"),
            std::string::npos) << s.message();
  ExpectModel();  // (a write without fsync would recover at once: only fsync fails)
  fs_->Heal();
  Commit({{32, 0}}, false, /*sync=*/true);
  ExpectModel();
  EXPECT_FALSE(db_->Get("c", Key{int64_t{30}}).ok());
  Open();
  ExpectModel();
  EXPECT_FALSE(db_->Get("c", Key{int64_t{30}}).ok());
}

// The fault loop found this one: closed before it recovered, the database used to replay the
// batch whose fsync had failed at the next open. The FAILED_WRITES mark prevents it.
TEST_F(FaultInjectionTest, ClosedBeforeRecoveryTheFsyncFailedBatchDoesNotReappear) {
  fs_->FailAfter(0, Error::kIO, FaultFs::kWal, FaultFs::kSync);
  WriteOptions sync;
  sync.sync = 1;
  ASSERT_TRUE(db_->Insert("c", FaultBatch({{35, 0}, {36, 0}}), sync).IsReadOnly());
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/FAILED_WRITES"));
  db_->Close().IgnoreError();
  fs_->Heal();
  Open();
  ExpectModel();
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/FAILED_WRITES"));
  Commit({{35, 1}});
  Open();
  ExpectModel();
}

TEST_F(FaultInjectionTest, AMalformedFailedWritesMarkIsAClearError) {
  db_.reset();
  std::ofstream(dir_.path() + "/FAILED_WRITES") << "garbage\n";
  auto db = OpenFaulty(dir_.path(), fs_);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::kCorruption) << db.status().ToString();
  EXPECT_NE(db.status().message().find("FAILED_WRITES' is not an mrldb failed-writes mark"),
            std::string::npos) << db.status().message();
}

TEST_F(FaultInjectionTest, FailedFlushRefusesWritesUntilSpaceReturns) {
  Commit({{40, 0}});
  fs_->FailAfter(0, Error::kNoSpace, FaultFs::kTable, FaultFs::kAnyOp);
  Status s = db_->Flush();
  ASSERT_TRUE(s.IsReadOnly()) << s.ToString();
  ExpectReadOnly("disk full");
  fs_->Heal();
  Commit({{41, 0}});
  ExpectModel();
  ASSERT_OK(db_->Flush());
  Open();
  ExpectModel();
}

TEST_F(FaultInjectionTest, FailedManifestWriteRecovers) {
  Commit({{50, 0}});
  fs_->FailAfter(0, Error::kIO, FaultFs::kManifest, FaultFs::kAnyOp);
  EXPECT_FALSE(db_->Flush().ok());
  EXPECT_TRUE(db_->Insert("c", FaultBatch({{51, 0}})).IsReadOnly());
  fs_->Heal();
  Commit({{51, 1}});
  ExpectModel();
  Open();
  ExpectModel();
}

// An open that cannot write (no space for a new MANIFEST or WAL) opens read-only.
TEST_F(FaultInjectionTest, OpenWithoutSpaceIsReadOnlyUntilSpaceReturns) {
  Commit({{60, 0}, {61, 0}});
  db_.reset();
  fs_->FailAfter(0, Error::kNoSpace, FaultFs::kAnyFile, FaultFs::kAnyOp);
  Open();
  bool logged = false;
  for (const auto& l : log_) logged |= l.find("opened read-only") != std::string::npos;
  EXPECT_TRUE(logged);
  ExpectReadOnly("disk full");
  fs_->Heal();
  Commit({{62, 0}});
  ExpectModel();
  Open();
  ExpectModel();
}

// Recovery is tried at a write; while the fault lasts every attempt fails cleanly.
TEST_F(FaultInjectionTest, RepeatedAttemptsDuringALongFaultStayReadOnly) {
  ASSERT_OK(db_->Flush());
  fs_->FailAfter(0, Error::kNoSpace, FaultFs::kAnyFile, FaultFs::kAppend | FaultFs::kSync);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(db_->Insert("c", FaultBatch({{70 + i, 0}})).IsReadOnly());
  }
  ExpectModel();
  fs_->Heal();
  Commit({{70, 1}});
  ExpectModel();
}

TEST_F(FaultInjectionTest, CloseWhileFaultedLosesNothing) {
  fs_->FailAfter(0, Error::kNoSpace, FaultFs::kWal, FaultFs::kAppend);
  EXPECT_TRUE(db_->Insert("c", FaultBatch({{80, 0}})).IsReadOnly());
  db_->Close().IgnoreError();  // saving the graph may fail too; nothing acknowledged is lost
  fs_->Heal();
  Open();
  ExpectModel();
  Commit({{80, 1}});
}

}  // namespace
}  // namespace mrldb::testing
