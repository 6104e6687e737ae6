#include "query/listing.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "query/binder.h"

namespace mrldb::query {
namespace {

constexpr int kId = CollectionSpec::kIdColumn;

// -1, 0, 1 for two non-NULL values of one column (INT and FLOAT numerically).
int CompareValues(const Value& a, const Value& b) {
  if (a.index() == 1 && b.index() == 1) {
    const int64_t x = std::get<int64_t>(a), y = std::get<int64_t>(b);
    return x < y ? -1 : x > y;
  }
  if ((a.index() == 1 || a.index() == 2) && (b.index() == 1 || b.index() == 2)) {
    const double x = a.index() == 1 ? double(std::get<int64_t>(a)) : std::get<double>(a);
    const double y = b.index() == 1 ? double(std::get<int64_t>(b)) : std::get<double>(b);
    return x < y ? -1 : x > y;
  }
  if (a.index() == 3 && b.index() == 3) return int(std::get<bool>(a)) - int(std::get<bool>(b));
  if (a.index() == 4 && b.index() == 4) {
    const int c = std::get<std::string>(a).compare(std::get<std::string>(b));
    return c < 0 ? -1 : c > 0;
  }
  return int(a.index()) - int(b.index());
}

// NULL before every value: the order of GROUP BY groups.
struct ValuesLess {
  bool operator()(const std::vector<Value>& a, const std::vector<Value>& b) const {
    for (size_t i = 0; i < a.size(); ++i) {
      const bool an = a[i].index() == 0, bn = b[i].index() == 0;
      if (an || bn) {
        if (an != bn) return an;
        continue;
      }
      if (int c = CompareValues(a[i], b[i]); c != 0) return c < 0;
    }
    return false;
  }
};

// Sorts by `keys`, each reading its value through `get(row, column)`; ties keep their order.
template <typename Row, typename Get>
void SortRows(std::vector<Row>& rows, const std::vector<BoundListing::Sort>& keys, Get get) {
  if (keys.empty()) return;
  std::stable_sort(rows.begin(), rows.end(), [&](const Row& x, const Row& y) {
    for (const BoundListing::Sort& k : keys) {
      const Value a = get(x, k.column), b = get(y, k.column);
      const bool an = a.index() == 0, bn = b.index() == 0;
      if (an || bn) {
        if (an == bn) continue;
        return an == k.nulls_first;
      }
      const int c = CompareValues(a, b);
      if (c != 0) return k.descending ? c > 0 : c < 0;
    }
    return false;
  });
}

Value KeyValue(const Key& k) {
  if (const auto* i = std::get_if<int64_t>(&k)) return Value{*i};
  return Value{std::get<std::string>(k)};
}

Value ColumnValue(const Record& r, int column) {
  return column == kId ? KeyValue(r.id) : r.attributes[column];
}

Value CellValue(const Cell& c) {
  switch (c.index()) {
    case 1: return Value{std::get<int64_t>(c)};
    case 2: return Value{std::get<double>(c)};
    case 3: return Value{std::get<bool>(c)};
    case 4: return Value{std::get<std::string>(c)};
    default: return Value{};
  }
}

// An attribute's index or kId for `name`; errors at `pos` name what is wrong.
Result<int> ScalarColumn(const std::string& name, const Position& pos, const CollectionSpec& spec,
                         std::string_view what) {
  if (SameName(name, spec.id_column)) return kId;
  if (int c = spec.AttributeIndex(name); c >= 0) return c;
  if (SameName(name, spec.vector_column)) {
    return ErrorAt(pos, fmt::format("cannot {} the vector column \"{}\"{}", what, name,
                                    what == "order by" ? fmt::format(" (a search orders by {} "
                                                                     "<=> [...])", name)
                                                       : std::string()));
  }
  return query::NoSuchColumn(pos, spec, name);
}

AttrType ColumnType(int column, const CollectionSpec& spec) {
  if (column != kId) return spec.attributes[column].type;
  return spec.id_type == IdType::kBigint ? AttrType::kInt : AttrType::kText;
}

constexpr std::string_view kAggregateNames[] = {"count", "count", "min", "max", "sum", "avg"};

Status BindGrouped(const Select& s, const CollectionSpec& spec, BoundListing* b) {
  for (const NamePos& g : s.group_by) {
    MRLDB_ASSIGN_OR_RETURN(int c, ScalarColumn(g.name, g.pos, spec, "group by"));
    b->group_columns.push_back(c);
  }
  for (const SelectItem& item : s.items) {
    BoundListing::GroupOutput out;
    std::string name = item.alias.value_or("");
    CellType type = CellType::kBigint;
    if (item.kind == SelectItem::Kind::kAggregate) {
      out.aggregate = item.aggregate;
      if (item.aggregate != Aggregate::kCountStar) {
        MRLDB_ASSIGN_OR_RETURN(out.column, ScalarColumn(item.column, item.pos, spec, "aggregate"));
        const AttrType t = ColumnType(out.column, spec);
        const bool numeric = t == AttrType::kInt || t == AttrType::kFloat;
        if ((item.aggregate == Aggregate::kSum || item.aggregate == Aggregate::kAvg) && !numeric) {
          return ErrorAt(item.pos, fmt::format("{} needs an INT or FLOAT column; \"{}\" is {}",
                                               item.aggregate == Aggregate::kSum ? "SUM" : "AVG",
                                               item.column, AttrTypeName(t)));
        }
        if (item.aggregate == Aggregate::kMin || item.aggregate == Aggregate::kMax ||
            item.aggregate == Aggregate::kSum) {
          type = TypeOf(t);
        }
        if (item.aggregate == Aggregate::kAvg) type = CellType::kFloat;
      }
      if (name.empty()) name = kAggregateNames[static_cast<int>(item.aggregate)];
    } else if (item.kind == SelectItem::Kind::kColumn) {
      for (size_t g = 0; g < s.group_by.size(); ++g) {
        if (SameName(item.column, s.group_by[g].name)) out.group = static_cast<int>(g);
      }
      if (out.group < 0) {
        return ErrorAt(item.pos, fmt::format("column \"{}\" must appear in GROUP BY or be used "
                                             "in an aggregate", item.column));
      }
      type = TypeOf(ColumnType(b->group_columns[out.group], spec));
      if (name.empty()) name = item.column;
    } else {
      return ErrorAt(item.pos, "a grouped select lists GROUP BY columns and aggregates only");
    }
    b->outputs.push_back(out);
    b->columns.push_back({std::move(name), type});
  }
  for (const SortKey& k : s.sort_keys) {
    int found = -1;
    for (size_t i = 0; i < b->columns.size(); ++i) {
      if (SameName(b->columns[i].name, k.column)) found = static_cast<int>(i);
    }
    if (found < 0) {
      return ErrorAt(k.pos, fmt::format("ORDER BY \"{}\" is not a column of the grouped result "
                                        "(order by a listed GROUP BY column or an aggregate's "
                                        "name)", k.column));
    }
    b->sort.push_back({found, k.descending, k.nulls_first.value_or(k.descending)});
  }
  return Status::Ok();
}

// One group's running aggregates.
struct Accumulator {
  int64_t count = 0;
  int64_t int_sum = 0;
  double sum = 0;
  bool overflow = false;
  Value best;  // MIN / MAX so far
};

}  // namespace

Result<FindOptions> RowSource(const ExprPtr& where, std::span<const Param> params,
                              const CollectionSpec& spec) {
  FindOptions find;
  if (!where) return find;
  MRLDB_ASSIGN_OR_RETURN(find.filter, BindFilter(*where, params, spec));
  find.ids = PointKeys(*where, params, spec);
  return find;
}

std::string AccessPath(const FindOptions& find, const CollectionSpec& spec, uint64_t live_rows) {
  std::string out = find.ids ? fmt::format("point read of {} id{} on {}", find.ids->size(),
                                           find.ids->size() == 1 ? "" : "s", spec.name)
                             : fmt::format("scan of {} ({} rows)", spec.name, live_rows);
  if (find.filter) out += ", filter " + find.filter->ToString();
  return out;
}

Result<BoundListing> BindListing(const Select& s, std::span<const Param> params,
                                 const CollectionSpec& spec) {
  BoundListing b;
  MRLDB_ASSIGN_OR_RETURN(b.find, RowSource(s.where, params, spec));
  b.grouped = !s.group_by.empty() ||
              std::any_of(s.items.begin(), s.items.end(), [](const SelectItem& i) {
                return i.kind == SelectItem::Kind::kAggregate;
              });
  b.offset = s.offset.value_or(0);
  b.limit = s.limit.value_or(0);
  if (b.grouped) {
    MRLDB_RETURN_IF_ERROR(BindGrouped(s, spec, &b));
    return b;
  }
  MRLDB_ASSIGN_OR_RETURN(b.projection, Project(s.items, spec, /*search=*/false, /*matrix=*/false));
  b.columns = b.projection.columns;
  b.find.vector_dims = b.projection.vector_dims;
  for (const SortKey& k : s.sort_keys) {
    MRLDB_ASSIGN_OR_RETURN(int c, ScalarColumn(k.column, k.pos, spec, "order by"));
    b.sort.push_back({c, k.descending, k.nulls_first.value_or(k.descending)});
  }
  if (b.sort.empty()) {  // rows stream in insertion order: Find skips and stops itself
    b.find.offset = b.offset;
    b.find.limit = b.limit;
  }
  return b;
}

std::vector<std::string> DescribeListing(const BoundListing& b, const CollectionSpec& spec,
                                         uint64_t live_rows) {
  std::vector<std::string> lines = {AccessPath(b.find, spec, live_rows)};
  if (b.grouped) {
    std::string keys;
    for (int c : b.group_columns) {
      keys += (keys.empty() ? "" : ", ") + (c == kId ? spec.id_column : spec.attributes[c].name);
    }
    lines.push_back(keys.empty() ? "  aggregate over all rows" : "  group by " + keys);
  }
  if (!b.sort.empty()) {
    std::string keys;
    for (const BoundListing::Sort& k : b.sort) {
      const std::string name = b.grouped ? b.columns[k.column].name
                                : k.column == kId ? spec.id_column
                                                  : spec.attributes[k.column].name;
      keys += fmt::format("{}{} {} NULLS {}", keys.empty() ? "" : ", ", name,
                          k.descending ? "DESC" : "ASC", k.nulls_first ? "FIRST" : "LAST");
    }
    lines.push_back("  sort by " + keys);
  }
  if (b.offset || b.limit) {
    lines.push_back(fmt::format("  offset {}, limit {}", b.offset,
                                b.limit ? std::to_string(b.limit) : std::string("all")));
  }
  return lines;
}

Result<ResultSet> RunListing(Database* db, const BoundListing& b, const CollectionSpec& spec) {
  MRLDB_ASSIGN_OR_RETURN(std::vector<Record> records, db->Find(spec.name, b.find));
  ResultSet r;
  r.columns = b.columns;
  if (!b.grouped) {
    SortRows(records, b.sort, ColumnValue);
    const bool slice = !b.sort.empty();  // else Find applied OFFSET and LIMIT
    const size_t first = slice ? std::min<uint64_t>(b.offset, records.size()) : 0;
    size_t end = records.size();
    if (slice && b.limit) end = std::min<uint64_t>(end, first + b.limit);
    for (size_t i = first; i < end; ++i) {
      const Record& rec = records[i];
      r.rows.push_back(MakeRow(b.projection, rec.id, rec.attributes, rec.vector, 0, 0));
    }
    r.tag = fmt::format("SELECT {}", r.rows.size());
    return r;
  }
  std::map<std::vector<Value>, std::vector<Accumulator>, ValuesLess> groups;
  if (b.group_columns.empty()) groups[{}].resize(b.outputs.size());  // one row even when empty
  for (const Record& rec : records) {
    std::vector<Value> key;
    for (int c : b.group_columns) key.push_back(ColumnValue(rec, c));
    std::vector<Accumulator>& accs = groups[std::move(key)];
    accs.resize(b.outputs.size());
    for (size_t i = 0; i < b.outputs.size(); ++i) {
      const BoundListing::GroupOutput& o = b.outputs[i];
      if (o.group >= 0) continue;
      Accumulator& a = accs[i];
      if (o.aggregate == Aggregate::kCountStar) {
        ++a.count;
        continue;
      }
      const Value v = ColumnValue(rec, o.column);
      if (v.index() == 0) continue;
      ++a.count;
      if (const auto* n = std::get_if<int64_t>(&v)) {
        a.overflow |= __builtin_add_overflow(a.int_sum, *n, &a.int_sum);
        a.sum += double(*n);
      } else if (const auto* d = std::get_if<double>(&v)) {
        a.sum += *d;
      }
      const bool better = a.best.index() == 0 ||
                          (o.aggregate == Aggregate::kMin ? CompareValues(v, a.best) < 0
                                                          : CompareValues(v, a.best) > 0);
      if (better) a.best = v;
    }
  }
  for (const auto& [key, accs] : groups) {
    std::vector<Cell> row;
    for (size_t i = 0; i < b.outputs.size(); ++i) {
      const BoundListing::GroupOutput& o = b.outputs[i];
      const Accumulator& a = accs[i];
      if (o.group >= 0) {
        row.push_back(ToCell(key[o.group]));
      } else if (o.aggregate == Aggregate::kCountStar || o.aggregate == Aggregate::kCount) {
        row.push_back(Cell{a.count});
      } else if (a.count == 0) {
        row.push_back(Cell{});
      } else if (o.aggregate == Aggregate::kMin || o.aggregate == Aggregate::kMax) {
        row.push_back(ToCell(a.best));
      } else if (o.aggregate == Aggregate::kAvg) {
        row.push_back(Cell{a.sum / double(a.count)});
      } else if (b.columns[i].type == CellType::kBigint) {
        if (a.overflow) {
          return Status::InvalidArgument(fmt::format("SUM of \"{}\" is out of range for BIGINT",
                                                     b.columns[i].name));
        }
        row.push_back(Cell{a.int_sum});
      } else {
        row.push_back(Cell{a.sum});
      }
    }
    r.rows.push_back(std::move(row));
  }
  SortRows(r.rows, b.sort, [](const std::vector<Cell>& row, int c) { return CellValue(row[c]); });
  const size_t first = std::min<uint64_t>(b.offset, r.rows.size());
  size_t end = r.rows.size();
  if (b.limit) end = std::min<uint64_t>(end, first + b.limit);
  r.rows = std::vector<std::vector<Cell>>(r.rows.begin() + first, r.rows.begin() + end);
  r.tag = fmt::format("SELECT {}", r.rows.size());
  return r;
}

}  // namespace mrldb::query
