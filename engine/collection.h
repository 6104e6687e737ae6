// Collection: one collection's in-memory state (ids, attributes, column cache) over its rows in
// storage, and the write and read paths that keep the two in step.
//
// Thread safety: every public method may be called concurrently. Writes take mu_ exclusively
// for validation against stored ids, the RocksDB write, and the in-memory update; reads take it
// shared, so a reader sees a batch entirely or not at all.
#pragma once

#include <cstdint>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/column_cache.h"
#include "engine/thread_pool.h"
#include "mrldb/database.h"
#include "storage/catalog.h"
#include "storage/kv_store.h"
#include "storage/ladder.h"

namespace mrldb {

struct KeyHash {
  size_t operator()(const Key& k) const;
};

class Collection {
 public:
  Collection(storage::CollectionDescriptor desc, storage::KvStore* kv, ThreadPool* pool);

  // Reads ids, attributes and every vector block from storage into memory.
  // Errors: Corruption when storage does not hold together.
  Status Load();

  const CollectionSpec& spec() const { return desc_.spec; }
  uint32_t cid() const { return desc_.cid; }
  CollectionInfo Info() const;

  Status Write(const InsertBatch& batch, bool upsert, bool sync);
  Result<uint64_t> Delete(std::span<const Key> ids, bool sync);
  Result<Record> Get(const Key& id, uint32_t dims) const;
  Result<std::vector<Hit>> ExactSearch(std::span<const float> query,
                                       const ExactSearchOptions& options) const;
  Result<ScanStats> ScanPrefix(uint32_t dims, Database::ScanSink sink, void* ctx) const;

 private:
  // Checks one row of a batch and returns its attributes converted to the column types.
  Status ValidateRow(const InsertBatch& batch, size_t i, std::vector<Value>* attrs) const;
  Status CheckKeyType(const Key& key, std::string_view what) const;
  std::string Where(const InsertBatch& batch, size_t i) const;

  const storage::CollectionDescriptor desc_;
  const storage::Ladder ladder_;
  storage::KvStore* const kv_;
  ThreadPool* const pool_;

  mutable std::shared_mutex mu_;
  uint64_t next_row_ = 0;                                   // GUARDED_BY(mu_)
  uint64_t live_rows_ = 0;                                  // GUARDED_BY(mu_)
  std::vector<Key> keys_;                                   // GUARDED_BY(mu_) by row id
  std::vector<uint8_t> live_;                               // GUARDED_BY(mu_) by row id
  std::vector<std::vector<Value>> attrs_;                   // GUARDED_BY(mu_) [column][row]
  std::unordered_map<Key, uint64_t, KeyHash> index_;        // GUARDED_BY(mu_) id -> row
  ColumnCache cache_;                                       // GUARDED_BY(mu_)
};

}  // namespace mrldb
