// BoundFilter: a Filter checked against a collection's columns and compiled for evaluation over
// the in-memory attribute columns.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/row_keys.h"
#include "mrldb/filter.h"
#include "mrldb/status.h"
#include "mrldb/types.h"

namespace mrldb {

class BoundFilter {
 public:
  // Errors: InvalidArgument naming the unknown column or the mismatched types, or for a filter
  // nested more than kMaxDepth levels of AND/OR/NOT (binding and evaluation recurse per level;
  // a chain of one operator is one level however long).
  static Result<BoundFilter> Bind(const Filter& filter, const CollectionSpec& spec);

  // True when row `row` matches; NULL comparisons are unknown, and unknown does not match.
  // `columns` is [column][row]; `keys` the primary keys by row.
  bool Matches(const std::vector<std::vector<Value>>& columns, const RowKeys& keys,
               uint64_t row) const {
    return Eval(root_, columns, keys, row) == Tri::kTrue;
  }

 private:
  enum class Tri : uint8_t { kFalse, kTrue, kUnknown };
  struct Node {
    Filter::Op op;
    int column = -1;
    AttrType type = AttrType::kText;
    std::vector<Value> values;  // literals converted to the column's type
    std::vector<Node> children;
  };
  static Result<Node> BindNode(const Filter& f, const CollectionSpec& spec, int depth);
  static Tri Eval(const Node& n, const std::vector<std::vector<Value>>& columns,
                  const RowKeys& keys, uint64_t row);
  static constexpr int kIdColumn = -2;
 public:
  static constexpr int kMaxDepth = 1024;
 private:
  Node root_;
};

}  // namespace mrldb
