#include "storage/kv_store.h"

#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <rocksdb/cache.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>

#include "storage/coding.h"
#include "storage/key_format.h"

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

BoundedIterator::BoundedIterator(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                                 std::string lower, std::string upper, bool fill_cache)
    : lower_(std::move(lower)), upper_(std::move(upper)), lower_slice_(lower_),
      upper_slice_(upper_) {
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice_;
  ro.iterate_upper_bound = &upper_slice_;
  ro.fill_cache = fill_cache;
  it_.reset(db->NewIterator(ro, cf));
}

namespace {

rocksdb::ColumnFamilyOptions CfOptions(Cf cf, const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions o;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = cache;
  if (cf == Cf::kVectors) {
    // float32 does not compress; segments are large sequential values.
    o.compression = rocksdb::kNoCompression;
    o.write_buffer_size = 128u << 20;
    o.max_write_buffer_number = 4;  // absorb bulk loads while a flush runs
    o.target_file_size_base = 128u << 20;
    o.max_bytes_for_level_base = 1u << 30;
    t.block_size = 64u << 10;
  } else {
    o.compression = rocksdb::kLZ4Compression;
    o.write_buffer_size = 32u << 20;
    t.block_size = 16u << 10;
  }
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

}  // namespace

Result<std::unique_ptr<KvStore>> KvStore::Open(const std::string& path,
                                               const DatabaseOptions& options) {
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
  store->stats_ = rocksdb::CreateDBStatistics();
  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);

  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.statistics = store->stats_;
  dbo.max_background_jobs = 2;
  dbo.bytes_per_sync = 1u << 20;
  dbo.max_total_wal_size = 512u << 20;
  dbo.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  dbo.keep_log_file_num = 3;

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {kCfDefault, CfOptions(Cf::kDefault, cache)},
      {kCfRows, CfOptions(Cf::kRows, cache)},
      {kCfVectors, CfOptions(Cf::kVectors, cache)},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  MRLDB_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(dbo, path, cfs, &handles, &raw),
                                  fmt::format("opening database '{}'", path)));
  store->db_.reset(raw);
  for (size_t i = 0; i < handles.size(); ++i) store->handles_[i] = handles[i];

  std::string version;
  Status st = store->Get(Cf::kDefault, kFormatKey, &version);
  if (st.IsNotFound()) {
    rocksdb::WriteBatch wb;
    std::string v;
    PutFixed32(&v, kFormatVersion);
    wb.Put(store->handle(Cf::kDefault), kFormatKey, v);
    MRLDB_RETURN_IF_ERROR(store->Write(&wb, /*sync=*/true));
  } else if (!st.ok()) {
    return st;
  } else if (version.size() != 4) {
    return Status::Corruption(fmt::format("'{}': format version record has {} bytes, not 4",
                                          path, version.size()));
  } else if (uint32_t v = DecodeFixed32(version.data()); v != kFormatVersion) {
    return Status::VersionMismatch(fmt::format(
        "'{}' was written in storage format {}, this build reads format {}", path, v,
        kFormatVersion));
  }
  return store;
}

KvStore::~KvStore() { Close().IgnoreError(); }

Status KvStore::Close() {
  if (!db_) return Status::Ok();
  Status result = FromRocks(db_->FlushWAL(/*sync=*/true), "syncing WAL at close");
  for (auto*& h : handles_) {
    if (h) {
      Status st = FromRocks(db_->DestroyColumnFamilyHandle(h), "closing column family");
      if (result.ok()) result = st;
      h = nullptr;
    }
  }
  Status st = FromRocks(db_->Close(), "closing database");
  if (result.ok()) result = st;
  db_.reset();
  return result;
}

Status KvStore::Write(rocksdb::WriteBatch* batch, bool sync) {
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  return FromRocks(db_->Write(wo, batch), "writing batch");
}

Status KvStore::Get(Cf cf, std::string_view key, std::string* value) const {
  return FromRocks(db_->Get(rocksdb::ReadOptions(), handle(cf), key, value), "reading key");
}

std::unique_ptr<BoundedIterator> KvStore::NewIterator(Cf cf, std::string lower,
                                                      std::string upper,
                                                      bool fill_cache) const {
  return std::make_unique<BoundedIterator>(db_.get(), handle(cf), std::move(lower),
                                           std::move(upper), fill_cache);
}

Status KvStore::Flush() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  std::vector<rocksdb::ColumnFamilyHandle*> hs(handles_, handles_ + 3);
  return FromRocks(db_->Flush(fo, hs), "flushing memtables");
}

Status KvStore::CompactAll() {
  MRLDB_RETURN_IF_ERROR(Flush());
  for (auto* h : handles_) {
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    MRLDB_RETURN_IF_ERROR(FromRocks(db_->CompactRange(co, h, nullptr, nullptr), "compacting"));
  }
  return Status::Ok();
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
