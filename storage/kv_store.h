// KvStore: the RocksDB instance behind a database: opening with the format check, the three
// column families of key_format.h, atomic batch writes, bounded iterators, read statistics.
//
// Thread safety: all methods may be called concurrently (RocksDB's guarantees).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "mrldb/options.h"
#include "mrldb/status.h"

namespace mrldb::storage {

enum class Cf { kDefault = 0, kRows = 1, kVectors = 2 };

// Converts a RocksDB status; `context` says what was being done ("writing batch").
Status FromRocks(const rocksdb::Status& s, std::string_view context);

// Bytes read since open, from RocksDB statistics.
struct StorageReadStats {
  uint64_t sst_bytes_read = 0;   // bytes read from SST files (all levels, incl. compaction)
  uint64_t iter_bytes_read = 0;  // key + value bytes returned by iterators
  uint64_t get_bytes_read = 0;   // value bytes returned by point lookups
};

// An iterator over [lower, upper) of one column family that owns its bounds.
class BoundedIterator {
 public:
  BoundedIterator(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string lower,
                  std::string upper, bool fill_cache);
  rocksdb::Iterator* operator->() { return it_.get(); }
  rocksdb::Iterator& get() { return *it_; }
  void SeekToFirst() { it_->Seek(lower_); }

 private:
  std::string lower_, upper_;
  rocksdb::Slice lower_slice_, upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

class KvStore {
 public:
  // Opens or creates the database in `path`; writes kFormatVersion into a new database and
  // checks it in an existing one. Errors: IOError, VersionMismatch, Corruption.
  static Result<std::unique_ptr<KvStore>> Open(const std::string& path,
                                               const DatabaseOptions& options);
  ~KvStore();

  Status Close();

  // Applies `batch` atomically; `sync` fsyncs the WAL first.
  Status Write(rocksdb::WriteBatch* batch, bool sync);
  // Errors: NotFound when the key is absent.
  Status Get(Cf cf, std::string_view key, std::string* value) const;
  // Iterator over [lower, upper). fill_cache=false keeps bulk scans out of the block cache.
  std::unique_ptr<BoundedIterator> NewIterator(Cf cf, std::string lower, std::string upper,
                                               bool fill_cache = true) const;
  // Flushes all memtables to SST files and waits.
  Status Flush();
  // Compacts every column family fully (tests use it to reach a steady on-disk state).
  Status CompactAll();

  StorageReadStats ReadStats() const;
  rocksdb::ColumnFamilyHandle* handle(Cf cf) const { return handles_[static_cast<int>(cf)]; }
  rocksdb::DB* db() const { return db_.get(); }

 private:
  KvStore() = default;
  std::shared_ptr<rocksdb::Statistics> stats_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* handles_[3] = {nullptr, nullptr, nullptr};
};

}  // namespace mrldb::storage
