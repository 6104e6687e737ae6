// BACKUP TO: a consistent copy of a database in a new directory (docs/sql.md, "BACKUP").
#include <filesystem>

#include <fmt/format.h>

#include "engine/collection.h"
#include "engine/database_internal.h"

namespace mrldb {

Status BackupDatabase(const std::string& dir, std::span<Collection* const> collections,
                      storage::KvStore* kv, const std::function<bool(uint64_t)>& progress) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path target(dir), parent = fs::absolute(target, ec).parent_path();
  if (dir.empty()) return Status::InvalidArgument("BACKUP needs a directory name");
  if (fs::exists(target, ec)) {
    return Status::InvalidArgument(fmt::format("'{}' exists; a backup goes to a new directory", dir));
  }
  if (!fs::is_directory(parent, ec)) {
    return Status::InvalidArgument(fmt::format("the directory '{}' (where '{}' would go) does not exist",
                                               parent.string(), dir));
  }
  // The graphs first, then the rows: a graph may then only lag the rows it is saved with,
  // never lead them, and the open of the copy replays the lag as after a crash.
  const fs::path staging = parent / (target.filename().string() + ".mrldb-backup-graphs");
  struct Cleanup {
    const fs::path &staging, &target;
    bool done = false;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(staging, e);
      if (!done) fs::remove_all(target, e);
    }
  } cleanup{staging, target};
  fs::remove_all(staging, ec);
  uint64_t bytes = 0;
  for (Collection* c : collections) {
    MRLDB_RETURN_IF_ERROR(c->CopyIndexFiles(fmt::format("{}/hnsw/{}.hnsw", staging.string(), c->cid()), &bytes));
    if (progress && !progress(bytes)) return Status::Cancelled("BACKUP cancelled; nothing was written");
  }
  MRLDB_RETURN_IF_ERROR(kv->Checkpoint(dir));
  if (fs::exists(staging / "hnsw", ec)) {
    fs::rename(staging / "hnsw", target / "hnsw", ec);
    if (ec) return Status::IOError(fmt::format("cannot move the graphs into '{}': {}", dir, ec.message()));
  }
  cleanup.done = true;
  return Status::Ok();
}

}  // namespace mrldb
