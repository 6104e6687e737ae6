// KvStore: the RocksDB instance behind a database: opening with the format check, the three
// column families of key_format.h, atomic batch writes, bounded iterators, read statistics, and
// storage faults: a write RocksDB cannot store (disk full, I/O error) turns the store read-only
// until a later write finds the fault cleared (docs/architecture.md, "Storage faults").
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <span>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/file_system.h>
#include <rocksdb/write_batch.h>

#include "mrldb/options.h"
#include "mrldb/status.h"

namespace mrldb::storage {

class FaultState;  // storage/kv_faults.h
class ReadPool;    // storage/read_pool.h

enum class Cf { kDefault = 0, kRows = 1, kVectors = 2 };

// Converts a RocksDB status; `context` says what was being done ("writing batch").
Status FromRocks(const rocksdb::Status& s, std::string_view context);

// Bytes read since open, from RocksDB statistics.
struct StorageReadStats {
  uint64_t sst_bytes_read = 0;   // bytes read from SST files (all levels, incl. compaction)
  uint64_t iter_bytes_read = 0;  // key + value bytes returned by iterators
  uint64_t get_bytes_read = 0;   // value bytes returned by point lookups
};

// What point reads cost, from RocksDB's per-thread perf context (EXPLAIN ANALYZE's columns).
struct ReadCounters {
  uint64_t cache_hits = 0;  // blocks found in the block cache
  uint64_t reads = 0;       // blocks read from files (the OS page cache or the disk)
  uint64_t bytes = 0;       // bytes of those reads
};

// Adds the block-cache hits and file reads of this thread's RocksDB calls made while it lives
// (RocksDB's perf context, counting level). Scopes must not nest.
class ReadCounterScope {
 public:
  explicit ReadCounterScope(ReadCounters* counters);
  ~ReadCounterScope();
  ReadCounterScope(const ReadCounterScope&) = delete;
  ReadCounterScope& operator=(const ReadCounterScope&) = delete;

 private:
  ReadCounters* const counters_;
};

// For tests and fault harnesses; the defaults are what a database runs with.
struct StorageHooks {
  // The file system RocksDB opens every file through (tests inject faults). Default (null):
  // the operating system's.
  std::shared_ptr<rocksdb::FileSystem> file_system;
  // Least time between two attempts to leave the read-only state; each attempt is made by a
  // write. Default: 1 s.
  std::chrono::milliseconds recovery_interval{1000};
};

// Counts the users of the current RocksDB instance so that a recovery can replace it. Any
// number of holds may be taken, also several by one thread; Swap waits until none is held
// (new holds wait while a swap runs, not while one waits).
class InstanceGate {
 public:
  void Acquire();
  void Release();
  void BeginSwap();  // returns when no hold exists; holds then wait until EndSwap
  // As BeginSwap, waiting at most `limit`; false: a hold outlived it (a reader may be waiting
  // for a lock the swapper's caller holds) and nothing changed.
  bool TryBeginSwap(std::chrono::milliseconds limit);
  void EndSwap();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int holds_ = 0;         // GUARDED_BY(mu_)
  bool swapping_ = false;  // GUARDED_BY(mu_)
};

// An iterator over [lower, upper) of one column family that owns its bounds. It holds the
// store's instance gate while it lives.
class BoundedIterator {
 public:
  BoundedIterator(InstanceGate* gate, rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                  std::string lower, std::string upper, bool fill_cache);
  ~BoundedIterator();
  BoundedIterator(const BoundedIterator&) = delete;
  BoundedIterator& operator=(const BoundedIterator&) = delete;
  rocksdb::Iterator* operator->() { return it_.get(); }
  rocksdb::Iterator& get() { return *it_; }
  void SeekToFirst() { it_->Seek(lower_); }

 private:
  InstanceGate* gate_;  // acquired by KvStore::NewIterator, released here
  std::string lower_, upper_;
  rocksdb::Slice lower_slice_, upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

class KvStore {
 public:
  // Opens or creates the database in `path`; writes kFormatVersion into a new database and
  // checks it in an existing one. An existing database that cannot be opened for writing for
  // lack of space (or another storage fault) is opened read-only: reads work, writes get
  // Status::ReadOnly until a write finds the fault cleared. Errors: IOError, VersionMismatch,
  // Corruption.
  static Result<std::unique_ptr<KvStore>> Open(const std::string& path,
                                               const DatabaseOptions& options,
                                               const StorageHooks& hooks = {});
  ~KvStore();

  Status Close();

  // Applies `batch` atomically; `sync` fsyncs the WAL first. While the store is read-only
  // (a storage fault), first tries to recover (at most once per recovery_interval): resumes
  // RocksDB or reopens it; if the fault persists, returns Status::ReadOnly and writes nothing.
  // The write that meets a fault returns Status::ReadOnly too; none of its batch is stored.
  // REQUIRES: the caller holds no iterator of this store (a recovery may reopen RocksDB).
  Status Write(rocksdb::WriteBatch* batch, bool sync);
  // OK while writes are accepted; Status::ReadOnly (naming the fault) while they are refused.
  Status WriteFault() const;
  // Errors: NotFound when the key is absent.
  Status Get(Cf cf, std::string_view key, std::string* value) const;
  // Point lookups of `keys` (ascending: RocksDB then walks each file once) in one batch,
  // through the block cache. `values` is resized to keys.size(); a missing key leaves its value
  // empty. `counters` (may be null) adds what the batch cost. Errors: the first read error.
  Status MultiGet(Cf cf, std::span<const rocksdb::Slice> keys,
                  std::vector<rocksdb::PinnableSlice>* values, ReadCounters* counters) const;
  // MultiGet into `values` (keys.size() entries), split into parts read at once by the store's
  // read threads (ReadParts). `counters` (may be null) adds what all parts cost.
  Status MultiGetSpread(Cf cf, std::span<const rocksdb::Slice> keys,
                        std::span<rocksdb::PinnableSlice> values, ReadCounters* counters) const;
  // The parts MultiGetSpread splits `n` keys into now: DatabaseOptions::storage_read_depth, or
  // under auto one part while the recent read latency is a page cache's (below kDiskReadNs),
  // else up to kAutoReadDepth parts of at least kKeysPerPart keys.
  size_t ReadParts(size_t n) const;
  static constexpr uint64_t kDiskReadNs = 40'000;
  static constexpr size_t kAutoReadDepth = 16, kKeysPerPart = 4;
  // The mean latency of one block read from a file by MultiGetSpread lately (ns; 0 before the
  // first): a part's time over its reads, averaged with weight 1/8.
  uint64_t ReadLatencyNs() const { return read_ns_.load(std::memory_order_relaxed); }
  // Iterator over [lower, upper). fill_cache=false keeps bulk scans out of the block cache.
  std::unique_ptr<BoundedIterator> NewIterator(Cf cf, std::string lower, std::string upper,
                                               bool fill_cache = true) const;
  // RocksDB's estimate of the bytes the keys in [lower, upper) of `cf` take on disk (SST files)
  // and in memtables (GetApproximateSizes). 0 while storage is unavailable.
  uint64_t ApproximateBytes(Cf cf, const std::string& lower, const std::string& upper) const;
  // Flushes all memtables to SST files and waits. ReadOnly while the store is.
  Status Flush();
  // Compacts every column family fully (tests use it to reach a steady on-disk state).
  Status CompactAll();
  // Compacts the keys [lower, upper) of `cf` down to the last level, rewriting every file that
  // holds one, so that the bytes of the values replaced or deleted there are freed; writes and
  // background compactions go on meanwhile. `cancel` (may be null) stops it (Cancelled).
  // Errors: ReadOnly while the store is, the compaction's.
  Status CompactRange(Cf cf, const std::string& lower, const std::string& upper,
                      const std::atomic<bool>* cancel);
  // The storage format the database is in (key_format.h): kFormatVersion, or an older one this
  // build reads.
  uint32_t format() const { return format_; }
  // Makes the database's format kFormatVersion (one synced write) when it is older: call before
  // the first write that an older format cannot read. Errors: the write's.
  Status UpgradeFormat();
  // A consistent copy of the whole store in the new directory `dir` (RocksDB's checkpoint:
  // hard links where `dir` is on the same file system, copies elsewhere), taken while writes
  // go on. Errors: IOError (`dir` exists, cannot be written, the disk is full).
  Status Checkpoint(const std::string& dir);

  StorageReadStats ReadStats() const;

  // Memory RocksDB holds (SHOW MEMORY, the memory budget).
  struct Memory {
    uint64_t cache_capacity = 0, cache_usage = 0;  // block cache (row groups, rows)
    uint64_t write_buffer_limit = 0;  // memtables flush past this (0: per family only)
    uint64_t memtables = 0;           // memtable bytes now
    uint64_t table_readers = 0;       // SST index and filter blocks held outside the cache
  };
  Memory MemoryUse() const;
  // Resizes the block cache (the memory budget's planner).
  void SetCacheCapacity(size_t bytes);
  // RocksDB's write buffers under a memory budget of `budget` bytes: 1/8, 4 MiB..256 MiB.
  static uint64_t WriteBufferLimit(uint64_t budget);
  // The column family to name in a WriteBatch. Valid for the store's lifetime, also across the
  // reopen of a recovery (a batch records only the family's id; see BatchFamilies in the .cc).
  rocksdb::ColumnFamilyHandle* handle(Cf cf) const;

 private:
  struct Instance;
  class BatchFamilies;
  KvStore();
  rocksdb::Status OpenInstance(bool read_only, bool recovering, uint64_t last_sequence);
  void CloseInstance();
  Status TryRecover();
  Status Reopen();
  Status RecordFault(const rocksdb::Status& s, bool wal);
  Status MultiGetInto(Cf cf, std::span<const rocksdb::Slice> keys,
                      std::span<rocksdb::PinnableSlice> values, ReadCounters* counters) const;
  bool RemoveMark();
  void Log(std::string_view line) const;

  std::string path_;
  DatabaseOptions options_;
  StorageHooks hooks_;
  std::unique_ptr<rocksdb::Env> env_;  // over hooks_.file_system, when set
  std::shared_ptr<rocksdb::Statistics> stats_;
  std::shared_ptr<rocksdb::Cache> cache_;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers_;  // with a memory budget
  std::shared_ptr<rocksdb::Logger> rocks_log_;
  std::shared_ptr<FaultState> faults_;
  std::shared_ptr<rocksdb::EventListener> listener_;
  std::unique_ptr<rocksdb::WalFilter> filter_;  // the last reopen's (RocksDB keeps a pointer)
  std::unique_ptr<BatchFamilies> families_;
  mutable std::once_flag read_pool_once_;
  mutable std::unique_ptr<ReadPool> read_pool_;  // made at the first split read
  mutable std::atomic<uint64_t> read_ns_{0};     // ReadLatencyNs

  mutable InstanceGate gate_;         // guards inst_ (holds by every call, swaps by Reopen)
  std::unique_ptr<Instance> inst_;    // null only when a reopen failed entirely
  std::shared_mutex write_gate_;      // shared: a RocksDB write; exclusive: a recovery
  std::mutex recover_mu_;             // one recovery attempt at a time
  std::chrono::steady_clock::time_point next_attempt_;  // GUARDED_BY(recover_mu_)
  std::atomic<uint32_t> format_{0};  // set by Open, raised by UpgradeFormat
  uint64_t last_sequence_ = 0;  // the last acknowledged batch, kept across failed reopens
  bool mark_pending_ = false;   // FAILED_WRITES exists (kv_faults.h); GUARDED_BY(write_gate_)
};

}  // namespace mrldb::storage
