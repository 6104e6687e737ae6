// Select lists (and RETURNING lists) bound to a collection's columns: the result columns and,
// per column, what a row shows there. Shared by SELECT and by INSERT/UPDATE/DELETE RETURNING.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "mrldb/session.h"
#include "mrldb/types.h"
#include "query/ast.h"

namespace mrldb::query {

CellType TypeOf(AttrType t);
Cell ToCell(const Value& v);
Cell KeyCell(const Key& k);

// One output column: what it shows.
struct Output {
  enum Kind { kId, kAttr, kVector, kDistance, kQueryIndex } kind;
  int attr = -1;
  uint32_t dims = 0;  // kVector
};

struct Projection {
  std::vector<ResultColumn> columns;
  std::vector<Output> outputs;
  uint32_t vector_dims = 0;  // the longest vector prefix asked for
};

// Binds `items`: `search` allows distance, `matrix` query_index. Aggregates are an error here
// (the grouped path binds them). Errors are positioned at the item.
Result<Projection> Project(std::span<const SelectItem> items, const CollectionSpec& spec,
                           bool search, bool matrix);
// A row of the projection. `vec` holds at least p.vector_dims values.
std::vector<Cell> MakeRow(const Projection& p, const Key& id, const std::vector<Value>& attrs,
                          const std::vector<float>& vec, float distance, int64_t query_index);

}  // namespace mrldb::query
