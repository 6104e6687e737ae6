// The text forms of the session vocabulary that every front-end prints (the shell, remote
// clients): column type names and errors with a caret. In mrldb_api so that a client linking
// only mrldb_client + mrldb_api has them too.
#include <fmt/format.h>

#include "mrldb/result.h"

namespace mrldb {

std::string_view CellTypeName(CellType t) {
  switch (t) {
    case CellType::kBigint: return "BIGINT";
    case CellType::kFloat: return "FLOAT";
    case CellType::kBool: return "BOOL";
    case CellType::kText: return "TEXT";
    case CellType::kVector: return "VECTOR";
  }
  return "?";
}

std::string FormatError(std::string_view sql, const Status& status) {
  std::string out = "ERROR:  " + status.message();
  if (status.line() == 0) return out;
  // The statement's line holding the error, and a caret under the column.
  size_t start = 0;
  for (uint32_t l = 1; l < status.line() && start < sql.size(); ++l) {
    size_t nl = sql.find('\n', start);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  size_t end = sql.find('\n', start);
  std::string_view line = sql.substr(start, end == std::string_view::npos ? sql.size() - start : end - start);
  std::string prefix = fmt::format("LINE {}: ", status.line());
  out += "\n" + prefix + std::string(line) + "\n";
  out += std::string(prefix.size() + (status.column() > 0 ? status.column() - 1 : 0), ' ') + "^";
  return out;
}

}  // namespace mrldb
