#include "query/projection.h"

#include <algorithm>

#include <fmt/format.h>

#include "query/binder.h"

namespace mrldb::query {

CellType TypeOf(AttrType t) {
  switch (t) {
    case AttrType::kInt: return CellType::kBigint;
    case AttrType::kFloat: return CellType::kFloat;
    case AttrType::kBool: return CellType::kBool;
    case AttrType::kText: return CellType::kText;
  }
  return CellType::kText;
}

Cell ToCell(const Value& v) {
  switch (v.index()) {
    case 1: return Cell{std::get<int64_t>(v)};
    case 2: return Cell{std::get<double>(v)};
    case 3: return Cell{std::get<bool>(v)};
    case 4: return Cell{std::get<std::string>(v)};
    default: return Cell{};
  }
}

Cell KeyCell(const Key& k) {
  if (const auto* i = std::get_if<int64_t>(&k)) return Cell{*i};
  return Cell{std::get<std::string>(k)};
}

Result<Projection> Project(std::span<const SelectItem> items, const CollectionSpec& spec,
                           bool search, bool matrix) {
  Projection p;
  auto add = [&](std::string name, CellType t, Output o) {
    p.columns.push_back({std::move(name), t});
    if (o.kind == Output::kVector) p.vector_dims = std::max(p.vector_dims, o.dims);
    p.outputs.push_back(o);
  };
  const CellType id_type = spec.id_type == IdType::kBigint ? CellType::kBigint : CellType::kText;
  for (const SelectItem& item : items) {
    const std::string alias = item.alias.value_or("");
    switch (item.kind) {
      case SelectItem::Kind::kStar:
        for (int c : spec.ColumnOrder()) {  // as CREATE declared them
          if (c == CollectionSpec::kIdColumn) {
            add(spec.id_column, id_type, {Output::kId});
          } else if (c == CollectionSpec::kVectorColumn) {
            add(spec.vector_column, CellType::kVector, {Output::kVector, -1, spec.dim});
          } else {
            add(spec.attributes[c].name, TypeOf(spec.attributes[c].type), {Output::kAttr, c});
          }
        }
        if (search) add("distance", CellType::kFloat, {Output::kDistance});
        break;
      case SelectItem::Kind::kDistance:
        if (!search) {
          return ErrorAt(item.pos, fmt::format("distance needs ORDER BY {} <=> [...]",
                                               spec.vector_column));
        }
        add(alias.empty() ? "distance" : alias, CellType::kFloat, {Output::kDistance});
        break;
      case SelectItem::Kind::kAggregate:
        return ErrorAt(item.pos, search ? "an aggregate cannot be computed over a vector search's "
                                          "hits (aggregate a listing: SELECT COUNT(*) FROM c ...)"
                                        : "an aggregate is not allowed here");
      case SelectItem::Kind::kQueryIndex:
        if (!matrix) return ErrorAt(item.pos, "query_index needs a matrix of query vectors");
        add(alias.empty() ? "query_index" : alias, CellType::kBigint, {Output::kQueryIndex});
        break;
      case SelectItem::Kind::kVectorPrefix:
      case SelectItem::Kind::kColumn: {
        const std::string name = alias.empty() ? item.column : alias;
        if (SameName(item.column, spec.vector_column)) {
          uint32_t dims = spec.dim;
          if (item.kind == SelectItem::Kind::kVectorPrefix) {
            if (item.prefix_dims < 1 || item.prefix_dims > spec.dim) {
              return ErrorAt(item.pos, fmt::format("prefix of {} dims is outside 1..{}",
                                                   item.prefix_dims, spec.dim));
            }
            dims = item.prefix_dims;
          }
          add(name, CellType::kVector, {Output::kVector, -1, dims});
        } else if (item.kind == SelectItem::Kind::kVectorPrefix) {
          return ErrorAt(item.pos, fmt::format("\"{}\" is not the vector column", item.column));
        } else if (SameName(item.column, spec.id_column)) {
          add(name, id_type, {Output::kId});
        } else if (int c = spec.AttributeIndex(item.column); c >= 0) {
          add(name, TypeOf(spec.attributes[c].type), {Output::kAttr, c});
        } else {
          return NoSuchColumn(item.pos, spec, item.column);
        }
        break;
      }
    }
  }
  return p;
}

std::vector<Cell> MakeRow(const Projection& p, const Key& id, const std::vector<Value>& attrs,
                          const std::vector<float>& vec, float distance, int64_t query_index) {
  std::vector<Cell> row;
  row.reserve(p.outputs.size());
  for (const Output& o : p.outputs) {
    switch (o.kind) {
      case Output::kId: row.push_back(KeyCell(id)); break;
      case Output::kAttr: row.push_back(ToCell(attrs[o.attr])); break;
      case Output::kVector: row.push_back(Cell{std::vector<float>(vec.begin(), vec.begin() + o.dims)}); break;
      case Output::kDistance: row.push_back(Cell{double{distance}}); break;
      case Output::kQueryIndex: row.push_back(Cell{query_index}); break;
    }
  }
  return row;
}

}  // namespace mrldb::query
