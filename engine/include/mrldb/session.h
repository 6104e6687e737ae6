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

namespace mrldb {

// A result cell: SQL NULL, BIGINT/INT, FLOAT, BOOL, TEXT, or a vector.
using Cell = std::variant<std::monostate, int64_t, double, bool, std::string, std::vector<float>>;
enum class CellType : uint8_t { kBigint = 1, kFloat = 2, kBool = 3, kText = 4, kVector = 5 };
std::string_view CellTypeName(CellType t);  // "BIGINT", "FLOAT", "BOOL", "TEXT", "VECTOR"

struct ResultColumn {
  std::string name;
  CellType type = CellType::kText;
};

struct ResultSet {
  std::vector<ResultColumn> columns;  // empty for statements that return no rows
  std::vector<std::vector<Cell>> rows;
  // Command tag, as psql prints: "CREATE COLLECTION", "INSERT 3", "DELETE 2", "SELECT 10" ...
  std::string tag;
  uint64_t rows_affected = 0;
};

// A matrix parameter: a batch of query vectors (row-major rows x dim).
struct QueryMatrix {
  size_t rows = 0;
  uint32_t dim = 0;
  std::vector<float> values;
};
// A bound parameter ($1, $2 ...): a scalar, a vector, or a matrix.
using Param = std::variant<std::monostate, int64_t, double, bool, std::string, std::vector<float>,
                           QueryMatrix>;

struct CopyProgress {
  uint64_t rows_done = 0;
  std::optional<uint64_t> rows_total;  // when the file says (npy, fvecs) or on COPY TO
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

// "ERROR:  <message>" and, when the status has a position, the statement's line with a caret
// under the offending column (as psql and sqlite3 print them).
std::string FormatError(std::string_view sql, const Status& status);

}  // namespace mrldb
