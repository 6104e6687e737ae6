// SELECT (searches and plain row listing) and EXPLAIN [ANALYZE].
#include <chrono>
#include <set>

#include <fmt/format.h>

#include "query/listing.h"
#include "query/tokenizer.h"
#include "query/projection.h"
#include "query/session_impl.h"

namespace mrldb {

using query::ErrorAt;
using query::MakeRow;

Result<std::vector<float>> Session::Impl::SearchQuery(const query::Distance& order, Params params,
                                                     const CollectionSpec& spec) const {
  if (!order.stored) return query::BindVector(*order.vector, params, 0);
  // (SELECT embedding FROM c WHERE id = 'x'): that row's vector. SQL semantics: the row itself
  // is a hit of its own search (distance 0) unless the WHERE clause leaves it out.
  const query::StoredVector& sv = *order.stored;
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec from, Spec(sv.collection, sv.collection_pos));
  if (!query::SameName(sv.column, from.vector_column)) {
    return ErrorAt(sv.column_pos, fmt::format("the query subselect must select the vector column "
                                              "\"{}\" of \"{}\"", from.vector_column, from.name));
  }
  if (!query::SameName(sv.id_column, from.id_column)) {
    return ErrorAt(sv.id_column_pos, fmt::format("the query subselect picks its row by the id "
                                                 "column: WHERE {} = ...", from.id_column));
  }
  if (from.dim != spec.dim) {
    return ErrorAt(sv.column_pos, fmt::format("\"{}\".\"{}\" has {} dimensions, \"{}\" {}",
                                              from.name, from.vector_column, from.dim, spec.name,
                                              spec.dim));
  }
  MRLDB_ASSIGN_OR_RETURN(Value v, query::BindValue(*sv.id, params));
  MRLDB_ASSIGN_OR_RETURN(Key id, query::ValueToKey(v, from, sv.id->pos));
  auto row = db_->Get(from.name, id);
  if (!row.ok()) {
    if (row.status().IsNotFound()) {
      return Status::NotFound(fmt::format("the query row: collection \"{}\" has no row with id {}",
                                          from.name, KeyToString(id)))
          .WithPosition(sv.id->pos.line, sv.id->pos.column);
    }
    return row.status().WithPosition(sv.id->pos.line, sv.id->pos.column);
  }
  return std::move(row->vector);
}

Result<ResultSet> Session::Impl::Select(const query::Select& s, const query::Position& pos,
                                        Params params, SearchStats* stats) {
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(s.collection, s.collection_pos));
  const query::Distance* order = nullptr;
  if (s.order_by) {
    order = &std::get<query::Distance>(s.order_by->node);
    const auto* col = std::get_if<query::ColumnRef>(&order->column->node);
    if (!col || !query::SameName(col->name, spec.vector_column)) {
      return ErrorAt(order->column->pos, fmt::format("ORDER BY with a distance operator must name "
                                                     "the vector column \"{}\"",
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
    if (!s.group_by.empty()) {
      return ErrorAt(s.group_by[0].pos, "GROUP BY cannot group a vector search's hits");
    }
  } else if (s.plan) {
    return ErrorAt(s.plan->pos, "USING needs ORDER BY <vector column> <=> <vector>");
  }
  if (!order) {  // a listing: by id, or a scan in insertion order (query/listing.h)
    auto bound = query::BindListing(s, params, spec);
    if (!bound.ok()) return bound.status();
    if (s.limit == 0u) return ResultSet{bound->columns, {}, "SELECT 0", 0};
    auto r = query::RunListing(db_, *bound, spec);
    if (!r.ok()) return r.status().line() ? r.status() : r.status().WithPosition(pos.line, pos.column);
    return r;
  }
  const bool matrix = order->vector && query::IsMatrix(*order->vector, params);
  MRLDB_ASSIGN_OR_RETURN(query::Projection proj, query::Project(s.items, spec, true, matrix));
  std::optional<Filter> filter;
  if (s.where) {
    MRLDB_ASSIGN_OR_RETURN(filter, query::BindFilter(*s.where, params, spec));
  }
  ResultSet r;
  r.columns = proj.columns;
  SearchOptions o;
  o.device = SearchDevice();
  const uint64_t limit = s.limit.value_or(static_cast<uint64_t>(limit_));
  const uint64_t offset = s.offset.value_or(0);
  if (limit > 100000 || offset > 100000 - limit) {
    return ErrorAt(s.offset ? s.offset_pos : s.limit_pos,
                   offset ? fmt::format("LIMIT {} + OFFSET {} is outside 0..100000 for a vector "
                                        "search (it searches for LIMIT + OFFSET hits)",
                                        limit, offset)
                          : fmt::format("LIMIT {} is outside 0..100000 for a vector search", limit));
  }
  o.k = static_cast<uint32_t>(limit + offset);
  if (s.plan) {
    MRLDB_ASSIGN_OR_RETURN(o.plan, query::BindPlan(*s.plan));
  }
  if (limit == 0) {  // LIMIT 0: no rows, as in SQL (the statement is still checked)
    if (matrix) {
      MRLDB_RETURN_IF_ERROR(query::BindMatrix(*order->vector, params, spec.dim).status());
    } else {
      MRLDB_RETURN_IF_ERROR(SearchQuery(*order, params, spec).status());
    }
    r.tag = "SELECT 0";
    return r;
  }
  if (ef_ > 0 && o.plan.ef == 0) o.plan.ef = static_cast<uint32_t>(ef_);
  o.filter = std::move(filter);
  o.vector_dims = proj.vector_dims;
  for (const ColumnDef& c : spec.attributes) o.attributes.push_back(c.name);
  auto positioned = [&](const Status& st) {
    return st.line() ? st : st.WithPosition(s.order_by->pos.line, s.order_by->pos.column);
  };
  // OFFSET skips the nearest hits of each query.
  auto add_hits = [&](const std::vector<Hit>& hits, int64_t q) {
    for (size_t i = offset; i < hits.size(); ++i) {
      const Hit& h = hits[i];
      r.rows.push_back(MakeRow(proj, h.id, h.attributes, h.vector, h.distance, q));
    }
  };
  if (matrix) {
    MRLDB_ASSIGN_OR_RETURN(QueryMatrix m, query::BindMatrix(*order->vector, params, spec.dim));
    o.cancel = &cancel_;  // a batch search stops between queries on Session::Cancel
    auto hits = db_->SearchBatch(spec.name, m.values, m.rows, o);
    if (!hits.ok()) return positioned(hits.status());
    for (size_t q = 0; q < hits->size(); ++q) add_hits((*hits)[q], int64_t(q));
  } else {
    MRLDB_ASSIGN_OR_RETURN(std::vector<float> q, SearchQuery(*order, params, spec));
    auto hits = db_->Search(spec.name, q, o, stats);
    if (!hits.ok()) return positioned(hits.status());
    add_hits(*hits, 0);
  }
  r.tag = fmt::format("SELECT {}", r.rows.size());
  return r;
}

Result<ResultSet> Session::Impl::Explain(const query::Explain& s, const query::Position& pos,
                                         Params params) {
  if (const auto* p = std::get_if<query::Predict>(&s.statement->node)) {
    return ExplainPredict(*p, s.analyze, s.statement->pos, params);
  }
  const auto* sel = std::get_if<query::Select>(&s.statement->node);
  if (!sel || !sel->order_by) return ExplainOther(s, params);
  const auto* order = std::get_if<query::Distance>(&sel->order_by->node);
  if (order->vector && query::IsMatrix(*order->vector, params)) {
    return ErrorAt(order->vector->pos, "EXPLAIN takes a single query vector, not a matrix");
  }
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(sel->collection, sel->collection_pos));
  ResultSet out;
  out.columns = {{"QUERY PLAN", CellType::kText}};
  auto line = [&](std::string text) { out.rows.push_back({Cell{std::move(text)}}); };
  if (sel->limit.value_or(0) + sel->offset.value_or(0) > 100000) {  // SELECT says what is wrong
    return Select(*sel, s.statement->pos, params, nullptr).status();
  }
  if (sel->limit == 0u) {  // as SELECT: nothing is searched
    MRLDB_RETURN_IF_ERROR(Select(*sel, s.statement->pos, params, nullptr).status());
    line(fmt::format("no search on {}: LIMIT 0 returns no rows", spec.name));
    out.tag = "EXPLAIN";
    return out;
  }
  SearchOptions o;
  o.device = SearchDevice();
  o.k = static_cast<uint32_t>(sel->limit.value_or(static_cast<uint64_t>(limit_)) +
                              sel->offset.value_or(0));
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
    // Where it would run, and why (under device 'auto', the placement model's choice now).
    auto where = db_->ExplainPlacement(spec.name, o);
    if (!where.ok()) return where.status().WithPosition(pos.line, pos.column);
    line("  placement: " + *where);
    out.tag = "EXPLAIN";
    return out;
  }
  SearchStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  MRLDB_ASSIGN_OR_RETURN(ResultSet rows, Select(*sel, s.statement->pos, params, &stats));
  const double total_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  line("  placement: " + stats.placement);  // where the stages below ran, and why
  if (o.filter) {
    line(fmt::format("  filter: {} matching rows -> stage 1 {}", stats.filter_matches,
                     stats.filter_brute_force ? "scans them (selective)" : "searches the graph"));
  }
  if (stats.graph_loading) {
    line("  graph: not loaded yet (the open loads it in the background) -> stage 1 scans");
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
    MRLDB_ASSIGN_OR_RETURN(std::vector<float> q, SearchQuery(*order, params, spec));
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

namespace mrldb {

Result<ResultSet> Session::Impl::ExplainOther(const query::Explain& s, Params params) {
  const query::Statement& st = *s.statement;
  std::vector<std::string> lines;
  auto info_of = [&](const std::string& name,
                     const query::Position& at) -> Result<std::pair<CollectionSpec, uint64_t>> {
    MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(name, at));
    MRLDB_ASSIGN_OR_RETURN(CollectionInfo info, db_->DescribeCollection(spec.name));
    return std::make_pair(std::move(spec), info.live_rows);
  };
  if (const auto* sel = std::get_if<query::Select>(&st.node)) {
    MRLDB_ASSIGN_OR_RETURN(auto c, info_of(sel->collection, sel->collection_pos));
    MRLDB_ASSIGN_OR_RETURN(query::BoundListing b, query::BindListing(*sel, params, c.first));
    lines = sel->limit == 0u
                ? std::vector<std::string>{fmt::format("no read of {}: LIMIT 0 returns no rows",
                                                       c.first.name)}
                : query::DescribeListing(b, c.first, c.second);
  } else if (const auto* del = std::get_if<query::Delete>(&st.node)) {
    MRLDB_ASSIGN_OR_RETURN(auto c, info_of(del->collection, del->collection_pos));
    MRLDB_ASSIGN_OR_RETURN(FindOptions find, query::RowSource(del->where, params, c.first));
    lines = {query::AccessPath(find, c.first, c.second), "  delete the rows found (one atomic write)"};
  } else if (const auto* up = std::get_if<query::Update>(&st.node)) {
    MRLDB_ASSIGN_OR_RETURN(auto c, info_of(up->collection, up->collection_pos));
    MRLDB_ASSIGN_OR_RETURN(FindOptions find, query::RowSource(up->where, params, c.first));
    lines = {query::AccessPath(find, c.first, c.second),
             "  rewrite the rows found (one atomic upsert)"};
  } else if (const auto* ins = std::get_if<query::Insert>(&st.node)) {
    MRLDB_ASSIGN_OR_RETURN(auto c, info_of(ins->collection, ins->collection_pos));
    lines = {fmt::format("insert of {} row{} into {} (one atomic write; {})", ins->rows.size(),
                         ins->rows.size() == 1 ? "" : "s", c.first.name,
                         ins->upsert ? "a stored id is replaced" : "a stored id is an error")};
  } else if (const auto* copy = std::get_if<query::Copy>(&st.node)) {
    MRLDB_ASSIGN_OR_RETURN(auto c, info_of(copy->collection, copy->collection_pos));
    lines = {copy->from ? fmt::format("read of '{}' in batches, one atomic insert into {} each",
                                      copy->path, c.first.name)
                        : fmt::format("scan of {} ({} rows) written to '{}'", c.first.name,
                                      c.second, copy->path)};
  } else if (const auto* vac = std::get_if<query::Vacuum>(&st.node)) {
    MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(vac->collection, vac->collection_pos));
    MRLDB_ASSIGN_OR_RETURN(CollectionInfo info, db_->DescribeCollection(spec.name));
    lines = {fmt::format("vacuum of {} ({} rows stored, {} dead since the last vacuum)", spec.name,
                         info.allocated_rows, info.unvacuumed_rows),
             "  rewrite the row groups holding dead rows without them (one atomic write per slice)",
             "  compact the vector storage"};
  } else {
    const std::string_view text = st.text;
    const std::string kind = query::ToUpper(text.substr(0, text.find_first_of(" \t\r\n")));
    lines = {fmt::format("{}: no rows are read or written", kind)};
    if (kind == "TUNE" || kind == "WAIT") lines[0] = fmt::format("{}: runs searches and waits; "
                                                                  "no rows are written", kind);
  }
  if (s.analyze) {
    const auto t0 = std::chrono::steady_clock::now();
    MRLDB_ASSIGN_OR_RETURN(ResultSet r, Run(st, params));
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const uint64_t n = r.columns.empty() ? r.rows_affected : r.rows.size();
    lines.push_back(fmt::format("total: {} rows in {:.3f} ms", n, ms));
  }
  ResultSet out;
  out.columns = {{"QUERY PLAN", CellType::kText}};
  for (std::string& l : lines) out.rows.push_back({Cell{std::move(l)}});
  out.tag = "EXPLAIN";
  return out;
}

}  // namespace mrldb
