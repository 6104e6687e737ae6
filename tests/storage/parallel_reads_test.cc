// Parallel storage reads (storage/read_pool.h, KvStore::MultiGetSpread, ReadRowBlocks): the pool
// runs every part exactly once under concurrent callers, and a read split into parts returns
// exactly what one part returns, with the same counters, for any depth.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "storage/key_format.h"
#include "storage/kv_store.h"
#include "storage/read_pool.h"
#include "storage/vector_segments.h"
#include "tests/storage/group_test_util.h"
#include "tests/test_util.h"

namespace mrldb::storage {
namespace {

TEST(ReadPool, RunsEveryPartOnceUnderConcurrentCallers) {
  for (unsigned threads : {0u, 1u, 3u}) {
    SCOPED_TRACE(threads);
    ReadPool pool(threads);
    constexpr int kCallers = 6, kCalls = 200;
    std::vector<std::thread> callers;
    std::atomic<int> wrong{0};
    for (int c = 0; c < kCallers; ++c) {
      callers.emplace_back([&, c] {
        for (int call = 0; call < kCalls; ++call) {
          const size_t n = static_cast<size_t>((c * 7 + call) % 19);  // 0 and 1 too
          std::vector<std::atomic<int>> hits(n);
          pool.Run(n, [&](size_t i) { hits[i].fetch_add(1); });
          for (size_t i = 0; i < n; ++i) wrong += hits[i].load() != 1;
        }
      });
    }
    for (std::thread& t : callers) t.join();
    EXPECT_EQ(wrong.load(), 0);
  }
}

TEST(ReadPool, PartsRunAtOnce) {
  // Four parts that each wait (up to 5 s) for all four to have started: each sees all four only
  // when the pool runs them at once (three threads and the caller).
  ReadPool pool(3);
  std::atomic<int> started{0}, saw_all{0};
  pool.Run(4, [&](size_t) {
    started.fetch_add(1);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (started.load() < 4 && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
    }
    saw_all += started.load() == 4;
  });
  EXPECT_EQ(saw_all.load(), 4);
}

constexpr uint32_t kCid = 5;
const Ladder kLadder({4, 12, 40, 104});  // widths 4, 8, 28, 64
constexpr uint64_t kRows = 3000;

std::vector<float> Norms(const std::vector<float>& rows) {
  return testing::PrefixSqNorms(rows, kLadder, kRows);
}

struct Read {
  std::vector<std::vector<float>> values, norms;  // [block - b_from]
  ReadCounters io;
};

Read ReadAt(unsigned depth, const std::string& path, std::span<const uint64_t> rows,
            size_t b_from, size_t b_to) {
  DatabaseOptions o;
  o.storage_read_depth = depth;
  o.block_cache_bytes = 1u << 20;
  auto kv = KvStore::Open(path, o);
  EXPECT_TRUE(kv.ok()) << kv.status().ToString();
  Read r;
  std::vector<float*> out, sq;
  for (size_t b = b_from; b < b_to; ++b) {
    r.values.emplace_back(rows.size() * kLadder.width(b), -1.0f);
    r.norms.emplace_back(rows.size(), -1.0f);
  }
  for (size_t b = 0; b < b_to - b_from; ++b) {
    out.push_back(r.values[b].data());
    sq.push_back(r.norms[b].data());
  }
  const Status st = ReadRowBlocks(**kv, kCid, kLadder, b_from, b_to, rows, out.data(), sq.data(),
                                  &r.io);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (depth > 1) {
    EXPECT_EQ((*kv)->ReadParts(100), std::min<size_t>(depth, 100));
  }
  EXPECT_TRUE((*kv)->Close().ok());
  return r;
}

TEST(ParallelReads, ASplitReadReturnsWhatOnePartReturns) {
  testing::TempDir dir;
  const std::vector<float> rows = testing::RandomVectors(kRows, kLadder.dim(), 21);
  const std::vector<float> norms = Norms(rows);
  {
    auto kv = KvStore::Open(dir.path(), DatabaseOptions{});
    ASSERT_TRUE(kv.ok()) << kv.status().ToString();
    // Flushed: reads from SST files, so that there are reads to count.
    ASSERT_NO_FATAL_FAILURE(testing::WriteRowGroups(kv->get(), kCid, kLadder, rows, norms, kRows, true));
    ASSERT_OK((*kv)->Close());
  }
  // Random rows with repeats, more groups than one round of lookups (512).
  std::vector<uint64_t> pick;
  for (uint64_t i = 0; i < 1500; ++i) pick.push_back((i * 7919 + 13) % kRows);
  pick.push_back(pick[3]);
  for (auto [b_from, b_to] : {std::pair<size_t, size_t>{0, 4}, {2, 4}, {3, 4}}) {
    SCOPED_TRACE(::testing::Message() << "blocks " << b_from << ".." << b_to);
    const Read one = ReadAt(1, dir.path(), pick, b_from, b_to);
    for (size_t b = b_from; b < b_to; ++b) {
      for (size_t i = 0; i < pick.size(); ++i) {
        const float* want = rows.data() + pick[i] * kLadder.dim() + kLadder.begin(b);
        for (uint32_t d = 0; d < kLadder.width(b); ++d) {
          ASSERT_EQ(one.values[b - b_from][i * kLadder.width(b) + d], want[d]);
        }
        ASSERT_EQ(one.norms[b - b_from][i], norms[pick[i] * kLadder.blocks() + b]);
      }
    }
    EXPECT_GT(one.io.reads, 0u);
    for (unsigned depth : {2u, 7u, 16u}) {
      SCOPED_TRACE(depth);
      const Read split = ReadAt(depth, dir.path(), pick, b_from, b_to);
      EXPECT_EQ(split.values, one.values);
      EXPECT_EQ(split.norms, one.norms);
      // Each opened store starts with a cold cache: the same blocks are read.
      EXPECT_EQ(split.io.reads + split.io.cache_hits, one.io.reads + one.io.cache_hits);
      EXPECT_EQ(split.io.bytes, one.io.bytes);
    }
  }
}

// SST reads that take `delay` each, as a disk's do; counts the reads in flight at once.
class SlowReadFs : public rocksdb::FileSystemWrapper {
 public:
  SlowReadFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "mrldb.SlowReadFs"; }
  std::atomic<std::chrono::microseconds::rep> delay_us{0};
  std::atomic<int> in_flight{0}, most_in_flight{0};

  rocksdb::IOStatus NewRandomAccessFile(const std::string& f, const rocksdb::FileOptions& o,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* r,
                                        rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewRandomAccessFile(f, o, r, dbg);
    if (s.ok()) *r = std::make_unique<File>(std::move(*r), this);
    return s;
  }

 private:
  class File : public rocksdb::FSRandomAccessFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSRandomAccessFile> f, SlowReadFs* fs)
        : FSRandomAccessFileOwnerWrapper(std::move(f)), fs_(fs) {}
    rocksdb::IOStatus Read(uint64_t offset, size_t n, const rocksdb::IOOptions& o,
                           rocksdb::Slice* result, char* scratch,
                           rocksdb::IODebugContext* dbg) const override {
      Wait(1);
      return target()->Read(offset, n, o, result, scratch, dbg);
    }
    rocksdb::IOStatus MultiRead(rocksdb::FSReadRequest* reqs, size_t num,
                                const rocksdb::IOOptions& o,
                                rocksdb::IODebugContext* dbg) override {
      Wait(num);
      return target()->MultiRead(reqs, num, o, dbg);
    }

   private:
    void Wait(size_t reads) const {
      const int now = fs_->in_flight.fetch_add(1) + 1;
      for (int most = fs_->most_in_flight.load();
           now > most && !fs_->most_in_flight.compare_exchange_weak(most, now);) {
      }
      std::this_thread::sleep_for(std::chrono::microseconds(fs_->delay_us.load()) *
                                  static_cast<int>(reads));
      fs_->in_flight.fetch_sub(1);
    }
    SlowReadFs* fs_;
  };
};

TEST(ParallelReads, AutoDepthSplitsOnlyOnceReadsWaitOnTheDisk) {
  testing::TempDir dir;
  const std::vector<float> rows = testing::RandomVectors(kRows, kLadder.dim(), 22);
  const std::vector<float> norms = Norms(rows);
  auto fs = std::make_shared<SlowReadFs>();
  DatabaseOptions o;
  o.block_cache_bytes = 64u << 10;  // the cache keeps few groups: the reads go to the files
  auto kv = KvStore::Open(dir.path(), o, StorageHooks{fs});
  ASSERT_TRUE(kv.ok()) << kv.status().ToString();
  ASSERT_NO_FATAL_FAILURE(testing::WriteRowGroups(kv->get(), kCid, kLadder, rows, norms, kRows, true));
  // No read measured yet: the page cache is assumed.
  EXPECT_EQ((*kv)->ReadLatencyNs(), 0u);
  EXPECT_EQ((*kv)->ReadParts(1000), 1u);
  EXPECT_EQ((*kv)->ReadParts(1), 1u);
  std::vector<uint64_t> pick;
  for (uint64_t i = 0; i < 400; ++i) pick.push_back((i * 7919 + 5) % kRows);
  std::vector<float> out(pick.size() * kLadder.width(3)), sq(pick.size());
  // Fast reads (the page cache): the average stays below a disk's and reads stay in one part.
  ASSERT_OK(testing::ReadBlock(**kv, kCid, kLadder, 3, pick, out.data(), sq.data(), nullptr));
  EXPECT_GT((*kv)->ReadLatencyNs(), 0u);
  EXPECT_LT((*kv)->ReadLatencyNs(), KvStore::kDiskReadNs);
  EXPECT_EQ((*kv)->ReadParts(1000), 1u);
  EXPECT_EQ(fs->most_in_flight.load(), 1);
  // Reads that wait 300 us each: the next read measures it and later ones are split.
  fs->delay_us = 300;
  ASSERT_OK(testing::ReadBlock(**kv, kCid, kLadder, 2, pick, out.data(), sq.data(), nullptr));
  EXPECT_GE((*kv)->ReadLatencyNs(), KvStore::kDiskReadNs);
  EXPECT_EQ((*kv)->ReadParts(1000), KvStore::kAutoReadDepth);
  EXPECT_EQ((*kv)->ReadParts(12), 12 / KvStore::kKeysPerPart);
  ReadCounters io;
  ASSERT_OK(testing::ReadBlock(**kv, kCid, kLadder, 1, pick, out.data(), sq.data(), &io));
  EXPECT_GT(io.reads, KvStore::kAutoReadDepth);
  EXPECT_GT(fs->most_in_flight.load(), 1);
  for (size_t i = 0; i < pick.size(); ++i) {
    const float* want = rows.data() + pick[i] * kLadder.dim() + kLadder.begin(1);
    for (uint32_t d = 0; d < kLadder.width(1); ++d) ASSERT_EQ(out[i * kLadder.width(1) + d], want[d]);
  }
  ASSERT_OK((*kv)->Close());
}

}  // namespace
}  // namespace mrldb::storage
