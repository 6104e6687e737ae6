// Opening a database with storage hooks: tests and fault harnesses inject a file system that
// fails on cue (tests/storage/fault_fs.h). Database::Open is OpenDatabase with the defaults.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "mrldb/database.h"
#include "storage/kv_store.h"

namespace mrldb {

class Collection;

// Database::Backup's work, with no collection created or dropped meanwhile (the caller's lock):
// the collections' graphs, then a RocksDB checkpoint of `kv`, into the new directory `dir`;
// `progress` (may be empty) gets the graph bytes copied and cancels with false. On any error the
// partial copy is removed.
Status BackupDatabase(const std::string& dir, std::span<Collection* const> collections,
                      storage::KvStore* kv, const std::function<bool(uint64_t)>& progress);

Result<std::unique_ptr<Database>> OpenDatabase(const std::string& path,
                                               const DatabaseOptions& options,
                                               const storage::StorageHooks& hooks);

}  // namespace mrldb
