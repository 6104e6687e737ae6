// A recovery from a storage fault reopens RocksDB, which needs every read to end. A reader may
// be waiting for a lock that the recovering writer's caller holds (the background load of a
// collection scans storage and takes the collection's lock per chunk, while ALTER writes its
// descriptor under that lock): the recovery must then give up after a bounded wait, refuse the
// write as during the fault, and succeed at a later write once the reader has finished.
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "storage/kv_store.h"
#include "tests/storage/fault_fs.h"
#include "tests/test_util.h"

namespace mrldb::storage {
namespace {

using mrldb::testing::FaultFs;

Status PutKey(KvStore& kv, const std::string& key) {
  rocksdb::WriteBatch b;
  b.Put(kv.handle(Cf::kDefault), key, "v");
  return kv.Write(&b, /*sync=*/true);
}

TEST(RecoveryWait, AReaderBlockedByTheWritersLockDefersTheRecoveryInsteadOfDeadlocking) {
  mrldb::testing::TempDir dir;
  auto fs = std::make_shared<FaultFs>();
  std::vector<std::string> log;
  std::mutex log_mu;
  DatabaseOptions o;
  o.info_log = [&](std::string_view line) {
    std::lock_guard l(log_mu);
    log.emplace_back(line);
  };
  StorageHooks hooks;
  hooks.file_system = fs;
  hooks.recovery_interval = std::chrono::milliseconds(0);
  {
    auto kv = KvStore::Open(dir.path(), o, hooks);
    ASSERT_TRUE(kv.ok()) << kv.status().ToString();
    ASSERT_TRUE(PutKey(**kv, "a").ok());
  }
  // Opened without space: read-only; leaving that state needs a reopen.
  fs->FailAfter(0, FaultFs::Error::kNoSpace, FaultFs::kAnyFile, FaultFs::kAnyOp);
  auto opened = KvStore::Open(dir.path(), o, hooks);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  KvStore& kv = **opened;
  fs->Heal();

  std::mutex engine_lock;  // the collection's lock in the real case
  std::unique_lock held(engine_lock);
  std::promise<void> iterating;
  std::thread reader([&] {
    auto it = kv.NewIterator(Cf::kDefault, "", "\xff");
    it->SeekToFirst();
    iterating.set_value();
    std::lock_guard wait_for_writer(engine_lock);  // blocks until the writer lets go
  });
  iterating.get_future().wait();
  // Under engine_lock, as the writer in the real case; before the fix this never returned.
  Status refused = PutKey(kv, "b");
  EXPECT_TRUE(refused.IsReadOnly()) << refused.ToString();
  held.unlock();
  reader.join();

  bool deferred = false;
  {
    std::lock_guard l(log_mu);
    for (const auto& line : log) deferred |= line.find("recovery deferred") != std::string::npos;
  }
  EXPECT_TRUE(deferred);
  // The reader is gone: the next write recovers, and nothing written before is lost.
  ASSERT_TRUE(PutKey(kv, "b").ok());
  std::string v;
  EXPECT_TRUE(kv.Get(Cf::kDefault, "a", &v).ok());
  EXPECT_TRUE(kv.Get(Cf::kDefault, "b", &v).ok());
}

}  // namespace
}  // namespace mrldb::storage
