// KvStore's storage faults: recording one (and the FAILED_WRITES mark) and recovering from it
// at a write, by RocksDB's Resume or by reopening the instance (docs/architecture.md,
// "Storage faults").
#include <fmt/format.h>

#include "storage/kv_faults.h"
#include "storage/kv_store.h"
#include "storage/kv_store_internal.h"

namespace mrldb::storage {

Status KvStore::RecordFault(const rocksdb::Status& s, bool wal) {
  const bool first = !faults_->faulted();
  faults_->Record(s, wal, s.severity() >= rocksdb::Status::Severity::kFatalError);
  if (first) Log(fmt::format("storage fault: {}; writes are refused until it clears", s.ToString()));
  if (wal) {
    // The failed batch may be whole in the WAL (a failed fsync): mark what was acknowledged,
    // so that no later open replays it. No write is inside RocksDB while the gate is held.
    std::unique_lock<std::shared_mutex> w(write_gate_);
    Hold hold(&gate_);
    if (!mark_pending_ && inst_ && !inst_->read_only) {
      Status marked = WriteFailedWritesMark(path_, inst_->db->GetLatestSequenceNumber());
      if (marked.ok()) {
        mark_pending_ = true;
      } else {
        Log(fmt::format("{}; if the process stops before the database recovers, a batch whose "
                        "WAL fsync failed may reappear at the next open", marked.message()));
      }
    }
  }
  return faults_->WriteError();
}

bool KvStore::RemoveMark() {
  if (!mark_pending_) return true;
  Status st = RemoveFailedWritesMark(path_);
  if (!st.ok()) {
    Log(fmt::format("{}; writes stay refused until it can be removed", st.message()));
    return false;
  }
  mark_pending_ = false;
  return true;
}

namespace {

uint64_t CurrentWal(rocksdb::DB* db) {
  std::unique_ptr<rocksdb::LogFile> wal;
  if (!db->GetCurrentWalFile(&wal).ok() || !wal) return 0;
  return wal->LogNumber();
}

}  // namespace

Status KvStore::TryRecover() {
  std::lock_guard<std::mutex> r(recover_mu_);
  if (!faults_->faulted()) return Status::Ok();  // another writer recovered
  if (std::chrono::steady_clock::now() < next_attempt_) return faults_->WriteError();
  std::unique_lock<std::shared_mutex> w(write_gate_);  // no write is inside RocksDB now
  struct Later {  // the next attempt waits a full interval after this one ends
    KvStore* s;
    ~Later() { s->next_attempt_ = std::chrono::steady_clock::now() + s->hooks_.recovery_interval; }
  } later{this};
  const FaultState::Fault fault = faults_->Get();
  {
    Hold hold(&gate_);
    if (inst_ && !inst_->read_only && !fault.fatal) {
      const uint64_t wal = CurrentWal(inst_->db.get());
      rocksdb::Status resumed = inst_->db->Resume();  // flushes the memtables, switching WALs
      if (resumed.ok() && (!fault.wal || CurrentWal(inst_->db.get()) != wal)) {
        if (!RemoveMark()) return faults_->WriteError();  // the old WAL is obsolete now
        faults_->Clear();
        Log("storage fault cleared: writes resumed");
        return Status::Ok();
      }
      // Resumed without a new WAL (every memtable was empty): the next write would append to
      // the writer that failed, which RocksDB 7.8 answers with an assertion. Busy: RocksDB's
      // own recovery of an earlier soft error is under way. Fatal: Resume cannot help. These
      // reopen; any other failure (still no space for the flush) waits for the next try.
      const bool fatal = faults_->Get().fatal ||
                         resumed.severity() >= rocksdb::Status::Severity::kFatalError;
      if (!resumed.ok() && !resumed.IsBusy() && !fatal) return faults_->WriteError();
    }
  }
  return Reopen();
}

Status KvStore::Reopen() {
  // Waits for every read and iterator to end, boundedly: a reader (a background load's scan)
  // may be waiting for a lock that this write's caller holds; then the attempt is deferred to
  // a later write and this one is refused as any write during the fault.
  Swap swap(&gate_, kSwapWait);
  if (!swap.ok()) {
    Log("storage fault: recovery deferred, reads in progress; a later write tries again");
    return faults_->WriteError();
  }
  if (inst_) last_sequence_ = inst_->db->GetLatestSequenceNumber();
  CloseInstance();
  rocksdb::Status s = OpenInstance(/*read_only=*/false, /*recovering=*/true, last_sequence_);
  if (s.ok() && RemoveMark()) {  // the reopen flushed: no WAL holds a failed batch now
    faults_->Clear();
    Log("storage fault cleared: database reopened, writes resumed");
    return Status::Ok();
  }
  if (s.ok()) return faults_->WriteError();  // writable, but the mark stays: refused
  rocksdb::Status ro = OpenInstance(/*read_only=*/true, /*recovering=*/true, last_sequence_);
  if (!ro.ok()) {
    Log(fmt::format("storage fault: cannot reopen '{}' ({}), not even read-only ({}); reads "
                    "fail until a write recovers", path_, s.ToString(), ro.ToString()));
  }
  return faults_->WriteError();
}

}  // namespace mrldb::storage
