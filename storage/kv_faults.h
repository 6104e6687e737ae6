// Storage faults: how KvStore notices that RocksDB cannot write (disk full, I/O errors), the
// error every write gets meanwhile, and the RocksDB pieces that make a fault survivable: a
// listener that records background errors and keeps RocksDB's own recovery out of the way, a
// WAL filter that drops the batches whose writes failed, and an info log that cannot fail.
// The design and the RocksDB 7.8 behaviour behind it: docs/architecture.md, "Storage faults".
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <rocksdb/listener.h>
#include <rocksdb/status.h>
#include <rocksdb/wal_filter.h>

#include "mrldb/status.h"

namespace mrldb::storage {

// A RocksDB status that means storage could not write (IOError, NoSpace, Corruption from a
// failed write): the store turns read-only. Other failures (InvalidArgument ...) are ordinary
// errors of the one call.
bool IsStorageFault(const rocksdb::Status& s);

// The current fault of one store. Thread-safe; faulted() is a single atomic load.
class FaultState {
 public:
  struct Fault {
    rocksdb::Status cause;  // the first error of this fault
    // The WAL writer may have failed: RocksDB must never append to it again (its
    // WritableFileWriter asserts `sync_without_flush_called_`), so recovery must switch WALs.
    bool wal = false;
    // RocksDB's severity is fatal or unrecoverable: DB::Resume refuses, only a reopen recovers.
    bool fatal = false;
  };

  // Records a fault; later errors only add to `wal` and `fatal` (the first cause is kept).
  void Record(const rocksdb::Status& cause, bool wal, bool fatal);
  void Clear();
  bool faulted() const { return faulted_.load(std::memory_order_acquire); }
  Fault Get() const;
  // The error a write gets while faulted, e.g. "disk full: IO error: No space left on device:
  // While appending to file: ...; the database is read-only until space is freed".
  Status WriteError() const;

 private:
  mutable std::mutex mu_;
  std::atomic<bool> faulted_{false};
  Fault fault_;  // GUARDED_BY(mu_)
};

// The Status::ReadOnly error for a storage fault caused by `cause`.
Status ReadOnlyError(const rocksdb::Status& cause);

// Records every background error of severity hard or worse (failed flush, WAL write, MANIFEST
// write, fatal compaction error) in `state` and turns RocksDB's automatic recovery off for it:
// mrldb recovers itself, at a write (KvStore::Write), because RocksDB 7.8's recovery can leave
// the failed WAL writer in use when the memtables are empty (RocksDB issues #11643, #12998).
// Soft errors (a compaction without space) are left to RocksDB, which resumes compactions once
// space is free; writes continue meanwhile.
// `log` gets one line per fault (DatabaseOptions::info_log).
std::shared_ptr<rocksdb::EventListener> NewFaultListener(
    std::shared_ptr<FaultState> state, std::function<void(std::string_view)> log);

// At a reopen: drops every WAL record whose sequence number is above `last_sequence`, the last
// batch RocksDB acknowledged before the fault. Those are batches whose writes failed: their
// bytes may have reached the WAL (a failed fsync) although the writer got an error.
std::unique_ptr<rocksdb::WalFilter> NewFailedBatchFilter(uint64_t last_sequence);

// The failed-writes mark, `<db>/FAILED_WRITES`: "mrldb failed writes after <sequence>\n".
// Written (best effort) when a WAL write fails, with the last sequence number RocksDB
// acknowledged: a failed fsync leaves the failed batch whole in the WAL, and an open that finds
// the mark drops the WAL records above that sequence (NewFailedBatchFilter) and flushes, so the
// batch never reappears, also after a crash. Removed once the WALs holding failed batches are
// obsolete, before any new write is acknowledged (a stale mark would drop acknowledged ones).
Status WriteFailedWritesMark(const std::string& db_path, uint64_t last_sequence);
// The mark's sequence; nullopt when there is none. Errors: Corruption (a mark that does not
// parse), IOError.
Result<std::optional<uint64_t>> ReadFailedWritesMark(const std::string& db_path);
// Removes the mark (no mark: OK) and syncs the directory.
Status RemoveFailedWritesMark(const std::string& db_path);

// RocksDB's info log, written to `path` with stdio at level WARN and above, errors ignored.
// RocksDB's own file logger asserts on its second write after a failed one, which on a full disk
// aborts the process (Debian's librocksdb keeps assertions on). Above 4 MiB the file restarts.
std::shared_ptr<rocksdb::Logger> NewQuietLogger(const std::string& path);

}  // namespace mrldb::storage
