#include "storage/kv_store.h"

#include <filesystem>
#include <limits>
#include <vector>

#include <fmt/format.h>
#include <rocksdb/cache.h>
#include <rocksdb/write_buffer_manager.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/env.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>

#include "storage/coding.h"
#include "storage/key_format.h"
#include "storage/kv_faults.h"
#include "storage/kv_store_internal.h"
#include "storage/read_pool.h"

namespace mrldb::storage {

Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return Status::Ok();
  std::string msg = fmt::format("{}: {}", context, s.ToString());
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  if (s.IsNotSupported()) return Status::NotSupported(msg);
  return Status::IOError(msg);
}

namespace {

// The WAL files (*.log) in the database directory `dir`.
size_t WalFiles(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    n += it->path().extension() == ".log";
  }
  return n;
}

// Whether no memtable of the three families holds an entry (an unknown count counts as one).
bool MemtablesEmpty(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* const* handles) {
  for (int i = 0; i < 3; ++i) {
    uint64_t active = 1, immutable = 1;
    if (!db->GetIntProperty(handles[i], rocksdb::DB::Properties::kNumEntriesActiveMemTable, &active) ||
        !db->GetIntProperty(handles[i], rocksdb::DB::Properties::kNumEntriesImmMemTables, &immutable) ||
        active + immutable != 0) {
      return false;
    }
  }
  return true;
}

// `write_buffer`: the vectors family's memtable size (the other families take 32 MiB).
rocksdb::ColumnFamilyOptions CfOptions(Cf cf, const std::shared_ptr<rocksdb::Cache>& cache,
                                       size_t write_buffer) {
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = cache;
  if (cf == Cf::kVectors) {
    // float32 does not compress. Every row group is 2..4 KiB (key_format.h) and RocksDB closes
    // a data block once it reaches block_size, so with 1 KiB each data block is one group:
    // reading one candidate's block reads one page's worth (with 4 KiB, two groups shared a
    // 7 KiB block; docs/benchmarks.md, "Tiered storage"). Scans read the blocks in order.
    o.compression = rocksdb::kNoCompression;
    o.write_buffer_size = write_buffer;
    o.max_write_buffer_number = 4;  // absorb bulk loads while a flush runs
    o.target_file_size_base = 128u << 20;
    o.max_bytes_for_level_base = 1u << 30;
    t.block_size = 1u << 10;
  } else {
    o.compression = rocksdb::kLZ4Compression;
    o.write_buffer_size = 32u << 20;
    t.block_size = 16u << 10;
  }
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

// RocksDB's LOCK file is held: by another process (fcntl fails: "While lock file: .../LOCK:
// Resource temporarily unavailable") or by this one (RocksDB's own table of locked files: "lock
// hold by current process"). RocksDB has no subcode for either; its messages are all there is.
// Returns the error a user can act on, or OK when `s` is another failure.
Status LockHeldError(const rocksdb::Status& s, const std::string& path) {
  if (!s.IsIOError()) return Status::Ok();
  const std::string text = s.ToString();
  if (text.find("lock hold by current process") != std::string::npos) {
    return Status::IOError(fmt::format("database '{}' is already open in this process (one "
                                       "Database per directory: share the one that holds it)",
                                       path));
  }
  if (text.find("While lock file") == std::string::npos) return Status::Ok();
  return Status::IOError(fmt::format(
      "database '{}' is in use by another process (an mrldb shell or `mrldb serve`); one process "
      "at a time opens a database: to share it, run `mrldb serve --db {}` and connect to it with "
      "`mrldb connect HOST:PORT` or a client", path, path));
}

}  // namespace

void InstanceGate::Acquire() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return !swapping_; });
  ++holds_;
}

void InstanceGate::Release() {
  std::lock_guard<std::mutex> l(mu_);
  if (--holds_ == 0) cv_.notify_all();
}

void InstanceGate::BeginSwap() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return holds_ == 0 && !swapping_; });
  swapping_ = true;
}

bool InstanceGate::TryBeginSwap(std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> l(mu_);
  if (!cv_.wait_for(l, limit, [&] { return holds_ == 0 && !swapping_; })) return false;
  swapping_ = true;
  return true;
}

void InstanceGate::EndSwap() {
  std::lock_guard<std::mutex> l(mu_);
  swapping_ = false;
  cv_.notify_all();
}

namespace {

std::vector<rocksdb::ColumnFamilyDescriptor> Families(const std::shared_ptr<rocksdb::Cache>& cache,
                                                     size_t write_buffer = 128u << 20) {
  return {{kCfDefault, CfOptions(Cf::kDefault, cache, write_buffer)},
          {kCfRows, CfOptions(Cf::kRows, cache, write_buffer)},
          {kCfVectors, CfOptions(Cf::kVectors, cache, write_buffer)}};
}

}  // namespace

BoundedIterator::BoundedIterator(InstanceGate* gate, rocksdb::DB* db,
                                 rocksdb::ColumnFamilyHandle* cf, std::string lower,
                                 std::string upper, bool fill_cache)
    : gate_(gate), lower_(std::move(lower)), upper_(std::move(upper)), lower_slice_(lower_),
      upper_slice_(upper_) {
  if (!db) {
    it_.reset(rocksdb::NewErrorIterator(rocksdb::Status::IOError("storage is unavailable")));
    return;
  }
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice_;
  ro.iterate_upper_bound = &upper_slice_;
  ro.fill_cache = fill_cache;
  it_.reset(db->NewIterator(ro, cf));
}

BoundedIterator::~BoundedIterator() {
  it_.reset();  // before the gate lets a reopen close the instance
  gate_->Release();
}

// Column family handles to build WriteBatches with. A WriteBatch records only a family's id (and
// reads its comparator); the real instance's handles die when a recovery reopens RocksDB, while
// another thread may be building a batch. These belong to a small in-memory RocksDB with the
// same three families created in the same order, so their ids are the real ones (checked at
// every open), and they live as long as the store.
class KvStore::BatchFamilies {
 public:
  static Result<std::unique_ptr<BatchFamilies>> Create(const std::shared_ptr<rocksdb::Cache>& cache) {
    std::unique_ptr<BatchFamilies> f(new BatchFamilies());
    f->env_.reset(rocksdb::NewMemEnv(rocksdb::Env::Default()));
    rocksdb::DBOptions o;
    o.env = f->env_.get();
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    o.stats_dump_period_sec = 0;
    o.stats_persist_period_sec = 0;
    o.info_log_level = rocksdb::InfoLogLevel::HEADER_LEVEL;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    MRLDB_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(o, "/mrldb-batch-families", Families(cache),
                                                      &handles, &raw),
                                    "opening the in-memory batch families"));
    f->db_.reset(raw);
    for (size_t i = 0; i < handles.size(); ++i) f->handles_[i] = handles[i];
    return f;
  }
  ~BatchFamilies() {
    for (auto* h : handles_) {
      if (h) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    if (db_) db_->Close().PermitUncheckedError();
    db_.reset();
  }
  rocksdb::ColumnFamilyHandle* handle(Cf cf) const { return handles_[static_cast<int>(cf)]; }

 private:
  BatchFamilies() = default;
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* handles_[3] = {nullptr, nullptr, nullptr};
};

KvStore::KvStore() = default;

void KvStore::Log(std::string_view line) const {
  if (options_.info_log) {
    options_.info_log(line);
  } else {
    fmt::print(stderr, "mrldb: {}\n", line);
  }
}

rocksdb::Status KvStore::OpenInstance(bool read_only, bool recovering, uint64_t last_sequence) {
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.statistics = stats_;
  dbo.max_background_jobs = 2;
  dbo.bytes_per_sync = 1u << 20;
  dbo.max_total_wal_size = 512u << 20;
  if (env_) dbo.env = env_.get();
  dbo.info_log = rocks_log_;
  dbo.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  dbo.listeners = {listener_};
  dbo.max_bgerror_resume_count = 0;  // mrldb recovers itself (TryRecover)
  // A normal open replays the WAL into the memtables without writing SST files, so a database
  // opens with little free space. A recovery's reopen flushes what it replays, so that the WALs
  // holding failed batches are obsolete before the first new write (the filter drops those
  // batches only at this open).
  dbo.avoid_flush_during_recovery = !recovering;
  // Under a memory budget all memtables together flush past the write buffer limit, and the
  // vectors family's own memtables are at most a quarter of it each.
  size_t write_buffer = 128u << 20;
  if (write_buffers_) {
    dbo.write_buffer_manager = write_buffers_;
    write_buffer = std::min<size_t>(write_buffer, write_buffers_->buffer_size() / 4);
  }
  if (recovering) {
    filter_ = NewFailedBatchFilter(last_sequence);
    dbo.wal_filter = filter_.get();
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      read_only ? rocksdb::DB::OpenForReadOnly(dbo, path_, Families(cache_, write_buffer), &handles, &raw)
                : rocksdb::DB::Open(dbo, path_, Families(cache_, write_buffer), &handles, &raw);
  if (!s.ok()) return s;
  auto inst = std::make_unique<Instance>();
  inst->db.reset(raw);
  inst->read_only = read_only;
  for (size_t i = 0; i < handles.size(); ++i) inst->handles[i] = handles[i];
  inst_ = std::move(inst);
  for (int i = 0; i < 3; ++i) {
    const uint32_t id = inst_->handles[i]->GetID();
    const uint32_t expected = families_->handle(static_cast<Cf>(i))->GetID();
    if (id != expected) {
      const std::string name = inst_->handles[i]->GetName();
      CloseInstance();
      return rocksdb::Status::Corruption(
          fmt::format("column family '{}' has id {}, expected {}", name, id, expected));
    }
  }
  return s;
}

void KvStore::CloseInstance() {
  if (!inst_) return;
  for (auto*& h : inst_->handles) {
    if (h) inst_->db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    h = nullptr;
  }
  // A faulted instance reports the failed WAL writer at close; nothing acknowledged is lost.
  inst_->db->Close().PermitUncheckedError();
  inst_.reset();
}

Result<std::unique_ptr<KvStore>> KvStore::Open(const std::string& path,
                                               const DatabaseOptions& options,
                                               const StorageHooks& hooks) {
  namespace fs = std::filesystem;
  std::error_code ec;
  bool exists = fs::exists(fs::path(path) / "CURRENT", ec);
  if (exists && options.error_if_exists) {
    return Status::AlreadyExists(fmt::format("a database already exists at '{}'", path));
  }
  if (!exists && !options.create_if_missing) {
    return Status::NotFound(fmt::format("no database at '{}' (create_if_missing is off)", path));
  }
  if (!exists) {
    fs::create_directories(path, ec);
    if (ec) return Status::IOError(fmt::format("cannot create '{}': {}", path, ec.message()));
  }

  std::unique_ptr<KvStore> store(new KvStore());
  store->path_ = path;
  store->options_ = options;
  store->hooks_ = hooks;
  if (hooks.file_system) store->env_ = rocksdb::NewCompositeEnv(hooks.file_system);
  store->stats_ = rocksdb::CreateDBStatistics();
  // Not strict_capacity_limit: a full strict cache fails reads, and flushes with them
  // (RocksDB issues #5322, #3482). Reads pin at most a MultiGet batch of blocks beyond it
  // (storage/vector_segments.cc).
  if (options.memory_budget_bytes) {
    // The memtables are charged to the block cache: while nothing is written, their share of
    // the budget holds blocks; as memtables fill, the cache evicts blocks to make room.
    const uint64_t limit = WriteBufferLimit(*options.memory_budget_bytes);
    store->cache_ = rocksdb::NewLRUCache(*options.memory_budget_bytes / 32 + limit);
    store->write_buffers_ = std::make_shared<rocksdb::WriteBufferManager>(limit, store->cache_);
  } else {
    store->cache_ = rocksdb::NewLRUCache(options.block_cache_bytes);
  }
  store->rocks_log_ = NewQuietLogger((fs::path(path) / "LOG").string());
  store->faults_ = std::make_shared<FaultState>();
  KvStore* self = store.get();
  store->listener_ = NewFaultListener(store->faults_, [self](std::string_view l) { self->Log(l); });
  MRLDB_ASSIGN_OR_RETURN(store->families_, BatchFamilies::Create(store->cache_));

  // A failed-writes mark: a WAL write failed and the database did not recover before it
  // closed; this open drops the failed batches and flushes what it replays.
  MRLDB_ASSIGN_OR_RETURN(const std::optional<uint64_t> mark, ReadFailedWritesMark(path));
  store->mark_pending_ = mark.has_value();
  store->last_sequence_ = mark.value_or(0);
  rocksdb::Status s = store->OpenInstance(/*read_only=*/false, mark.has_value(), mark.value_or(0));
  if (s.ok() && mark && !store->RemoveMark()) {
    store->faults_->Record(rocksdb::Status::IOError("cannot remove the failed-writes mark"),
                           false, false);
  }
  if (!s.ok() && exists && s.IsNoSpace()) {
    // Opening for writing needs a new MANIFEST and WAL; reading needs nothing.
    rocksdb::Status ro =
        store->OpenInstance(/*read_only=*/true, mark.has_value(), mark.value_or(0));
    if (ro.ok()) {
      store->faults_->Record(s, /*wal=*/false, /*fatal=*/false);
      store->Log(fmt::format("'{}' opened read-only: {}", path,
                             store->faults_->WriteError().message()));
      s = ro;
    }
  }
  if (Status held = LockHeldError(s, path); !held.ok()) return held;
  MRLDB_RETURN_IF_ERROR(FromRocks(s, fmt::format("opening database '{}'", path)));

  std::string version;
  Status st = store->Get(Cf::kDefault, kFormatKey, &version);
  if (st.IsNotFound()) {
    rocksdb::WriteBatch wb;
    std::string v;
    PutFixed32(&v, kFormatVersion);
    wb.Put(store->handle(Cf::kDefault), kFormatKey, v);
    MRLDB_RETURN_IF_ERROR(store->Write(&wb, /*sync=*/true));
    store->format_ = kFormatVersion;
  } else if (!st.ok()) {
    return st;
  } else if (version.size() != 4) {
    return Status::Corruption(fmt::format("'{}': format version record has {} bytes, not 4",
                                          path, version.size()));
  } else if (uint32_t v = DecodeFixed32(version.data());
             v < kOldestReadableFormat || v > kFormatVersion) {
    // Format 1 kept vectors in large per-batch segments without norms; no reader of it is kept.
    return Status::VersionMismatch(fmt::format(
        "'{}' was written in storage format {}, this build reads formats {} and {}{}", path, v,
        kOldestReadableFormat, kFormatVersion,
        v < kFormatVersion ? " (to migrate: COPY each collection out with the build that wrote it "
                             "and into a new database with this one; docs/storage-format.md, "
                             "\"Migration\")"
                           : ""));
  } else {
    store->format_ = v;  // format 2 is read as it is (format 3 only adds vacuumed groups)
  }
  return store;
}

KvStore::~KvStore() { Close().IgnoreError(); }

Status KvStore::Close() {
  std::unique_lock<std::shared_mutex> w(write_gate_);
  Swap swap(&gate_);
  if (!inst_) return Status::Ok();
  Status result;
  if (!faults_->faulted() && !inst_->read_only) {
    result = FromRocks(inst_->db->FlushWAL(/*sync=*/true), "syncing WAL at close");
    // The memtables go to SST files so that the next open replays no WAL (an open keeps what
    // it replays in memtables, so an unflushed WAL was replayed again at every open: 316 MB
    // and 0.9 s at each open of a 100k x 768 database). Best effort: the WAL is synced.
    if (result.ok()) {
      // Only a flush that writes something deletes the WALs before the current one, and a
      // session that wrote nothing flushes nothing: each open's WAL stayed on disk, one empty
      // file per open (measured: 30 after the opens of one benchmark), each replayed by every
      // later open. When older WALs are there and no memtable holds anything to flush, the
      // catalog family gets the deletion of a key nothing stores, so that its flush below
      // deletes them (a flush of any family's writes deletes them too).
      if (WalFiles(path_) > 1 && MemtablesEmpty(inst_->db.get(), inst_->handles)) {
        rocksdb::WriteBatch wb;
        rocksdb::Status released = wb.Delete(inst_->handles[0], kWalReleaseKey);
        if (released.ok()) released = inst_->db->Write(rocksdb::WriteOptions(), &wb);
        if (!released.ok()) {
          Log(fmt::format("releasing old WALs at close failed ({})", released.ToString()));
        }
      }
      rocksdb::FlushOptions fo;
      fo.wait = true;
      std::vector<rocksdb::ColumnFamilyHandle*> hs(inst_->handles, inst_->handles + 3);
      rocksdb::Status f = inst_->db->Flush(fo, hs);
      if (!f.ok()) Log(fmt::format("flush at close failed ({}); the next open replays the WAL",
                                   f.ToString()));
    }
  }
  CloseInstance();
  return result;
}

rocksdb::ColumnFamilyHandle* KvStore::handle(Cf cf) const { return families_->handle(cf); }

Status KvStore::WriteFault() const { return faults_->WriteError(); }

Status KvStore::Write(rocksdb::WriteBatch* batch, bool sync) {
  if (faults_->faulted()) MRLDB_RETURN_IF_ERROR(TryRecover());
  rocksdb::Status s;
  {
    std::shared_lock<std::shared_mutex> w(write_gate_);
    Hold hold(&gate_);
    // Checked again under the gate: no write may reach RocksDB after a fault (the failed WAL
    // writer must not be appended to), until a recovery has switched WALs.
    if (faults_->faulted() || !inst_ || inst_->read_only) return faults_->WriteError();
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    s = inst_->db->Write(wo, batch);
  }
  if (s.ok()) return Status::Ok();
  // RocksDB does not say whether the WAL writer failed or the write was refused because an
  // earlier background error stopped the database: assume the writer failed.
  if (IsStorageFault(s)) return RecordFault(s, /*wal=*/true);
  return FromRocks(s, "writing batch");
}

Status KvStore::Get(Cf cf, std::string_view key, std::string* value) const {
  Hold hold(&gate_);
  if (!inst_) return Status::IOError("reading key: storage is unavailable");
  return FromRocks(inst_->db->Get(rocksdb::ReadOptions(), inst_->handles[static_cast<int>(cf)],
                                  key, value),
                   "reading key");
}

uint64_t KvStore::ApproximateBytes(Cf cf, const std::string& lower,
                                   const std::string& upper) const {
  Hold hold(&gate_);
  if (!inst_) return 0;
  const rocksdb::Range range(lower, upper);
  rocksdb::SizeApproximationOptions options;
  options.include_memtables = true;
  options.include_files = true;
  uint64_t size = 0;
  rocksdb::Status st = inst_->db->GetApproximateSizes(
      options, inst_->handles[static_cast<int>(cf)], &range, 1, &size);
  return st.ok() ? size : 0;
}

ReadCounterScope::ReadCounterScope(ReadCounters* counters) : counters_(counters) {
  if (!counters_) return;
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
}

ReadCounterScope::~ReadCounterScope() {
  if (!counters_) return;
  const rocksdb::PerfContext* pc = rocksdb::get_perf_context();
  counters_->cache_hits += pc->block_cache_hit_count;
  counters_->reads += pc->block_read_count;
  counters_->bytes += pc->block_read_byte;
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
}

std::unique_ptr<BoundedIterator> KvStore::NewIterator(Cf cf, std::string lower,
                                                      std::string upper,
                                                      bool fill_cache) const {
  gate_.Acquire();  // released by the iterator
  rocksdb::DB* db = inst_ ? inst_->db.get() : nullptr;
  return std::make_unique<BoundedIterator>(&gate_, db,
                                           inst_ ? inst_->handles[static_cast<int>(cf)] : nullptr,
                                           std::move(lower), std::move(upper), fill_cache);
}

Status KvStore::Flush() {
  if (faults_->faulted()) return faults_->WriteError();
  rocksdb::Status s;
  {
    Hold hold(&gate_);
    if (!inst_ || inst_->read_only) return faults_->WriteError();
    rocksdb::FlushOptions fo;
    fo.wait = true;
    std::vector<rocksdb::ColumnFamilyHandle*> hs(inst_->handles, inst_->handles + 3);
    s = inst_->db->Flush(fo, hs);
  }
  if (s.ok()) return Status::Ok();
  if (faults_->faulted()) return faults_->WriteError();  // the listener saw a hard error
  return FromRocks(s, "flushing memtables");
}

Status KvStore::Checkpoint(const std::string& dir) {
  Hold hold(&gate_);
  if (!inst_) return Status::InvalidArgument("the database is closed");
  rocksdb::Checkpoint* raw = nullptr;
  MRLDB_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(inst_->db.get(), &raw), "starting a checkpoint"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // Flushing first keeps the copy's WAL short; a read-only store cannot flush, and need not.
  const uint64_t log_size_for_flush = inst_->read_only ? std::numeric_limits<uint64_t>::max() : 0;
  return FromRocks(checkpoint->CreateCheckpoint(dir, log_size_for_flush),
                   fmt::format("writing a checkpoint to '{}'", dir));
}

Status KvStore::CompactAll() {
  MRLDB_RETURN_IF_ERROR(Flush());
  Hold hold(&gate_);
  if (!inst_ || inst_->read_only) return faults_->WriteError();
  for (auto* h : inst_->handles) {
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    MRLDB_RETURN_IF_ERROR(
        FromRocks(inst_->db->CompactRange(co, h, nullptr, nullptr), "compacting"));
  }
  return Status::Ok();
}

Status KvStore::UpgradeFormat() {
  if (format_ >= kFormatVersion) return Status::Ok();
  rocksdb::WriteBatch wb;
  std::string v;
  PutFixed32(&v, kFormatVersion);
  wb.Put(handle(Cf::kDefault), kFormatKey, v);
  MRLDB_RETURN_IF_ERROR(Write(&wb, /*sync=*/true));
  format_ = kFormatVersion;
  return Status::Ok();
}

Status KvStore::CompactRange(Cf cf, const std::string& lower, const std::string& upper,
                             const std::atomic<bool>* cancel) {
  rocksdb::Status s;
  {
    Hold hold(&gate_);
    if (!inst_ || inst_->read_only || faults_->faulted()) return faults_->WriteError();
    rocksdb::CompactRangeOptions co;
    // Writes go on meanwhile: background compactions must not wait for this one.
    co.exclusive_manual_compaction = false;
    // Rewrite the bottommost files too: that is where the replaced row groups' old bytes are.
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    // RocksDB only reads the flag (DisableManualCompaction, which writes it, is never called).
    co.canceled = const_cast<std::atomic<bool>*>(cancel);
    const rocksdb::Slice begin(lower), end(upper);
    s = inst_->db->CompactRange(co, inst_->handles[static_cast<int>(cf)], &begin, &end);
  }
  if (s.ok()) return Status::Ok();
  if (s.IsIncomplete() && cancel && *cancel) return Status::Cancelled("compaction cancelled");
  if (faults_->faulted()) return faults_->WriteError();
  return FromRocks(s, "compacting");
}

uint64_t KvStore::WriteBufferLimit(uint64_t budget) {
  return std::clamp<uint64_t>(budget / 8, 4u << 20, 256u << 20);
}

void KvStore::SetCacheCapacity(size_t bytes) { cache_->SetCapacity(bytes); }

KvStore::Memory KvStore::MemoryUse() const {
  Memory m;
  m.cache_capacity = cache_->GetCapacity();
  m.cache_usage = cache_->GetUsage();
  m.write_buffer_limit = write_buffers_ ? write_buffers_->buffer_size() : 0;
  Hold hold(&gate_);
  if (!inst_) return m;
  for (auto* h : inst_->handles) {
    uint64_t v = 0;
    if (inst_->db->GetIntProperty(h, "rocksdb.cur-size-all-mem-tables", &v)) m.memtables += v;
    if (inst_->db->GetIntProperty(h, "rocksdb.estimate-table-readers-mem", &v)) m.table_readers += v;
  }
  return m;
}

StorageReadStats KvStore::ReadStats() const {
  StorageReadStats r;
  r.sst_bytes_read = stats_->getTickerCount(rocksdb::LAST_LEVEL_READ_BYTES) +
                     stats_->getTickerCount(rocksdb::NON_LAST_LEVEL_READ_BYTES);
  r.iter_bytes_read = stats_->getTickerCount(rocksdb::ITER_BYTES_READ);
  r.get_bytes_read = stats_->getTickerCount(rocksdb::BYTES_READ);
  return r;
}

}  // namespace mrldb::storage
