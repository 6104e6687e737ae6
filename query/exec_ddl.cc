// CREATE / DROP / SHOW COLLECTIONS / DESCRIBE / ALTER / TUNE / WAIT FOR INDEX / BACKUP / VACUUM.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "query/session_impl.h"

namespace mrldb {

using query::ErrorAt;

namespace {

Result<uint32_t> UintOption(const query::Option& o, uint32_t lo, uint32_t hi) {
  const auto* v = std::get_if<Value>(&o.value);
  const int64_t* i = v ? std::get_if<int64_t>(v) : nullptr;
  if (!i || *i < lo || *i > hi) {
    return ErrorAt(o.pos, fmt::format("option {} must be an integer in {}..{}", o.key, lo, hi));
  }
  return static_cast<uint32_t>(*i);
}

Result<GraphCodes> CodesOption(const query::Option& o) {
  const auto* v = std::get_if<Value>(&o.value);
  const std::string* text = v ? std::get_if<std::string>(v) : nullptr;
  if (text && *text == "int8") return GraphCodes::kInt8;
  if (text && *text == "float32") return GraphCodes::kFloat32;
  return ErrorAt(o.pos, fmt::format("option graph_codes must be 'int8' or 'float32'{}",
                                    text ? fmt::format(", not '{}'", *text) : std::string()));
}

// The background tuner's recall target: a number in (0, 1].
Result<double> RecallOption(const query::Option& o) {
  const auto* v = std::get_if<Value>(&o.value);
  double r = 0;
  if (const auto* d = v ? std::get_if<double>(v) : nullptr) r = *d;
  else if (const auto* i = v ? std::get_if<int64_t>(v) : nullptr) r = double(*i);
  else {
    return ErrorAt(o.pos, fmt::format("option target_recall must be a number in (0, 1], not {}",
                                      v ? ValueToString(*v) : "a plan"));
  }
  if (!(r > 0 && r <= 1)) {
    return ErrorAt(o.pos, fmt::format("option target_recall must be in (0, 1], not {}", r));
  }
  return r;
}

// An attribute's type from its (upper-case, parsed) SQL name.
AttrType AttrTypeOf(const std::string& type) {
  if (type == "TEXT") return AttrType::kText;
  if (type == "BIGINT" || type == "INT" || type == "INTEGER") return AttrType::kInt;
  if (type == "FLOAT" || type == "DOUBLE" || type == "REAL") return AttrType::kFloat;
  return AttrType::kBool;
}

// Where the default plan in force comes from and what it measured.
std::string PlanSourceText(const DefaultPlan& p) {
  switch (p.source) {
    case PlanSource::kDerived: return "from k and the ladder; not measured";
    case PlanSource::kSet:
      return fmt::format("by hand at {} rows{}; not measured", p.rows,
                         p.k ? fmt::format(" for k = {}", p.k) : std::string());
    case PlanSource::kAutoTuned:
    case PlanSource::kTune: break;
  }
  std::string text = fmt::format("for recall@{} {} at {} rows; held-back recall {:.3f}", p.k,
                                 p.target, p.rows, p.recall);
  if (p.wide_k) {
    text += fmt::format("; for k > {}: FUNNEL (index_dim KEEP n, D), n re-derived from {} at "
                        "k = {} and {} at k = {}", p.k, p.straight_keep, p.k, p.wide_keep, p.wide_k);
  }
  return text;
}

}  // namespace

Result<ResultSet> Session::Impl::Create(const query::CreateCollection& s, const query::Position& pos) {
  CollectionSpec spec;
  spec.name = s.name;
  bool have_id = false, have_vector = false;
  for (const query::ColumnSpec& c : s.columns) {
    const auto position = static_cast<uint32_t>(&c - s.columns.data());
    if (c.type == "VECTOR") {
      if (have_vector) return ErrorAt(c.pos, "a collection has exactly one VECTOR column");
      if (c.primary_key) return ErrorAt(c.pos, "the VECTOR column cannot be the PRIMARY KEY");
      have_vector = true;
      spec.vector_column = c.name;
      spec.vector_position = position;
      spec.dim = c.vector_dim;
      spec.granularities = c.matryoshka;
      if (c.metric) {
        auto m = ParseMetric(*c.metric);
        if (!m.ok()) return ErrorAt(c.pos, m.status().message());
        spec.metric = *m;
      }
      continue;
    }
    if (c.primary_key) {
      if (have_id) return ErrorAt(c.pos, "only one PRIMARY KEY column is allowed");
      if (c.type != "TEXT" && c.type != "BIGINT" && c.type != "INT" && c.type != "INTEGER") {
        return ErrorAt(c.pos, fmt::format("the PRIMARY KEY must be TEXT or BIGINT, not {}", c.type));
      }
      have_id = true;
      spec.id_column = c.name;
      spec.id_position = position;
      spec.id_type = c.type == "TEXT" ? IdType::kText : IdType::kBigint;
      continue;
    }
    spec.attributes.push_back(ColumnDef{c.name, AttrTypeOf(c.type)});
  }
  if (!have_id) return ErrorAt(pos, "a collection needs a PRIMARY KEY column (TEXT or BIGINT)");
  if (!have_vector) return ErrorAt(pos, "a collection needs a VECTOR(D) column");
  for (const query::Option& o : s.options) {
    if (o.key == "index_dim") {
      MRLDB_ASSIGN_OR_RETURN(spec.index_dim, UintOption(o, 1, 65536));
    } else if (o.key == "m") {
      MRLDB_ASSIGN_OR_RETURN(spec.hnsw.m, UintOption(o, 2, 256));
    } else if (o.key == "ef_construction") {
      MRLDB_ASSIGN_OR_RETURN(spec.hnsw.ef_construction, UintOption(o, 1, 100000));
    } else if (o.key == "ef_search" || o.key == "ef") {
      MRLDB_ASSIGN_OR_RETURN(spec.hnsw.ef_search, UintOption(o, 1, 100000));
    } else if (o.key == "graph_codes") {
      MRLDB_ASSIGN_OR_RETURN(spec.hnsw.codes, CodesOption(o));
    } else if (o.key == "target_recall") {
      MRLDB_ASSIGN_OR_RETURN(spec.target_recall, RecallOption(o));
    } else {
      return ErrorAt(o.pos, fmt::format("unknown option \"{}\" (options: index_dim, m, "
                                        "ef_construction, ef_search, graph_codes, target_recall)",
                                        o.key));
    }
  }
  for (const std::string& n : db_->ListCollections()) {
    if (query::SameName(n, s.name)) {
      if (s.if_not_exists) return ResultSet{{}, {}, "CREATE COLLECTION", 0};
      return Status::AlreadyExists(fmt::format("collection \"{}\" already exists", n))
          .WithPosition(s.name_pos.line, s.name_pos.column);
    }
  }
  Status st = db_->CreateCollection(std::move(spec));
  if (!st.ok()) return st.WithPosition(pos.line, pos.column);
  return ResultSet{{}, {}, "CREATE COLLECTION", 0};
}

Result<ResultSet> Session::Impl::Drop(const query::DropCollection& s, const query::Position& pos) {
  auto spec = Spec(s.name, s.name_pos);
  if (!spec.ok()) {
    if (s.if_exists && spec.status().IsNotFound()) return ResultSet{{}, {}, "DROP COLLECTION", 0};
    return spec.status();
  }
  MRLDB_RETURN_IF_ERROR(db_->DropCollection(spec->name));
  return ResultSet{{}, {}, "DROP COLLECTION", 0};
}

Result<ResultSet> Session::Impl::ShowCollections() {
  ResultSet r;
  r.columns = {{"name", CellType::kText},   {"dim", CellType::kBigint},
               {"metric", CellType::kText}, {"index_dim", CellType::kBigint},
               {"rows", CellType::kBigint}};
  for (const std::string& n : db_->ListCollections()) {
    auto info = db_->DescribeCollection(n);
    if (!info.ok()) continue;
    r.rows.push_back({Cell{n}, Cell{int64_t(info->spec.dim)}, Cell{std::string(MetricName(info->spec.metric))},
                      Cell{int64_t(info->spec.index_dim)}, Cell{int64_t(info->live_rows)}});
  }
  r.tag = fmt::format("SHOW {}", r.rows.size());
  return r;
}

Result<ResultSet> Session::Impl::ShowStats(const query::ShowStats& s) {
  std::vector<std::string> names;
  if (s.collection) {
    MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(*s.collection, s.collection_pos));
    names.push_back(spec.name);
  } else {
    names = db_->ListCollections();
  }
  ResultSet r;
  if (s.placement) {  // the placement model of device 'auto' (docs/architecture.md, "Placement")
    r.columns = {{"collection", CellType::kText}, {"plan", CellType::kText},
                 {"batch", CellType::kText},      {"cpu_us_per_query", CellType::kFloat},
                 {"gpu_us_per_query", CellType::kFloat}, {"cpu_runs", CellType::kBigint},
                 {"gpu_runs", CellType::kBigint}, {"faster", CellType::kText}};
    for (const std::string& n : names) {
      auto est = db_->GetPlacement(n);
      if (!est.ok()) continue;  // dropped meanwhile
      for (const PlacementEstimate& e : *est) {
        const std::string faster =
            !e.cpu_runs && !e.gpu_runs ? "not measured"
            : !e.gpu_runs              ? "cpu (gpu not measured)"
            : !e.cpu_runs              ? "gpu (cpu not measured)"
            : e.gpu_seconds < e.cpu_seconds ? "gpu" : "cpu";
        r.rows.push_back({Cell{n}, Cell{e.shape}, Cell{fmt::format("{}-{}", e.batch_min, e.batch_max)},
                          e.cpu_runs ? Cell{e.cpu_seconds * 1e6} : Cell{},  // NULL: not measured
                          e.gpu_runs ? Cell{e.gpu_seconds * 1e6} : Cell{},
                          Cell{int64_t(e.cpu_runs)}, Cell{int64_t(e.gpu_runs)},
                          Cell{faster}});
      }
    }
    r.tag = fmt::format("SHOW {}", r.rows.size());
    return r;
  }
  r.columns = {{"collection", CellType::kText},        {"rows", CellType::kBigint},
               {"deleted_rows", CellType::kBigint},     {"disk_bytes", CellType::kBigint},
               {"index_memory_bytes", CellType::kBigint}, {"cache_memory_bytes", CellType::kBigint},
               {"unvacuumed_rows", CellType::kBigint}};
  for (const std::string& n : names) {
    auto info = db_->DescribeCollection(n);
    if (!info.ok()) continue;  // dropped meanwhile
    r.rows.push_back({Cell{n}, Cell{int64_t(info->live_rows)},
                      Cell{int64_t(info->allocated_rows - info->live_rows)},
                      Cell{int64_t(info->disk_bytes)}, Cell{int64_t(info->index_memory_bytes)},
                      Cell{int64_t(info->memory.blocks_bytes)}, Cell{int64_t(info->unvacuumed_rows)}});
  }
  r.tag = fmt::format("SHOW {}", r.rows.size());
  return r;
}

namespace {

std::string Mib(uint64_t bytes) { return fmt::format("{:.1f} MiB", bytes / 1048576.0); }

// "blocks 1..3 of 7 resident (dims 0..64), loading 4..5"
std::string Residency(const MemoryUse& m, const CollectionSpec& spec) {
  std::string s = m.resident_blocks == 0
                      ? fmt::format("none of {} blocks resident", m.blocks)
                      : fmt::format("blocks 1..{} of {} resident (dims 0..{})", m.resident_blocks,
                                    m.blocks, spec.granularities[m.resident_blocks - 1]);
  if (m.wanted_blocks > m.resident_blocks) {
    s += fmt::format(", loading {}..{}", m.resident_blocks + 1, m.wanted_blocks);
  }
  return s;
}

// A collection's device memory, for SHOW MEMORY and DESCRIBE: "1000 of 1000 rows on NVIDIA
// H200 (float32): vectors and norms 3.1 MiB, device graph 0.1 MiB (1000 rows); budget 80.0 MiB".
std::string DeviceUse(const DeviceMemoryUse& d, uint64_t rows) {
  if (!d.copy) {
    return d.unavailable.empty() ? "no device copy (made at the first GPU search)"
                                 : "no device copy: " + d.unavailable;
  }
  return fmt::format("{} of {} rows on {} ({}): vectors and norms {}, device graph {}{}; budget {}",
                     d.rows, rows, d.device, d.float16 ? "float16" : "float32", Mib(d.vector_bytes),
                     Mib(d.graph_bytes), d.graph_rows ? fmt::format(" ({} rows)", d.graph_rows) : "",
                     Mib(d.budget_bytes));
}

}  // namespace

Result<ResultSet> Session::Impl::ShowMemory() {
  MRLDB_ASSIGN_OR_RETURN(DatabaseMemory m, db_->GetMemory());
  ResultSet r;
  r.columns = {{"what", CellType::kText}, {"bytes", CellType::kBigint}, {"details", CellType::kText}};
  auto row = [&](std::string what, uint64_t bytes, std::string details) {
    r.rows.push_back({Cell{std::move(what)}, Cell{int64_t(bytes)}, Cell{std::move(details)}});
  };
  const uint64_t total = m.TotalBytes();
  if (m.budget_bytes) {
    row("budget", *m.budget_bytes, Mib(*m.budget_bytes));
    row("total", total, fmt::format("{} ({:.0f}% of the budget){}", Mib(total),
                                    100.0 * total / *m.budget_bytes,
                                    m.loading ? "; blocks loading" : ""));
  } else {
    row("budget", 0, "none: every block in memory");
    row("total", total, Mib(total) + (m.loading ? "; blocks loading" : ""));
  }
  if (m.process_rss_bytes) {
    row("process", m.process_rss_bytes,
        fmt::format("{} resident in this process now{}: the parts below plus the program itself "
                    "and free heap the allocator keeps", Mib(m.process_rss_bytes),
                    m.budget_bytes ? fmt::format(" ({:.0f}% of the budget)",
                                                 100.0 * m.process_rss_bytes / *m.budget_bytes)
                                   : std::string()));
  }
  if (m.budget_bytes) {
    row("block cache", m.cache_capacity_bytes,
        fmt::format("RocksDB block cache for blocks read from storage and the memtables: {} used",
                    Mib(m.cache_usage_bytes)));
    row("write buffers", m.write_buffer_bytes,
        fmt::format("RocksDB memtables, in the block cache: flushed past {}",
                    Mib(m.write_buffer_limit_bytes)));
  } else {
    row("block cache", m.cache_capacity_bytes,
        fmt::format("RocksDB block cache for blocks read from storage: {} used", Mib(m.cache_usage_bytes)));
    row("write buffers", m.write_buffer_bytes, "RocksDB memtables");
  }
  row("table readers", m.table_reader_bytes, "RocksDB SST index and filter blocks");
  // Device memory is not counted against the budget: its own row, and one per collection.
  if (!m.gpu) {
    row("gpu", 0, "no GPU: " + m.gpu_unavailable);
  } else {
    row("gpu", m.gpu->total_memory,
        fmt::format("GPU {}: {}, {} total, {}", m.gpu->index, m.gpu->name, Mib(m.gpu->total_memory),
                    m.gpu->free_memory ? Mib(m.gpu->free_memory) + " free"
                                       : std::string("free memory read once a device copy exists")));
  }
  for (const auto& [name, u] : m.collections) {
    auto spec = db_->DescribeCollection(name);
    if (!spec.ok()) continue;  // dropped meanwhile
    row(name + ": graph", u.graph_bytes, "HNSW graph (codes or prefix vectors, links)");
    row(name + ": blocks", u.blocks_bytes, Residency(u, spec->spec));
    row(name + ": row state", u.row_state_bytes,
        fmt::format("{} rows, {:.0f} bytes per row (ids, attributes, liveness)", u.rows,
                    u.rows ? double(u.row_state_bytes) / u.rows : 0.0));
    if (m.gpu || u.device.copy) {
      row(name + ": device", u.device.vector_bytes + u.device.graph_bytes, DeviceUse(u.device, u.rows));
    }
  }
  r.tag = fmt::format("SHOW {}", r.rows.size());
  return r;
}

Result<ResultSet> Session::Impl::Describe(const query::Describe& s, const query::Position& pos) {
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(s.name, s.name_pos));
  MRLDB_ASSIGN_OR_RETURN(CollectionInfo info, db_->DescribeCollection(spec.name));
  ResultSet r;
  r.columns = {{"column", CellType::kText}, {"type", CellType::kText}, {"details", CellType::kText}};
  for (int c : spec.ColumnOrder()) {  // as CREATE declared them
    if (c == CollectionSpec::kIdColumn) {
      r.rows.push_back({Cell{spec.id_column}, Cell{std::string(IdTypeName(spec.id_type))},
                        Cell{"PRIMARY KEY"}});
    } else if (c == CollectionSpec::kVectorColumn) {
      r.rows.push_back({Cell{spec.vector_column}, Cell{fmt::format("VECTOR({})", spec.dim)},
                        Cell{fmt::format("MATRYOSHKA ({}) METRIC {}",
                                         fmt::join(spec.granularities, ", "), MetricName(spec.metric))}});
    } else {
      const ColumnDef& a = spec.attributes[c];
      r.rows.push_back({Cell{a.name}, Cell{std::string(AttrTypeName(a.type))}, Cell{std::string()}});
    }
  }
  r.rows.push_back({Cell{"(index)"}, Cell{"HNSW"},
                    Cell{fmt::format("index_dim {}, m {}, ef_construction {}, ef_search {}, "
                                     "graph_codes {}; {} rows indexed, {} pending; {:.1f} MiB",
                                     spec.index_dim, spec.hnsw.m, spec.hnsw.ef_construction,
                                     spec.hnsw.ef_search, GraphCodesName(spec.hnsw.codes),
                                     info.index_live_rows, info.index_pending_rows,
                                     info.index_memory_bytes / 1048576.0)}});
  r.rows.push_back({Cell{"(plan)"}, Cell{"DEFAULT"}, Cell{info.plan_in_force + " (k = 10)"}});
  r.rows.push_back({Cell{"(plan_source)"}, Cell{std::string(PlanSourceName(info.spec.default_plan.source))},
                    Cell{PlanSourceText(info.spec.default_plan)}});
  r.rows.push_back({Cell{"(target_recall)"}, Cell{"FLOAT"}, Cell{fmt::format("{}", info.spec.target_recall)}});
  if (info.spec.graph_advice.rows > 0) {
    r.rows.push_back({Cell{"(graph_choice)"}, Cell{"TEXT"},
                      Cell{fmt::format("at {} rows: {}", info.spec.graph_advice.rows,
                                       info.spec.graph_advice.note)}});
  }
  if (info.spec.analysis.rows > 0) {
    r.rows.push_back({Cell{"(analysis)"}, Cell{"TEXT"},
                      Cell{fmt::format("ANALYZE at {} rows ({} queries): {}", info.spec.analysis.rows,
                                       info.spec.analysis.sample, info.spec.analysis.verdict)}});
  }
  for (const PredictCalibration& c : info.spec.calibrations) {
    r.rows.push_back({Cell{"(predict)"}, Cell{c.label},
                      Cell{fmt::format("TUNE PREDICT at {} rows: CASCADE ({}) K {} VOTE {} SHORTLIST "
                                       "{} CONFIDENCE {}; held-back accuracy {:.4f} (full-dimension "
                                       "k-NN {:.4f}), mean dims {:.1f}{}",
                                       c.rows, fmt::join(c.cascade, ", "), c.k, VoteRuleName(c.vote),
                                       c.shortlist, c.confidence, c.accuracy, c.full_accuracy,
                                       c.mean_dims, c.reached ? "" : ", short of the margin")}});
  }
  const MemoryUse& m = info.memory;
  r.rows.push_back({Cell{"(memory)"}, Cell{"BYTES"},
                    Cell{fmt::format("graph {}, vector blocks {} ({}), row state {} ({:.0f} bytes "
                                     "per row)", Mib(m.graph_bytes), Mib(m.blocks_bytes),
                                     Residency(m, spec), Mib(m.row_state_bytes),
                                     m.rows ? double(m.row_state_bytes) / m.rows : 0.0)}});
  r.rows.push_back({Cell{"(device)"}, Cell{"BYTES"}, Cell{DeviceUse(m.device, m.rows)}});
  r.rows.push_back({Cell{"(rows)"}, Cell{"BIGINT"}, Cell{std::to_string(info.live_rows)}});
  r.tag = "DESCRIBE";
  return r;
}

Result<ResultSet> Session::Impl::Alter(const query::AlterCollection& s, const query::Position& pos) {
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(s.name, s.name_pos));
  if (s.add_column || s.drop_column) return AlterColumns(s, spec);
  AlterOptions a;
  std::optional<SearchPlan> plan;
  for (const query::Option& o : s.options) {
    if (o.key == "index_dim") {
      MRLDB_ASSIGN_OR_RETURN(a.index_dim, UintOption(o, 1, 65536));
    } else if (o.key == "m") {
      MRLDB_ASSIGN_OR_RETURN(a.m, UintOption(o, 2, 256));
    } else if (o.key == "ef_construction") {
      MRLDB_ASSIGN_OR_RETURN(a.ef_construction, UintOption(o, 1, 100000));
    } else if (o.key == "ef_search" || o.key == "ef") {
      MRLDB_ASSIGN_OR_RETURN(a.ef_search, UintOption(o, 1, 100000));
    } else if (o.key == "graph_codes") {
      MRLDB_ASSIGN_OR_RETURN(a.codes, CodesOption(o));
    } else if (o.key == "target_recall") {
      MRLDB_ASSIGN_OR_RETURN(a.target_recall, RecallOption(o));
    } else if (o.key == "plan" || o.key == "default_plan") {
      const auto* p = std::get_if<query::PlanSpec>(&o.value);
      if (!p) return ErrorAt(o.pos, "plan must be FUNNEL (...) or DEFAULT");
      MRLDB_ASSIGN_OR_RETURN(SearchPlan bound, query::BindPlan(*p));
      plan = bound;
    } else {
      return ErrorAt(o.pos, fmt::format("unknown option \"{}\" (options: index_dim, m, "
                                        "ef_construction, ef_search, graph_codes, target_recall, "
                                        "plan)", o.key));
    }
  }
  if (a.index_dim || a.m || a.ef_construction || a.ef_search || a.codes || a.target_recall) {
    Status st = db_->AlterCollection(spec.name, a);
    if (!st.ok()) return st.WithPosition(pos.line, pos.column);
  }
  if (plan) {
    Status st = db_->SetDefaultPlan(spec.name, *plan);
    if (!st.ok()) return st.WithPosition(pos.line, pos.column);
  }
  return ResultSet{{}, {}, "ALTER COLLECTION", 0};
}

Result<ResultSet> Session::Impl::AlterColumns(const query::AlterCollection& s,
                                              const CollectionSpec& spec) {
  AlterOptions a;
  if (s.drop_column) {
    const query::NamePos& c = *s.drop_column;
    if (query::SameName(c.name, spec.id_column) || query::SameName(c.name, spec.vector_column)) {
      return ErrorAt(c.pos, fmt::format("column \"{}\" is the {} and cannot be dropped", c.name,
                                        query::SameName(c.name, spec.id_column) ? "PRIMARY KEY"
                                                                                : "vector column"));
    }
    const int attr = spec.AttributeIndex(c.name);
    if (attr < 0) {
      return ErrorAt(c.pos, fmt::format("collection \"{}\" has no column \"{}\"", spec.name, c.name));
    }
    a.drop_column = spec.attributes[attr].name;
  } else {
    const query::ColumnSpec& c = *s.add_column;
    if (c.type == "VECTOR" || c.primary_key) {
      return ErrorAt(c.pos, fmt::format("ADD COLUMN adds an attribute (TEXT, BIGINT, FLOAT or "
                                        "BOOL); a collection has one {}",
                                        c.primary_key ? "PRIMARY KEY" : "VECTOR column"));
    }
    for (const std::string& taken : {spec.id_column, spec.vector_column}) {
      if (query::SameName(c.name, taken)) {
        return ErrorAt(c.pos, fmt::format("collection \"{}\" already has a column \"{}\"",
                                          spec.name, taken));
      }
    }
    if (int attr = spec.AttributeIndex(c.name); attr >= 0) {
      return ErrorAt(c.pos, fmt::format("collection \"{}\" already has a column \"{}\"",
                                        spec.name, spec.attributes[attr].name));
    }
    a.add_column = ColumnDef{c.name, AttrTypeOf(c.type)};
  }
  Status st = db_->AlterCollection(spec.name, a);
  if (!st.ok()) return st.line() ? st : st.WithPosition(s.name_pos.line, s.name_pos.column);
  return ResultSet{{}, {}, "ALTER COLLECTION", 0};
}

Result<ResultSet> Session::Impl::Tune(const query::Tune& s, const query::Position& pos) {
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(s.collection, s.collection_pos));
  TuneOptions o;
  o.target_recall = s.recall;
  if (s.k) o.k = *s.k;
  o.cancel = &cancel_;
  if (s.queries_path) {
    MRLDB_ASSIGN_OR_RETURN(o.queries, ReadQueries(*s.queries_path, spec, s.queries_pos));
  }
  auto report = db_->Tune(spec.name, o);
  if (!report.ok()) return report.status().WithPosition(pos.line, pos.column);
  ResultSet r;
  r.columns = {{"plan", CellType::kText}, {"recall", CellType::kFloat},
               {"held_back_recall", CellType::kFloat}, {"ms_per_query", CellType::kFloat},
               {"reached_target", CellType::kBool}, {"plans_tried", CellType::kBigint},
               {"shapes", CellType::kText}};
  std::string shapes;
  for (const TuneShape& t : report->shapes) {
    shapes += fmt::format("{}{}: recall {:.3f}, {:.3f} ms{}", shapes.empty() ? "" : "; ",
                          t.plan.ToString(), t.recall, t.ms, t.reached ? "" : ", short");
  }
  if (report->analysed) shapes += " (sweeps started from ANALYZE's shortlists)";
  r.rows.push_back({Cell{report->plan.ToString()}, Cell{report->recall},
                    Cell{report->held_back_recall}, Cell{report->ms_per_query},
                    Cell{report->reached_target}, Cell{int64_t(report->plans_tried)},
                    Cell{shapes}});
  r.tag = "TUNE";
  return r;
}

Result<ResultSet> Session::Impl::WaitForIndex(const query::WaitForIndex& s,
                                              const query::Position& pos) {
  IndexWaitOptions o;
  if (s.collection) {
    MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(*s.collection, s.collection_pos));
    o.collection = spec.name;
  }
  o.cancel = &cancel_;
  // The COPY progress channel (a bar in the shell, PROGRESS frames remotely): indexed of live
  // rows. A callback answering false stops the wait as it stops a COPY.
  if (options_.progress) {
    o.progress = [this](const IndexProgress& p) {
      if (!options_.progress({p.indexed_rows, p.live_rows})) cancel_ = true;
    };
  }
  Status st = db_->WaitForIndexing(o);
  if (!st.ok()) {
    if (st.code() == Status::Code::kCancelled) st = Status::Cancelled("WAIT FOR INDEX " + st.message());
    return st.WithPosition(pos.line, pos.column);
  }
  uint64_t indexed = 0;
  for (const std::string& n : s.collection ? std::vector<std::string>{o.collection}
                                           : db_->ListCollections()) {
    auto info = db_->DescribeCollection(n);
    if (info.ok()) indexed += info->index_live_rows;
  }
  return ResultSet{{}, {}, fmt::format("WAIT FOR INDEX {}", indexed), indexed};
}

Result<ResultSet> Session::Impl::Backup(const query::Backup& s, const query::Position& pos) {
  MRLDB_ASSIGN_OR_RETURN(std::string path, CopyPath(s.path, "BACKUP TO", /*for_write=*/true, s.path_pos));
  // Progress on the COPY channel: bytes of graph files copied (the checkpoint is links).
  auto progress = [this](uint64_t bytes) {
    if (options_.progress && !options_.progress({bytes, std::nullopt})) cancel_ = true;
    return !cancel_.load();
  };
  Status st = db_->Backup(path, progress);
  if (!st.ok()) {
    const bool at_path = st.code() == Status::Code::kInvalidArgument;
    const query::Position& where = at_path ? s.path_pos : pos;
    return st.WithPosition(where.line, where.column);
  }
  return ResultSet{{}, {}, "BACKUP", 0};
}

Result<ResultSet> Session::Impl::Vacuum(const query::Vacuum& s, const query::Position& pos) {
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(s.collection, s.collection_pos));
  VacuumOptions o;
  o.cancel = &cancel_;
  // The COPY progress channel: rows whose row groups were gone through, of the rows stored.
  if (options_.progress) {
    o.progress = [this](const VacuumProgress& p) {
      if (!options_.progress({p.rows_done, p.rows_total})) cancel_ = true;
    };
  }
  auto r = db_->Vacuum(spec.name, o);
  if (!r.ok()) return r.status().WithPosition(pos.line, pos.column);
  ResultSet out;
  out.columns = {{"dead_rows", CellType::kBigint},         {"groups_rewritten", CellType::kBigint},
                 {"bytes_freed", CellType::kBigint},       {"disk_bytes_before", CellType::kBigint},
                 {"disk_bytes_after", CellType::kBigint}};
  out.rows.push_back({Cell{int64_t(r->dead_rows)}, Cell{int64_t(r->groups_rewritten)},
                      Cell{int64_t(r->bytes_freed)}, Cell{int64_t(r->disk_bytes_before)},
                      Cell{int64_t(r->disk_bytes_after)}});
  out.tag = "VACUUM";
  return out;
}

}  // namespace mrldb
