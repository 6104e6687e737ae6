// What the shell runs statements against: a local database (an embedded Session) or a server
// (mrldb::Client). Both give the same ResultSet and Status, so everything above this interface,
// printing, errors with a caret, progress bars and Ctrl-C, is one piece of code.
#pragma once

#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <string_view>

#include "mrldb/session.h"

namespace mrldb::shell {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Result<ResultSet> Execute(std::string_view sql) = 0;
  // Asks the running Execute to stop; called from another thread while Execute runs.
  virtual void Cancel() = 0;
  // "database './mrldb-data'" or "server 127.0.0.1:7733", for the banner.
  virtual std::string Where() const = 0;
  // Closes the database (flushing) or the connection; Execute must not be called after.
  virtual Status Close() = 0;
  // The local Database, or nullptr for a remote backend (\gpu and demo need a local one).
  virtual Database* local() { return nullptr; }
  // A server's COPY ... FROM STDIN / TO STDOUT with this machine's files (\copy; see
  // Client::CopyFrom and CopyTo). A local backend runs COPY on the files themselves instead
  // (NotSupported here).
  virtual Result<ResultSet> CopyFrom(std::string_view sql, const std::string& path,
                                     const std::string& ids_path);
  virtual Result<ResultSet> CopyTo(std::string_view sql, const std::string& path,
                                   const std::string& ids_path, bool overwrite);
};

using ProgressFn = std::function<bool(const CopyProgress&)>;

// Opens (creating when missing) the database at `path`.
// `background`: DatabaseOptions::auto_tune and the background vacuum (the shell turns both off
// for -c/-f/stdin runs: a background tune or vacuum would be cancelled at exit, and its log lines
// would reach a script's stderr; a script runs VACUUM itself where it wants one).
// `memory_budget`, `storage_read_depth`: DatabaseOptions::memory_budget_bytes and
// ::storage_read_depth.
Result<std::unique_ptr<Backend>> OpenLocal(const std::string& path, ProgressFn progress,
                                           bool background = true,
                                           std::optional<uint64_t> memory_budget = {},
                                           unsigned storage_read_depth = 0);
// Connects to `mrldb serve` at "HOST:PORT" (shell/remote_backend.cc); `token` may be empty.
Result<std::unique_ptr<Backend>> Connect(const std::string& address, const std::string& token,
                                         ProgressFn progress);

}  // namespace mrldb::shell
