// Binding: turning AST expressions into engine values, vectors, filters and plans, with errors
// that carry the position of the offending expression.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mrldb/filter.h"
#include "mrldb/search.h"
#include "mrldb/session.h"
#include "mrldb/types.h"
#include "query/ast.h"

namespace mrldb::query {

// InvalidArgument(message) positioned at `pos`.
Status ErrorAt(const Position& pos, std::string message);

// A scalar literal or scalar parameter. Errors: a vector, a column reference, a predicate.
Result<Value> BindValue(const Expr& e, std::span<const Param> params);
// A vector literal or vector parameter of exactly `dim` finite values (dim 0: any length).
Result<std::vector<float>> BindVector(const Expr& e, std::span<const Param> params, uint32_t dim);
// True when `e` is a matrix literal or a matrix parameter.
bool IsMatrix(const Expr& e, std::span<const Param> params);
Result<QueryMatrix> BindMatrix(const Expr& e, std::span<const Param> params, uint32_t dim);
// A WHERE predicate over attribute columns and the id column.
Result<Filter> BindFilter(const Expr& e, std::span<const Param> params, const CollectionSpec& spec);
Result<SearchPlan> BindPlan(const PlanSpec& p);
// `collection "c" has no column "x"` at `pos`, with a "did you mean" when a column is near.
Status NoSuchColumn(const Position& pos, const CollectionSpec& spec, std::string_view column);
// The ids a WHERE clause pins down, so that rows are read by id and not scanned: `id = v`,
// `id IN (v, ...)`, or an AND of conditions with one of those (the first). NULLs match no row
// and are left out. Unset when the clause does not pin the id. REQUIRES: BindFilter accepted `e`.
std::optional<std::vector<Key>> PointKeys(const Expr& e, std::span<const Param> params,
                                          const CollectionSpec& spec);
// Case-insensitive name equality.
bool SameName(std::string_view a, std::string_view b);
// A key of the collection's id type from a value. Errors name the column and the value.
Result<Key> ValueToKey(const Value& v, const CollectionSpec& spec, const Position& pos);

}  // namespace mrldb::query
