// INSERT / UPSERT / DELETE / UPDATE.
#include <fmt/format.h>

#include "query/listing.h"
#include "query/projection.h"
#include "query/session_impl.h"

namespace mrldb {

using query::ErrorAt;

namespace {

constexpr int kId = CollectionSpec::kIdColumn, kVector = CollectionSpec::kVectorColumn;

// Where each VALUES position goes: kId, kVector or an attribute index.
Result<std::vector<int>> ColumnTargets(const query::Insert& s, const CollectionSpec& spec,
                                       const query::Position& pos) {
  if (s.columns.empty()) return spec.ColumnOrder();  // as CREATE declared them
  std::vector<int> targets;
  for (const std::string& c : s.columns) {
    int t;
    if (query::SameName(c, spec.id_column)) t = kId;
    else if (query::SameName(c, spec.vector_column)) t = kVector;
    else if ((t = spec.AttributeIndex(c)) < 0) {
      return query::NoSuchColumn(pos, spec, c);
    }
    for (int seen : targets) {
      if (seen == t) return ErrorAt(pos, fmt::format("column \"{}\" is listed twice", c));
    }
    targets.push_back(t);
  }
  bool id = false, vec = false;
  for (int t : targets) {
    id |= t == kId;
    vec |= t == kVector;
  }
  if (!id) return ErrorAt(pos, fmt::format("INSERT must give the id column \"{}\"", spec.id_column));
  if (!vec) {
    return ErrorAt(pos, fmt::format("INSERT must give the vector column \"{}\"", spec.vector_column));
  }
  return targets;
}

// RETURNING: the projection of `items`, or none when there is no RETURNING clause.
Result<std::optional<query::Projection>> Returning(const std::vector<query::SelectItem>& items,
                                                  const CollectionSpec& spec) {
  if (items.empty()) return std::optional<query::Projection>();
  MRLDB_ASSIGN_OR_RETURN(query::Projection p, query::Project(items, spec, false, false));
  return std::optional<query::Projection>(std::move(p));
}

// The result of a write: its tag, and with RETURNING the rows of `batch` projected.
ResultSet WriteResult(std::string tag, uint64_t n, const std::optional<query::Projection>& p,
                      const InsertBatch& batch) {
  ResultSet r{{}, {}, std::move(tag), n};
  if (!p) return r;
  r.columns = p->columns;
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto v = batch.vector(i);
    r.rows.push_back(query::MakeRow(*p, batch.id(i), batch.attributes(i),
                                    std::vector<float>(v.begin(), v.end()), 0, 0));
  }
  return r;
}

}  // namespace

Result<ResultSet> Session::Impl::Insert(const query::Insert& s, const query::Position& pos,
                                        Params params) {
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(s.collection, s.collection_pos));
  MRLDB_ASSIGN_OR_RETURN(std::vector<int> targets, ColumnTargets(s, spec, pos));
  MRLDB_ASSIGN_OR_RETURN(auto returning, Returning(s.returning, spec));
  InsertBatch batch;
  for (size_t r = 0; r < s.rows.size(); ++r) {
    const auto& row = s.rows[r];
    const query::Position& rpos = row.empty() ? pos : row[0]->pos;
    if (row.size() != targets.size()) {
      return ErrorAt(rpos, fmt::format("row {} has {} values, expected {}", r + 1, row.size(),
                                       targets.size()));
    }
    Key key;
    std::vector<float> vec;
    std::vector<Value> attrs(spec.attributes.size());
    for (size_t i = 0; i < row.size(); ++i) {
      const query::Expr& e = *row[i];
      if (targets[i] == kVector) {
        auto v = query::BindVector(e, params, spec.dim);
        if (!v.ok()) {
          return ErrorAt(e.pos, fmt::format("row {}, column \"{}\": {}", r + 1, spec.vector_column,
                                            v.status().message()));
        }
        vec = std::move(v).value();
        continue;
      }
      MRLDB_ASSIGN_OR_RETURN(Value v, query::BindValue(e, params));
      if (targets[i] == kId) {
        auto k = query::ValueToKey(v, spec, e.pos);
        if (!k.ok()) return ErrorAt(e.pos, fmt::format("row {}: {}", r + 1, k.status().message()));
        key = std::move(k).value();
      } else {
        attrs[targets[i]] = std::move(v);
      }
    }
    batch.Add(std::move(key), vec, std::move(attrs));
  }
  Status st = s.upsert ? db_->Upsert(spec.name, batch) : db_->Insert(spec.name, batch);
  if (!st.ok()) return st.WithPosition(pos.line, pos.column);
  return WriteResult(fmt::format("{} {}", s.upsert ? "UPSERT" : "INSERT", batch.size()),
                     batch.size(), returning, batch);
}

Result<ResultSet> Session::Impl::Delete(const query::Delete& s, const query::Position& pos,
                                        Params params) {
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(s.collection, s.collection_pos));
  MRLDB_ASSIGN_OR_RETURN(auto returning, Returning(s.returning, spec));
  MRLDB_ASSIGN_OR_RETURN(FindOptions find, query::RowSource(s.where, params, spec));
  if (returning) find.vector_dims = returning->vector_dims;
  auto rows = db_->Find(spec.name, find);
  if (!rows.ok()) return rows.status().WithPosition(pos.line, pos.column);
  std::vector<Key> ids;
  for (const Record& r : *rows) ids.push_back(r.id);
  uint64_t n = 0;
  if (!ids.empty()) {
    MRLDB_ASSIGN_OR_RETURN(n, db_->Delete(spec.name, ids));
  }
  ResultSet result{{}, {}, fmt::format("DELETE {}", n), n};
  if (returning) {
    result.columns = returning->columns;
    for (const Record& r : *rows) {
      result.rows.push_back(query::MakeRow(*returning, r.id, r.attributes, r.vector, 0, 0));
    }
  }
  return result;
}

Result<ResultSet> Session::Impl::Update(const query::Update& s, const query::Position& pos,
                                        Params params) {
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(s.collection, s.collection_pos));
  // Bind the assignments first: every error is found before anything is written.
  std::vector<std::pair<int, Value>> sets;  // attribute index -> value
  std::optional<std::vector<float>> new_vector;
  for (const query::Assignment& a : s.set) {
    if (query::SameName(a.column, spec.id_column)) {
      return ErrorAt(a.pos, fmt::format("the id column \"{}\" cannot be updated; delete and insert "
                                        "instead", a.column));
    }
    if (query::SameName(a.column, spec.vector_column)) {
      MRLDB_ASSIGN_OR_RETURN(new_vector, query::BindVector(*a.value, params, spec.dim));
      continue;
    }
    const int c = spec.AttributeIndex(a.column);
    if (c < 0) return query::NoSuchColumn(a.pos, spec, a.column);
    MRLDB_ASSIGN_OR_RETURN(Value v, query::BindValue(*a.value, params));
    sets.emplace_back(c, std::move(v));
  }
  MRLDB_ASSIGN_OR_RETURN(auto returning, Returning(s.returning, spec));
  MRLDB_ASSIGN_OR_RETURN(FindOptions find, query::RowSource(s.where, params, spec));
  find.vector_dims = spec.dim;
  auto rows = db_->Find(spec.name, find);
  if (!rows.ok()) return rows.status().WithPosition(pos.line, pos.column);
  if (rows->empty()) return WriteResult("UPDATE 0", 0, returning, InsertBatch());
  // One atomic upsert of the changed rows.
  InsertBatch batch;
  for (Record& r : *rows) {
    for (auto& [c, v] : sets) r.attributes[c] = v;
    batch.Add(r.id, new_vector ? *new_vector : r.vector, std::move(r.attributes));
  }
  Status st = db_->Upsert(spec.name, batch);
  if (!st.ok()) return st.WithPosition(pos.line, pos.column);
  return WriteResult(fmt::format("UPDATE {}", batch.size()), batch.size(), returning, batch);
}

}  // namespace mrldb
