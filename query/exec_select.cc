// SELECT (searches and plain row listing) and EXPLAIN [ANALYZE].
#include <chrono>
#include <set>

#include <fmt/format.h>

#include "query/session_impl.h"

namespace mrldb {

using query::ErrorAt;

namespace {

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

Result<Projection> Project(const query::Select& s, const CollectionSpec& spec, bool search,
                           bool matrix) {
  Projection p;
  auto add = [&](std::string name, CellType t, Output o) {
    p.columns.push_back({std::move(name), t});
    if (o.kind == Output::kVector) p.vector_dims = std::max(p.vector_dims, o.dims);
    p.outputs.push_back(o);
  };
  const CellType id_type = spec.id_type == IdType::kBigint ? CellType::kBigint : CellType::kText;
  for (const query::SelectItem& item : s.items) {
    const std::string alias = item.alias.value_or("");
    switch (item.kind) {
      case query::SelectItem::Kind::kStar:
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
      case query::SelectItem::Kind::kDistance:
        if (!search) {
          return ErrorAt(item.pos, fmt::format("distance needs ORDER BY {} <=> [...]",
                                               spec.vector_column));
        }
        add(alias.empty() ? "distance" : alias, CellType::kFloat, {Output::kDistance});
        break;
      case query::SelectItem::Kind::kQueryIndex:
        if (!matrix) return ErrorAt(item.pos, "query_index needs a matrix of query vectors");
        add(alias.empty() ? "query_index" : alias, CellType::kBigint, {Output::kQueryIndex});
        break;
      case query::SelectItem::Kind::kVectorPrefix:
      case query::SelectItem::Kind::kColumn: {
        const std::string name = alias.empty() ? item.column : alias;
        if (query::SameName(item.column, spec.vector_column)) {
          uint32_t dims = spec.dim;
          if (item.kind == query::SelectItem::Kind::kVectorPrefix) {
            if (item.prefix_dims < 1 || item.prefix_dims > spec.dim) {
              return ErrorAt(item.pos, fmt::format("prefix of {} dims is outside 1..{}",
                                                   item.prefix_dims, spec.dim));
            }
            dims = item.prefix_dims;
          }
          add(name, CellType::kVector, {Output::kVector, -1, dims});
        } else if (item.kind == query::SelectItem::Kind::kVectorPrefix) {
          return ErrorAt(item.pos, fmt::format("\"{}\" is not the vector column", item.column));
        } else if (query::SameName(item.column, spec.id_column)) {
          add(name, id_type, {Output::kId});
        } else if (int c = spec.AttributeIndex(item.column); c >= 0) {
          add(name, TypeOf(spec.attributes[c].type), {Output::kAttr, c});
        } else {
          return ErrorAt(item.pos, fmt::format("collection \"{}\" has no column \"{}\"", spec.name,
                                               item.column));
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

}  // namespace

Result<ResultSet> Session::Impl::Select(const query::Select& s, const query::Position& pos,
                                        Params params, SearchStats* stats) {
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(s.collection, s.collection_pos));
  const query::Distance* order = nullptr;
  if (s.order_by) {
    order = std::get_if<query::Distance>(&s.order_by->node);
    if (!order) return ErrorAt(s.order_by->pos, "ORDER BY takes <vector column> <=> <vector>");
    const auto* col = std::get_if<query::ColumnRef>(&order->column->node);
    if (!col || !query::SameName(col->name, spec.vector_column)) {
      return ErrorAt(order->column->pos, fmt::format("ORDER BY must name the vector column \"{}\"",
                                                     spec.vector_column));
    }
    const bool mismatch = (order->op == query::DistanceOp::kL2 && spec.metric != Metric::kL2) ||
                          (order->op == query::DistanceOp::kInnerProduct &&
                           spec.metric != Metric::kInnerProduct);
    if (mismatch) {
      return ErrorAt(s.order_by->pos, fmt::format("collection \"{}\" uses the {} metric: order by "
                                                  "{} <=> [...]", spec.name, MetricName(spec.metric),
                                                  spec.vector_column));
    }
  } else if (s.plan) {
    return ErrorAt(s.plan->pos, "USING needs ORDER BY <vector column> <=> <vector>");
  }
  const bool matrix = order && query::IsMatrix(*order->vector, params);
  MRLDB_ASSIGN_OR_RETURN(Projection proj, Project(s, spec, order != nullptr, matrix));
  std::optional<Filter> filter;
  if (s.where) {
    MRLDB_ASSIGN_OR_RETURN(filter, query::BindFilter(*s.where, params, spec));
  }
  ResultSet r;
  r.columns = proj.columns;

  if (s.limit == 0u) {  // LIMIT 0: no rows, as in SQL (the statement is still checked)
    if (s.plan) MRLDB_RETURN_IF_ERROR(query::BindPlan(*s.plan).status());
    if (matrix) {
      MRLDB_RETURN_IF_ERROR(query::BindMatrix(*order->vector, params, spec.dim).status());
    } else if (order) {
      MRLDB_RETURN_IF_ERROR(query::BindVector(*order->vector, params, 0).status());
    }
    r.tag = "SELECT 0";
    return r;
  }
  if (!order) {  // plain listing in insertion order
    FindOptions find;
    find.filter = std::move(filter);
    find.limit = s.limit.value_or(0);
    find.vector_dims = proj.vector_dims;
    auto rows = db_->Find(spec.name, find);
    if (!rows.ok()) return rows.status().WithPosition(pos.line, pos.column);
    for (const Record& rec : *rows) r.rows.push_back(MakeRow(proj, rec.id, rec.attributes, rec.vector, 0, 0));
    r.tag = fmt::format("SELECT {}", r.rows.size());
    return r;
  }

  SearchOptions o;
  o.device = SearchDevice();
  o.k = static_cast<uint32_t>(s.limit.value_or(static_cast<uint64_t>(limit_)));
  if (s.limit && *s.limit > 100000) {
    return ErrorAt(pos, fmt::format("LIMIT {} is outside 0..100000 for a vector search", *s.limit));
  }
  if (s.plan) {
    MRLDB_ASSIGN_OR_RETURN(o.plan, query::BindPlan(*s.plan));
  }
  if (ef_ > 0 && o.plan.ef == 0) o.plan.ef = static_cast<uint32_t>(ef_);
  o.filter = std::move(filter);
  o.vector_dims = proj.vector_dims;
  for (const ColumnDef& c : spec.attributes) o.attributes.push_back(c.name);
  auto positioned = [&](const Status& st) {
    return st.line() ? st : st.WithPosition(s.order_by->pos.line, s.order_by->pos.column);
  };
  if (matrix) {
    MRLDB_ASSIGN_OR_RETURN(QueryMatrix m, query::BindMatrix(*order->vector, params, spec.dim));
    o.cancel = &cancel_;  // a batch search stops between queries on Session::Cancel
    auto hits = db_->SearchBatch(spec.name, m.values, m.rows, o);
    if (!hits.ok()) return positioned(hits.status());
    for (size_t q = 0; q < hits->size(); ++q) {
      for (const Hit& h : (*hits)[q]) {
        r.rows.push_back(MakeRow(proj, h.id, h.attributes, h.vector, h.distance, int64_t(q)));
      }
    }
  } else {
    MRLDB_ASSIGN_OR_RETURN(std::vector<float> q, query::BindVector(*order->vector, params, 0));
    auto hits = db_->Search(spec.name, q, o, stats);
    if (!hits.ok()) return positioned(hits.status());
    for (const Hit& h : *hits) r.rows.push_back(MakeRow(proj, h.id, h.attributes, h.vector, h.distance, 0));
  }
  r.tag = fmt::format("SELECT {}", r.rows.size());
  return r;
}

Result<ResultSet> Session::Impl::Explain(const query::Explain& s, const query::Position& pos,
                                         Params params) {
  const auto* sel = std::get_if<query::Select>(&s.statement->node);
  if (!sel || !sel->order_by) {
    return ErrorAt(s.statement->pos, "EXPLAIN takes a vector search: SELECT ... ORDER BY "
                                     "<vector column> <=> <vector> ...");
  }
  const auto* order = std::get_if<query::Distance>(&sel->order_by->node);
  if (order && query::IsMatrix(*order->vector, params)) {
    return ErrorAt(order->vector->pos, "EXPLAIN takes a single query vector, not a matrix");
  }
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(sel->collection, sel->collection_pos));
  ResultSet out;
  out.columns = {{"QUERY PLAN", CellType::kText}};
  auto line = [&](std::string text) { out.rows.push_back({Cell{std::move(text)}}); };
  if (sel->limit == 0u) {  // as SELECT: nothing is searched
    MRLDB_RETURN_IF_ERROR(Select(*sel, s.statement->pos, params, nullptr).status());
    line(fmt::format("no search on {}: LIMIT 0 returns no rows", spec.name));
    out.tag = "EXPLAIN";
    return out;
  }
  SearchOptions o;
  o.device = SearchDevice();
  o.k = static_cast<uint32_t>(sel->limit.value_or(static_cast<uint64_t>(limit_)));
  if (sel->plan) {
    MRLDB_ASSIGN_OR_RETURN(o.plan, query::BindPlan(*sel->plan));
  }
  if (ef_ > 0 && o.plan.ef == 0) o.plan.ef = static_cast<uint32_t>(ef_);
  if (sel->where) {
    MRLDB_ASSIGN_OR_RETURN(o.filter, query::BindFilter(*sel->where, params, spec));
  }
  auto plan = db_->ExplainPlan(spec.name, o);
  if (!plan.ok()) return plan.status().WithPosition(pos.line, pos.column);
  line(fmt::format("{} on {} (k = {}{})", plan->ToString(), spec.name, o.k,
                   o.filter ? ", filter " + o.filter->ToString() : ""));
  if (!s.analyze && !s.recall) {
    out.tag = "EXPLAIN";
    return out;
  }
  SearchStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  MRLDB_ASSIGN_OR_RETURN(ResultSet rows, Select(*sel, s.statement->pos, params, &stats));
  const double total_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (o.filter) {
    line(fmt::format("  filter: {} matching rows -> stage 1 {}", stats.filter_matches,
                     stats.filter_brute_force ? "scans them (selective)" : "searches the graph"));
  }
  for (size_t i = 0; i < stats.stages.size(); ++i) {
    const StageStats& st = stats.stages[i];
    // Blocks that are not resident were read from storage: shown only when there were any.
    const std::string io =
        st.cache_hits + st.storage_reads == 0
            ? ""
            : fmt::format("  storage: {} cache hits, {} reads, {} bytes read", st.cache_hits,
                          st.storage_reads, st.storage_bytes);
    line(fmt::format("  step {}: {:<6} dims {:>5}  in {:>8}  out {:>6}  bytes {:>10}  {}  {:.3f} ms{}",
                     i + 1, st.method, st.dims, st.candidates_in, st.candidates_out, st.bytes_read,
                     st.device, st.seconds * 1e3, io));
  }
  line(fmt::format("total: {} rows in {:.3f} ms", rows.rows.size(), total_ms));
  if (s.recall) {
    SearchOptions exact = o;
    exact.plan = SearchPlan::Exact();
    MRLDB_ASSIGN_OR_RETURN(std::vector<float> q, query::BindVector(*order->vector, params, 0));
    auto approx = db_->Search(spec.name, q, o);
    auto truth = db_->Search(spec.name, q, exact);
    if (!approx.ok()) return approx.status();
    if (!truth.ok()) return truth.status();
    std::set<std::string> want;
    for (const Hit& h : *truth) want.insert(KeyToString(h.id));
    size_t hit = 0;
    for (const Hit& h : *approx) hit += want.count(KeyToString(h.id));
    line(fmt::format("recall@{}: {:.3f} ({} of {} exact full-dimension neighbours)", o.k,
                     truth->empty() ? 1.0 : double(hit) / truth->size(), hit, truth->size()));
  }
  out.tag = "EXPLAIN";
  return out;
}

}  // namespace mrldb
