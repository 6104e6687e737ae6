// KvStore::Close leaves nothing for the next open to replay: its memtables are flushed, so the
// WAL is empty and every acknowledged key is in SST files, and the WALs of earlier opens are
// deleted also when a session wrote nothing.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "storage/key_format.h"
#include "storage/kv_store.h"
#include "tests/test_util.h"

namespace mrldb::storage {
namespace {

size_t WalFiles(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.path().extension() == ".log";
  return n;
}

uint64_t WalBytes(const std::string& dir) {
  uint64_t bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".log") bytes += e.file_size();
  }
  return bytes;
}

TEST(KvStoreClose, FlushesTheMemtablesSoTheNextOpenReplaysNoWal) {
  mrldb::testing::TempDir dir;
  const std::string value(4096, 'v');
  {
    auto kv = KvStore::Open(dir.path(), DatabaseOptions{});
    ASSERT_TRUE(kv.ok()) << kv.status().ToString();
    for (int i = 0; i < 512; ++i) {  // 2 MiB, far below the memtable size: nothing flushed yet
      rocksdb::WriteBatch b;
      b.Put((*kv)->handle(i % 2 ? Cf::kVectors : Cf::kRows), "key" + std::to_string(i), value);
      ASSERT_TRUE((*kv)->Write(&b, /*sync=*/false).ok());
    }
    EXPECT_GT(WalBytes(dir.path()), 2u << 20);
    ASSERT_TRUE((*kv)->Close().ok());
  }
  EXPECT_LT(WalBytes(dir.path()), 64u << 10);
  auto kv = KvStore::Open(dir.path(), DatabaseOptions{});
  ASSERT_TRUE(kv.ok()) << kv.status().ToString();
  for (int i = 0; i < 512; ++i) {
    std::string v;
    ASSERT_TRUE((*kv)->Get(i % 2 ? Cf::kVectors : Cf::kRows, "key" + std::to_string(i), &v).ok());
    EXPECT_EQ(v, value);
  }
}

TEST(KvStoreClose, OpensThatWriteNothingLeaveNoWalsBehind) {
  mrldb::testing::TempDir dir;
  for (int open = 0; open < 6; ++open) {
    SCOPED_TRACE(open);
    auto kv = KvStore::Open(dir.path(), DatabaseOptions{});
    ASSERT_TRUE(kv.ok()) << kv.status().ToString();
    if (open == 2) {  // one session writes
      rocksdb::WriteBatch b;
      b.Put((*kv)->handle(Cf::kRows), "key", "value");
      ASSERT_TRUE((*kv)->Write(&b, /*sync=*/false).ok());
    }
    ASSERT_TRUE((*kv)->Close().ok());
    // Before: one more empty WAL after every open that wrote nothing.
    EXPECT_LE(WalFiles(dir.path()), 1u);
  }
  auto kv = KvStore::Open(dir.path(), DatabaseOptions{});
  ASSERT_TRUE(kv.ok()) << kv.status().ToString();
  std::string v;
  ASSERT_TRUE((*kv)->Get(Cf::kRows, "key", &v).ok());
  EXPECT_EQ(v, "value");
  EXPECT_TRUE((*kv)->Get(Cf::kDefault, std::string(kWalReleaseKey), &v).IsNotFound());
}

}  // namespace
}  // namespace mrldb::storage
