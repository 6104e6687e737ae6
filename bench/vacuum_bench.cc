// mrldb-bench vacuum: the storage VACUUM gives back after deletes and upserts, its time, and
// that searches answer the same before and after.
//
//   mrldb-bench vacuum [--rows N] [--dim D] [--delete F] [--upsert F] [--queries Q]
//                      [--dir DIR] [--keep]
//
// Inserts N synthetic Matryoshka rows (batches of 1000; a cheap graph, m 8 and ef_construction
// 40, so that the run takes seconds), deletes the fraction F of them and replaces (upserts) the
// fraction U of the rest, spread over the collection; flushes and compacts; then VACUUM.
// Reports the size of the RocksDB files (SSTs, WAL, MANIFEST: the directory without the graph
// files), of the graph files, and RocksDB's estimate of the collection's bytes, after the load,
// after the deletes and after the vacuum; the vacuum's time; and how many of the Q default-plan
// and exact searches answer differently after the vacuum (expected: none).
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/commands.h"
#include "bench/measure.h"
#include "mrldb/database.h"
#include "mrldb/synthetic.h"

namespace mrldb::bench {
namespace {

struct Args {
  size_t rows = 100000, queries = 100;
  uint32_t dim = 256;
  double del = 0.5, upsert = 0;
  std::string dir;
  bool keep = false;
};

[[noreturn]] void Fail(const std::string& what, const Status& st) {
  fmt::print(stderr, "mrldb-bench vacuum: {}: {}\n", what, st.ToString());
  std::exit(1);
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) bytes += e.file_size(ec);
  }
  return bytes;
}

double MiB(uint64_t bytes) { return bytes / 1048576.0; }

// Whether row `id` is picked for a fraction `f` (spread evenly over the ids).
bool Picked(uint64_t id, double f, uint64_t salt) {
  const uint64_t h = (id + salt) * 0x9e3779b97f4a7c15ull;
  return double(h >> 11) / double(uint64_t{1} << 53) < f;
}

void Insert(Database& db, const SyntheticGenerator& gen, const Args& a, uint64_t first, size_t n,
            bool upsert) {
  std::vector<float> data(n * a.dim);
  gen.Fill(first, n, data.data());
  InsertBatch b;
  b.Reserve(n, a.dim);
  for (size_t i = 0; i < n; ++i) {
    b.Add(Key{int64_t(first + i)}, std::span<const float>(data.data() + i * a.dim, a.dim));
  }
  Status st = upsert ? db.Upsert("bench", b) : db.Insert("bench", b);
  if (!st.ok()) Fail("insert", st);
}

struct Sizes {
  uint64_t rocksdb = 0, graph = 0, collection = 0;
};

Sizes Measure(Database& db, const std::string& path) {
  if (Status st = db.Flush(); !st.ok()) Fail("flush", st);
  auto info = db.DescribeCollection("bench");
  if (!info.ok()) Fail("describe", info.status());
  const uint64_t graph = DirectoryBytes(path + "/hnsw");
  return {DirectoryBytes(path) - graph, graph, info->disk_bytes};
}

std::vector<std::vector<Hit>> Searches(Database& db, const std::vector<float>& q, const Args& a) {
  std::vector<std::vector<Hit>> out;
  SearchOptions o;
  for (SearchPlan plan : {SearchPlan::Default(), SearchPlan::Exact()}) {
    o.plan = plan;
    auto r = db.SearchBatch("bench", q, a.queries, o);
    if (!r.ok()) Fail("search", r.status());
    out.insert(out.end(), r->begin(), r->end());
  }
  return out;
}

int Vacuum(const Args& a) {
  const std::string root = a.dir.empty()
      ? (std::filesystem::temp_directory_path() / "mrldb-bench-vacuum").string() : a.dir;
  const std::string path = root + "/db";
  std::filesystem::remove_all(root);
  DatabaseOptions o;
  o.auto_tune = false;
  o.auto_vacuum_share = 0;  // the VACUUM below is the one measured
  auto opened = Database::Open(path, o);
  if (!opened.ok()) Fail("open", opened.status());
  Database& db = **opened;
  CollectionSpec spec;
  spec.name = "bench";
  spec.dim = a.dim;
  spec.id_type = IdType::kBigint;
  spec.metric = Metric::kInnerProduct;
  spec.hnsw.m = 8;
  spec.hnsw.ef_construction = 40;
  if (Status st = db.CreateCollection(spec); !st.ok()) Fail("create", st);
  SyntheticOptions so;
  so.dim = a.dim;
  SyntheticGenerator gen(so);
  for (size_t first = 0; first < a.rows; first += 1000) {
    Insert(db, gen, a, first, std::min<size_t>(1000, a.rows - first), false);
  }
  if (Status st = db.WaitForIndexing(); !st.ok()) Fail("indexing", st);
  const Sizes loaded = Measure(db, path);

  std::vector<Key> dead;
  uint64_t replaced = 0;
  for (size_t id = 0; id < a.rows; ++id) {
    if (Picked(id, a.del, 0)) {
      dead.emplace_back(int64_t(id));
    } else if (Picked(id, a.upsert, 7)) {
      // Upserted with the vector of another synthetic row: a new version, the old one dead.
      std::vector<float> v(a.dim);
      gen.Fill(a.rows + id, 1, v.data());
      InsertBatch b;
      b.Add(Key{int64_t(id)}, v);
      if (Status st = db.Upsert("bench", b); !st.ok()) Fail("upsert", st);
      ++replaced;
    }
  }
  for (size_t at = 0; at < dead.size(); at += 10000) {
    const size_t n = std::min<size_t>(10000, dead.size() - at);
    if (auto r = db.Delete("bench", std::span<const Key>(dead.data() + at, n)); !r.ok()) {
      Fail("delete", r.status());
    }
  }
  if (Status st = db.WaitForIndexing(); !st.ok()) Fail("indexing", st);
  const Sizes deleted = Measure(db, path);
  const std::vector<float> queries = gen.Queries(0, a.queries);
  const auto before = Searches(db, queries, a);

  const auto t0 = Clock::now();
  auto report = db.Vacuum("bench");
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!report.ok()) Fail("vacuum", report.status());
  const Sizes vacuumed = Measure(db, path);
  const auto after = Searches(db, queries, a);
  size_t differ = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    bool same = before[i].size() == after[i].size();
    for (size_t j = 0; same && j < before[i].size(); ++j) {
      same = before[i][j].id == after[i][j].id && before[i][j].distance == after[i][j].distance;
    }
    differ += !same;
  }

  fmt::print("{} x {} rows, {} deleted, {} replaced (dead: {} of {} rows stored)\n", a.rows,
             a.dim, dead.size(), replaced, report->dead_rows, a.rows + replaced);
  fmt::print("{:<18} {:>13} {:>11} {:>15}\n", "MiB", "RocksDB files", "graph files",
             "collection est.");
  for (const auto& [name, s] : {std::pair{"after the load", loaded}, {"after the deletes", deleted},
                                {"after VACUUM", vacuumed}}) {
    fmt::print("{:<18} {:>13.1f} {:>11.1f} {:>15.1f}\n", name, MiB(s.rocksdb), MiB(s.graph),
               MiB(s.collection));
  }
  fmt::print("VACUUM: {:.2f} s ({:.0f} rows/s), {} row groups rewritten, {:.1f} MiB of dead rows "
             "dropped; vector storage {:.1f} -> {:.1f} MiB\n", seconds,
             double(a.rows + replaced) / seconds, report->groups_rewritten,
             MiB(report->bytes_freed), MiB(report->disk_bytes_before),
             MiB(report->disk_bytes_after));
  fmt::print("searches after VACUUM: {} of {} differ (default plan and exact, k = 10)\n", differ,
             before.size());
  if (Status st = db.Close(); !st.ok()) Fail("close", st);
  if (!a.keep) std::filesystem::remove_all(root);
  return differ == 0 ? 0 : 1;
}

}  // namespace

void AddVacuumBench(CLI::App* app, Runner* run) {
  using cli::Integer;
  using cli::Number;
  auto a = std::make_shared<Args>();
  CLI::App* c = app->add_subcommand(
      "vacuum", "storage before and after VACUUM of deleted and replaced rows, its time, and "
                "identical searches");
  c->add_option("--rows", a->rows, "rows (default 100000)")->check(Integer(1));
  c->add_option("--dim", a->dim, "dimension (default 256)")->check(Integer(1, 65536));
  c->add_option("--delete", a->del, "fraction of the rows deleted (default 0.5)")
      ->check(Number(0, 1));
  c->add_option("--upsert", a->upsert, "fraction of the rest replaced by an upsert (default 0)")
      ->check(Number(0, 1));
  c->add_option("--queries", a->queries, "queries compared before and after (default 100)")
      ->check(Integer(1, 100000));
  c->add_option("--dir", a->dir, "working directory (default: a temporary one)")->type_name("DIR");
  c->add_flag("--keep", a->keep, "keep the database afterwards");
  c->callback([a, run] { *run = [a] { return Vacuum(*a); }; });
}

}  // namespace mrldb::bench
