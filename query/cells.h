// Engine values as result cells (SELECT and PREDICT share them).
#pragma once

#include "mrldb/session.h"
#include "mrldb/types.h"

namespace mrldb::query {

inline CellType TypeOf(AttrType t) {
  switch (t) {
    case AttrType::kInt: return CellType::kBigint;
    case AttrType::kFloat: return CellType::kFloat;
    case AttrType::kBool: return CellType::kBool;
    case AttrType::kText: return CellType::kText;
  }
  return CellType::kText;
}

inline Cell ToCell(const Value& v) {
  switch (v.index()) {
    case 1: return Cell{std::get<int64_t>(v)};
    case 2: return Cell{std::get<double>(v)};
    case 3: return Cell{std::get<bool>(v)};
    case 4: return Cell{std::get<std::string>(v)};
    default: return Cell{};
  }
}

inline Cell KeyCell(const Key& k) {
  if (const auto* i = std::get_if<int64_t>(&k)) return Cell{*i};
  return Cell{std::get<std::string>(k)};
}

}  // namespace mrldb::query
