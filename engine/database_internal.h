// Opening a database with storage hooks: tests and fault harnesses inject a file system that
// fails on cue (tests/storage/fault_fs.h). Database::Open is OpenDatabase with the defaults.
#pragma once

#include <memory>
#include <string>

#include "mrldb/database.h"
#include "storage/kv_store.h"

namespace mrldb {

Result<std::unique_ptr<Database>> OpenDatabase(const std::string& path,
                                               const DatabaseOptions& options,
                                               const storage::StorageHooks& hooks);

}  // namespace mrldb
