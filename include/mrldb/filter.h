// Filter: a predicate over a collection's attribute columns, with SQL semantics.
//
// Comparisons with NULL are unknown, unknown is not a match, NOT unknown is unknown (three-valued
// logic, as in SQL). INT and FLOAT compare numerically with each other; TEXT compares bytewise;
// BOOL compares false < true. A comparison between a TEXT column and a number (or the like) is an
// InvalidArgument error when the search binds the filter, never a silent false.
#pragma once

#include <string>
#include <vector>

#include "mrldb/types.h"

namespace mrldb {

class Filter {
 public:
  enum class Op : uint8_t {
    kEq, kNe, kLt, kLe, kGt, kGe, kIn, kIsNull, kIsNotNull, kAnd, kOr, kNot, kLike, kILike
  };

  static Filter Eq(std::string column, Value v) { return Compare(Op::kEq, std::move(column), std::move(v)); }
  static Filter Ne(std::string column, Value v) { return Compare(Op::kNe, std::move(column), std::move(v)); }
  static Filter Lt(std::string column, Value v) { return Compare(Op::kLt, std::move(column), std::move(v)); }
  static Filter Le(std::string column, Value v) { return Compare(Op::kLe, std::move(column), std::move(v)); }
  static Filter Gt(std::string column, Value v) { return Compare(Op::kGt, std::move(column), std::move(v)); }
  static Filter Ge(std::string column, Value v) { return Compare(Op::kGe, std::move(column), std::move(v)); }
  static Filter In(std::string column, std::vector<Value> values);
  // SQL LIKE on a TEXT column: '%' matches any run of characters, '_' one character (a UTF-8
  // code point), a backslash makes the next character literal. ILike folds ASCII letters only.
  static Filter Like(std::string column, std::string pattern);
  static Filter ILike(std::string column, std::string pattern);
  static Filter IsNull(std::string column);
  static Filter IsNotNull(std::string column);
  static Filter And(std::vector<Filter> children);
  static Filter Or(std::vector<Filter> children);
  static Filter Not(Filter child);

  Op op() const { return op_; }
  const std::string& column() const { return column_; }
  const std::vector<Value>& values() const { return values_; }
  const std::vector<Filter>& children() const { return children_; }

  // SQL-like text: (year >= 2020 AND title IN ('a', 'b')).
  std::string ToString() const;

  // OK when the filter binds against `spec`: its columns exist and its values can be compared
  // with their types (the check every search and scan makes before it runs); else
  // InvalidArgument saying what does not fit.
  Status Check(const CollectionSpec& spec) const;

 private:
  static Filter Compare(Op op, std::string column, Value v);
  Op op_ = Op::kAnd;
  std::string column_;
  std::vector<Value> values_;
  std::vector<Filter> children_;
};

}  // namespace mrldb
