// mrldb::Session: runs statements of mrldb's SQL-like language (docs/sql.md) against a Database.
// The shell, the TCP server and applications all execute SQL through a Session; each client
// connection has its own (settings are per session).
//
// Thread safety: a Session is used by one thread at a time; many Sessions may share a Database.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mrldb/database.h"
#include "mrldb/result.h"

namespace mrldb {

struct CopyProgress {
  uint64_t rows_done = 0;
  std::optional<uint64_t> rows_total;  // when the file says (npy, fvecs) or on COPY TO
};

// The two byte streams of a COPY over the wire: the data file, and for npy and fvecs (which hold
// vectors only) the ids file, one id per line (or, FROM STDIN, a .npy array of them).
enum class CopyPart : uint8_t { kData = 0, kIds = 1 };

// The client's end of COPY ... FROM STDIN and COPY ... TO STDOUT (docs/sql.md): whoever runs the
// Session passes the client's bytes through it (the server: COPY_DATA frames,
// docs/protocol.md). Called on the thread running Execute; the statement fails with the error a
// call returns.
class CopyChannel {
 public:
  virtual ~CopyChannel() = default;
  // COPY FROM STDIN, once the statement has checked itself: the client may send now. `format`:
  // "npy", "fvecs", "csv" or "jsonl"; `ids`: the ids part comes first, then the data part.
  virtual Status BeginIn(std::string_view format, bool ids) = 0;
  // Up to n bytes of `part` into dst; 0 at the part's end. Blocks until the client sends them.
  // Errors: the client gave the COPY up (its message), it left, or the statement was cancelled
  // (Status::Code::kCancelled).
  virtual Result<size_t> Read(CopyPart part, char* dst, size_t n) = 0;
  // COPY TO STDOUT: the data part follows, and with `ids` the ids part, interleaved with it.
  virtual Status BeginOut(std::string_view format, bool ids) = 0;
  // Sends bytes of `part`; blocks while the client is behind. Errors as for Read.
  virtual Status Write(CopyPart part, std::string_view bytes) = 0;
};

struct SessionOptions {
  // Called after every committed COPY batch, about every 20 ms while WAIT FOR INDEX waits
  // (rows_done: rows in the graph, rows_total: live rows), and after each slice of a VACUUM
  // (rows_done: rows gone through, rows_total: rows stored). Returning false stops the statement
  // (a COPY keeps the batches committed so far; the error says how many rows were committed).
  // Default: none.
  std::function<bool(const CopyProgress&)> progress;
  // When set, COPY may read and write only files inside this directory (checked after resolving
  // the real path, so "..", absolute paths and symbolic links cannot escape). Default: any path.
  std::optional<std::string> copy_dir;
  // When set, COPY with files is refused with this message (NotSupported, at the statement):
  // the server without --copy-dir says how to allow it. Default: none (COPY may use files,
  // within copy_dir when that is set).
  std::optional<std::string> copy_refused;
  // Rows per COPY FROM batch (each batch is one atomic write). Default: 10000.
  size_t copy_batch_rows = 10000;
  // Where COPY ... FROM STDIN reads and COPY ... TO STDOUT writes; not owned, must outlive the
  // Session. Default: none (those statements are refused with NotSupported).
  CopyChannel* copy_channel = nullptr;
  // The most bytes of ids a COPY ... FROM STDIN of npy or fvecs takes: they come before the
  // vectors and are held in memory (csv and jsonl carry an id per row and have no such limit).
  // Default: 256 MiB.
  size_t max_copy_ids_bytes = size_t{256} << 20;
};

class Session {
 public:
  explicit Session(Database* db, SessionOptions options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Parses and runs exactly one statement. Errors carry the line and column of the offending
  // token when there is one (Status::line/column), relative to `sql`.
  Result<ResultSet> Execute(std::string_view sql, std::span<const Param> params = {});
  // Runs the statements of a script one by one and stops at the first error; a statement is
  // parsed only once the one before it has run. Error positions are relative to `sql`.
  Result<std::vector<ResultSet>> ExecuteScript(std::string_view sql);

  // Session settings (SET/SHOW): "ef" (0 = plan default), "limit" (default LIMIT, 10),
  // "device" ('cpu', 'gpu' or 'auto'; default 'cpu'), "timing" (a flag front-ends read).
  Result<Cell> GetSetting(std::string_view name) const;

  // Asks a running statement to stop at its next check: COPY between batches (the batches
  // already committed stay), a batch search (matrix ORDER BY) between queries, TUNE between
  // measured queries (nothing stored), WAIT FOR INDEX between its checks (the build goes on),
  // VACUUM between slices and in its compaction (the slices done stay done).
  // The statement then fails with Status::Code::kCancelled.
  // Other statements run to completion. Safe from another thread or a signal handler.
  void Cancel();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrldb
