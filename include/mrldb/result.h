// The vocabulary of statements' results and parameters, shared by every front-end: a Session
// (mrldb/session.h) returns ResultSets, a Client (mrldb/client.h) receives them over the wire.
// Implemented in the mrldb_api library (api/), with Status and the types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mrldb/status.h"

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

// "ERROR:  <message>" and, when the status has a position, the statement's line with a caret
// under the offending column (as psql and sqlite3 print them).
std::string FormatError(std::string_view sql, const Status& status);

}  // namespace mrldb
