// PREDICT, TUNE PREDICT, ANALYZE [DISAGREEMENT] and EXPLAIN ANALYZE PREDICT.
#include <chrono>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "query/projection.h"
#include "query/session_impl.h"

namespace mrldb {

using query::ErrorAt;

namespace {

// The attribute column `name` names (case-insensitively), by its stored spelling.
Result<std::string> LabelName(const CollectionSpec& spec, const std::string& name,
                              const query::Position& pos) {
  for (const ColumnDef& c : spec.attributes) {
    if (query::SameName(c.name, name)) return c.name;
  }
  if (query::SameName(name, spec.id_column) || query::SameName(name, spec.vector_column)) {
    return ErrorAt(pos, fmt::format("\"{}\" is the {} column: labels come from an attribute column "
                                    "(TEXT, INT or BOOL)", name,
                                    query::SameName(name, spec.id_column) ? "id" : "vector"));
  }
  return ErrorAt(pos, fmt::format("collection \"{}\" has no column \"{}\"", spec.name, name));
}

Result<PredictOptions> BindClauses(const query::PredictClauses& c, const CollectionSpec& spec) {
  PredictOptions o;
  MRLDB_ASSIGN_OR_RETURN(o.label, LabelName(spec, c.label, c.label_pos));
  o.k = c.k;
  o.cascade = c.cascade;
  o.confidence = c.confidence;
  if (c.vote) o.vote = *c.vote == "DISTANCE" ? VoteRule::kDistance : VoteRule::kUniform;
  o.shortlist = c.shortlist;
  return o;
}

std::string Ratio(double mean_dims, uint32_t dim) {
  return mean_dims > 0 ? fmt::format("1/{:.1f}", dim / mean_dims) : "-";
}

}  // namespace

Result<ResultSet> Session::Impl::Predict(const query::Predict& s, const query::Position& pos,
                                         Params params, PredictStats* stats) {
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(s.clauses.collection, s.clauses.collection_pos));
  MRLDB_ASSIGN_OR_RETURN(PredictOptions o, BindClauses(s.clauses, spec));
  o.neighbours = s.neighbours;
  if (s.where) {
    MRLDB_ASSIGN_OR_RETURN(o.filter, query::BindFilter(*s.where, params, spec));
  }
  const int label = spec.AttributeIndex(o.label);
  const bool matrix = query::IsMatrix(*s.query, params);
  ResultSet r;
  if (matrix) r.columns.push_back({"query_index", CellType::kBigint});
  r.columns.push_back({o.label, query::TypeOf(spec.attributes[label].type)});
  r.columns.push_back({"confidence", CellType::kFloat});
  r.columns.push_back({"dims", CellType::kBigint});
  if (s.neighbours) r.columns.push_back({"neighbours", CellType::kText});
  std::vector<Prediction> predictions;
  auto positioned = [&](const Status& st) {
    return st.line() ? st : st.WithPosition(pos.line, pos.column);
  };
  if (matrix) {
    MRLDB_ASSIGN_OR_RETURN(QueryMatrix m, query::BindMatrix(*s.query, params, spec.dim));
    o.cancel = &cancel_;
    auto p = db_->PredictBatch(spec.name, m.values, m.rows, o, stats);
    if (!p.ok()) return positioned(p.status());
    predictions = std::move(p).value();
  } else {
    MRLDB_ASSIGN_OR_RETURN(std::vector<float> q, query::BindVector(*s.query, params, spec.dim));
    auto p = db_->Predict(spec.name, q, o, stats);
    if (!p.ok()) return positioned(p.status());
    predictions.push_back(std::move(p).value());
  }
  for (size_t i = 0; i < predictions.size(); ++i) {
    const Prediction& p = predictions[i];
    std::vector<Cell> row;
    if (matrix) row.push_back(Cell{int64_t(i)});
    row.push_back(query::ToCell(p.label));
    row.push_back(Cell{p.confidence});
    row.push_back(Cell{int64_t(p.dims)});
    if (s.neighbours) {
      std::vector<std::string> ids;
      for (const Key& k : p.neighbours) ids.push_back(KeyToString(k));
      row.push_back(Cell{fmt::format("{}", fmt::join(ids, ", "))});
    }
    r.rows.push_back(std::move(row));
  }
  r.tag = fmt::format("PREDICT {}", r.rows.size());
  return r;
}

Result<ResultSet> Session::Impl::ExplainPredict(const query::Predict& s, bool analyze,
                                                const query::Position& pos, Params params) {
  if (!analyze) {
    return ErrorAt(pos, "EXPLAIN PREDICT needs ANALYZE: where a cascade stops depends on each "
                        "query (EXPLAIN ANALYZE PREDICT ...)");
  }
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(s.clauses.collection, s.clauses.collection_pos));
  MRLDB_ASSIGN_OR_RETURN(std::string label, LabelName(spec, s.clauses.label, s.clauses.label_pos));
  PredictStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  MRLDB_ASSIGN_OR_RETURN(ResultSet rows, Predict(s, pos, params, &stats));
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ResultSet out;
  out.columns = {{"QUERY PLAN", CellType::kText}};
  auto line = [&](std::string text) { out.rows.push_back({Cell{std::move(text)}}); };
  line(fmt::format("PREDICT {} FROM {} CASCADE ({}) K {} CONFIDENCE {} VOTE {} SHORTLIST {}{}",
                   label, spec.name, fmt::join(stats.cascade, ", "), stats.k, stats.confidence,
                   VoteRuleName(stats.vote), stats.shortlist,
                   stats.calibrated ? " (calibrated by TUNE PREDICT)" : ""));
  line(fmt::format("  first granularity: {} over {} labelled rows", stats.first_stage, stats.voters));
  for (size_t i = 0; i < stats.cascade.size(); ++i) {
    line(fmt::format("  dims {:>5}: {} of {} queries decided", stats.cascade[i], stats.stopped[i],
                     stats.queries));
  }
  line(fmt::format("mean dims: {:.1f} of {} ({})", stats.mean_dims, spec.dim,
                   Ratio(stats.mean_dims, spec.dim)));
  line(fmt::format("total: {} predictions in {:.3f} ms", rows.rows.size(), ms));
  out.tag = "EXPLAIN";
  return out;
}

Result<ResultSet> Session::Impl::TunePredict(const query::TunePredict& s, const query::Position& pos) {
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(s.clauses.collection, s.clauses.collection_pos));
  MRLDB_ASSIGN_OR_RETURN(PredictOptions p, BindClauses(s.clauses, spec));
  if (s.clauses.confidence) {
    return ErrorAt(s.clauses.confidence_pos, "TUNE PREDICT chooses the confidence; leave it out");
  }
  TunePredictOptions o;
  o.label = p.label;
  if (p.k) o.k = *p.k;
  o.cascade = p.cascade;
  o.vote = p.vote;
  o.shortlist = p.shortlist;
  o.margin = s.margin;
  if (s.sample) o.sample = *s.sample;
  o.cancel = &cancel_;
  auto cal = db_->TunePredict(spec.name, o);
  if (!cal.ok()) return cal.status().line() ? cal.status() : cal.status().WithPosition(pos.line, pos.column);
  ResultSet r;
  r.columns = {{"confidence", CellType::kFloat},    {"accuracy", CellType::kFloat},
               {"full_accuracy", CellType::kFloat}, {"mean_dims", CellType::kFloat},
               {"reached", CellType::kBool},        {"cascade", CellType::kText}};
  r.rows.push_back({Cell{cal->confidence}, Cell{cal->accuracy}, Cell{cal->full_accuracy},
                    Cell{cal->mean_dims}, Cell{cal->reached},
                    Cell{fmt::format("CASCADE ({}) K {} VOTE {} SHORTLIST {}",
                                     fmt::join(cal->cascade, ", "), cal->k,
                                     VoteRuleName(cal->vote), cal->shortlist)}});
  r.tag = "TUNE PREDICT";
  return r;
}

Result<ResultSet> Session::Impl::Analyze(const query::Analyze& s, const query::Position& pos) {
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(s.collection, s.collection_pos));
  std::string label;
  if (s.label) {
    MRLDB_ASSIGN_OR_RETURN(label, LabelName(spec, *s.label, s.label_pos));
  }
  auto positioned = [&](const Status& st) { return st.line() ? st : st.WithPosition(pos.line, pos.column); };
  ResultSet r;
  if (s.disagreement) {
    DisagreementOptions o;
    o.label = label;
    if (s.sample) o.sample = *s.sample;
    if (s.k) o.k = *s.k;
    if (s.limit) o.limit = *s.limit;
    o.cancel = &cancel_;
    auto rows = db_->Disagreements(spec.name, o);
    if (!rows.ok()) return positioned(rows.status());
    const CellType label_type =
        label.empty() ? CellType::kText : query::TypeOf(spec.attributes[spec.AttributeIndex(label)].type);
    r.columns = {{spec.id_column, spec.id_type == IdType::kBigint ? CellType::kBigint : CellType::kText},
                 {"label", label_type},
                 {"predicted", label_type},
                 {"label_changes", CellType::kBigint},
                 {"settles_at", CellType::kBigint},
                 {"neighbour_churn", CellType::kFloat}};
    for (const Disagreement& d : *rows) {
      r.rows.push_back({query::KeyCell(d.id), query::ToCell(d.label), query::ToCell(d.predicted),
                        Cell{int64_t(d.label_changes)}, Cell{int64_t(d.settles_at)},
                        Cell{d.neighbour_churn}});
    }
    r.tag = fmt::format("ANALYZE {}", r.rows.size());
    return r;
  }
  AnalyzeOptions o;
  o.label = label;
  if (s.sample) o.sample = *s.sample;
  o.cancel = &cancel_;
  auto a = db_->Analyze(spec.name, o);
  if (!a.ok()) return positioned(a.status());
  r.columns = {{"dims", CellType::kBigint},      {"recall", CellType::kFloat},
               {"rank_corr", CellType::kFloat},  {"shortlist", CellType::kBigint},
               {"accuracy", CellType::kFloat},   {"verdict", CellType::kText}};
  for (const PrefixQuality& q : a->levels) {
    r.rows.push_back({Cell{int64_t(q.dims)}, Cell{q.recall}, Cell{q.rank_corr},
                      q.shortlist ? Cell{int64_t(q.shortlist)} : Cell{},
                      q.accuracy >= 0 ? Cell{q.accuracy} : Cell{},
                      r.rows.empty() ? Cell{a->verdict} : Cell{}});  // once, on the first row
  }
  r.tag = fmt::format("ANALYZE {}", r.rows.size());
  return r;
}

}  // namespace mrldb
