// mrldb-bench: measured performance of mrldb, with peers on the same data in the same run.
//
//   mrldb-bench storage [--rows N] [--dim D] [--batch B] [--sync-rows N] [--repeat R]
//                       [--dir DIR] [--json FILE]
//
// `storage`: durable insert rate (WAL on; without and with fsync per batch), then prefix-scan
// throughput from storage at every granularity against the full-dimension scan, and exact
// search over the in-memory column cache at every granularity. Medians of --repeat runs.
// The other subcommands live in their own files (bench/commands.h); every subcommand's options
// are parsed by CLI11 (cli/cli.h): `mrldb-bench SUBCOMMAND --help` lists them.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/measure.h"
#include "bench/commands.h"

#include "mrldb/database.h"
#include "mrldb/synthetic.h"

namespace {

using mrldb::bench::Median;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

[[noreturn]] void Die(const std::string& what, const mrldb::Status& st) {
  fmt::print(stderr, "mrldb-bench: {}: {}\n", what, st.ToString());
  std::exit(1);
}

struct Args {
  size_t rows = 200000;
  uint32_t dim = 768;
  size_t batch = 1000;
  size_t sync_rows = 50000;
  int repeat = 5;
  std::string dir;
  std::string json;
};

// Inserts rows [0, n) of `data` in batches; returns vectors per second.
double InsertAll(mrldb::Database& db, const std::vector<float>& data, uint32_t dim, size_t n,
                 size_t batch_rows, bool sync) {
  mrldb::WriteOptions wo;
  wo.sync = sync ? 1 : 0;
  mrldb::InsertBatch batch;
  double busy = 0;
  for (size_t first = 0; first < n; first += batch_rows) {
    batch.Clear();
    batch.Reserve(batch_rows, dim);
    const size_t count = std::min(batch_rows, n - first);
    for (size_t i = first; i < first + count; ++i) {
      batch.Add(mrldb::Key{static_cast<int64_t>(i)},
                std::span<const float>(data.data() + i * dim, dim));
    }
    auto t0 = Clock::now();  // building the batch is the caller's work, not the database's
    mrldb::Status st = db.Insert("bench", batch, wo);
    busy += Seconds(t0, Clock::now());
    if (!st.ok()) Die("insert", st);
  }
  return n / busy;
}

std::unique_ptr<mrldb::Database> Fresh(const std::string& path, uint32_t dim) {
  std::filesystem::remove_all(path);
  auto db = mrldb::Database::Open(path);
  if (!db.ok()) Die("open", db.status());
  mrldb::CollectionSpec spec;
  spec.name = "bench";
  spec.dim = dim;
  spec.id_type = mrldb::IdType::kBigint;
  spec.metric = mrldb::Metric::kInnerProduct;
  if (auto st = (*db)->CreateCollection(spec); !st.ok()) Die("create", st);
  return std::move(db).value();
}

int Storage(const Args& a) {
  const std::string root = a.dir.empty()
      ? (std::filesystem::temp_directory_path() / "mrldb-bench-storage").string() : a.dir;
  mrldb::SyntheticOptions so;
  so.dim = a.dim;
  mrldb::SyntheticGenerator gen(so);
  fmt::print("generating {} x {} synthetic vectors...\n", a.rows, a.dim);
  std::vector<float> data = gen.Rows(0, a.rows);

  std::string json = "{\n  \"benchmark\": \"storage\",\n";
  json += fmt::format("  \"rows\": {}, \"dim\": {}, \"batch\": {},\n", a.rows, a.dim, a.batch);

  // 1. Insert without fsync (WAL written, OS-buffered) and with fsync per batch.
  auto db = Fresh(root + "/nosync", a.dim);
  const double rate = InsertAll(*db, data, a.dim, a.rows, a.batch, /*sync=*/false);
  double sync_rate = 0;
  {
    const size_t n = std::min(a.sync_rows, a.rows);
    auto sdb = Fresh(root + "/sync", a.dim);
    sync_rate = InsertAll(*sdb, data, a.dim, n, a.batch, /*sync=*/true);
  }
  std::filesystem::remove_all(root + "/sync");
  fmt::print("\ninsert, {} dims, batches of {} (WAL on):\n", a.dim, a.batch);
  fmt::print("  no fsync   {:>10.0f} vectors/s  ({:.0f} MB/s of vectors)\n", rate,
             rate * a.dim * 4 / 1e6);
  fmt::print("  fsync      {:>10.0f} vectors/s  ({} rows)\n", sync_rate,
             std::min(a.sync_rows, a.rows));
  json += fmt::format("  \"insert_vectors_per_s\": {:.0f},\n  \"insert_sync_vectors_per_s\": {:.0f},\n",
                      rate, sync_rate);

  // 2. Prefix scans from storage (SST files in the OS page cache), with the background indexer
  // finished so that it does not share the cores with what is measured.
  auto t0 = Clock::now();
  if (auto st = db->WaitForIndexing(); !st.ok()) Die("indexing", st);
  fmt::print("background HNSW indexing finished {:.2f} s after the last insert\n",
             Seconds(t0, Clock::now()));
  t0 = Clock::now();
  if (auto st = db->Flush(); !st.ok()) Die("flush", st);
  fmt::print("flush + full compaction: {:.2f} s\n", Seconds(t0, Clock::now()));
  const auto ladder = mrldb::DefaultLadder(a.dim);
  struct Acc {
    double sum = 0;
  };
  auto sink = [](void* ctx, size_t n, const uint64_t*, const float* v) {
    static_cast<Acc*>(ctx)->sum += v[0] + v[n - 1];
  };
  std::vector<double> scan_s;
  for (uint32_t g : ladder) {
    std::vector<double> times;
    for (int r = 0; r < a.repeat; ++r) {
      Acc acc;
      auto s0 = Clock::now();
      auto stats = db->ScanPrefix("bench", g, sink, &acc);
      times.push_back(Seconds(s0, Clock::now()));
      if (!stats.ok()) Die("scan", stats.status());
    }
    scan_s.push_back(Median(times));
  }
  // 3. Exact search over the in-memory cache, one query at a time.
  std::vector<float> queries = gen.Queries(0, a.repeat);
  std::vector<double> exact_s;
  for (uint32_t g : ladder) {
    std::vector<double> times;
    mrldb::ExactSearchOptions o;
    o.k = 10;
    o.dims = g;
    for (int r = 0; r < a.repeat; ++r) {
      auto s0 = Clock::now();
      auto hits = db->ExactSearch("bench", std::span<const float>(queries.data() + r * a.dim, a.dim), o);
      times.push_back(Seconds(s0, Clock::now()));
      if (!hits.ok()) Die("exact search", hits.status());
    }
    exact_s.push_back(Median(times));
  }
  const double full_scan = scan_s.back(), full_exact = exact_s.back();
  fmt::print("\n{:>6} {:>14} {:>12} {:>10} {:>16} {:>10}\n", "dims", "scan rows/s", "scan MB/s",
             "vs full", "exact query ms", "vs full");
  json += "  \"prefix\": [\n";
  for (size_t i = 0; i < ladder.size(); ++i) {
    const double rows_s = a.rows / scan_s[i];
    fmt::print("{:>6} {:>14.0f} {:>12.0f} {:>9.2f}x {:>16.2f} {:>9.2f}x\n", ladder[i], rows_s,
               rows_s * ladder[i] * 4 / 1e6, full_scan / scan_s[i], exact_s[i] * 1e3,
               full_exact / exact_s[i]);
    json += fmt::format(
        "    {{\"dims\": {}, \"scan_rows_per_s\": {:.0f}, \"scan_speedup_vs_full\": {:.3f}, "
        "\"exact_query_ms\": {:.3f}, \"exact_speedup_vs_full\": {:.3f}}}{}\n",
        ladder[i], rows_s, full_scan / scan_s[i], exact_s[i] * 1e3, full_exact / exact_s[i],
        i + 1 < ladder.size() ? "," : "");
  }
  json += "  ]\n}\n";
  if (auto st = db->Close(); !st.ok()) Die("close", st);
  std::filesystem::remove_all(root);
  if (!a.json.empty()) {
    FILE* f = std::fopen(a.json.c_str(), "w");
    if (!f) {
      fmt::print(stderr, "mrldb-bench: cannot write {}\n", a.json);
      return 1;
    }
    std::fputs(json.c_str(), f);
    std::fclose(f);
  }
  return 0;
}

void AddStorageBench(CLI::App* app, mrldb::bench::Runner* run) {
  using mrldb::cli::Integer;
  auto a = std::make_shared<Args>();
  CLI::App* storage = app->add_subcommand(
      "storage", "durable insert rate, prefix-scan throughput and exact search at every granularity");
  storage->add_option("--rows", a->rows, "rows (default 200000)")->check(Integer(1));
  storage->add_option("--dim", a->dim, "dimension (default 768)")->check(Integer(1, 65536));
  storage->add_option("--batch", a->batch, "rows per insert (default 1000)")->check(Integer(1));
  storage->add_option("--sync-rows", a->sync_rows, "rows of the fsync-per-batch insert (default 50000)")
      ->check(Integer(0));
  storage->add_option("--repeat", a->repeat, "runs, the median reported (default 5)")->check(Integer(1));
  storage->add_option("--dir", a->dir, "working directory (default: a temporary one)")->type_name("DIR");
  storage->add_option("--json", a->json, "results as JSON")->type_name("FILE");
  storage->callback([a, run] { *run = [a] { return Storage(*a); }; });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mrldb-bench: measured performance of mrldb, with peers on the same data in the "
               "same run (docs/benchmarks.md).",
               "mrldb-bench"};
  mrldb::cli::Setup(&app);
  app.require_subcommand(1);
  std::string command;  // the command line as typed, for the reports
  for (int i = 0; i < argc; ++i) {
    const std::string s = argv[i];
    const bool plain = s.find_first_of(" '\"\\$") == std::string::npos && !s.empty();
    command += (i ? " " : "") + (plain ? s : "'" + s + "'");
  }
  mrldb::bench::Runner run;
  AddStorageBench(&app, &run);
  mrldb::bench::AddSearchBench(&app, &run, command);
  mrldb::bench::AddGraphBench(&app, &run);
  mrldb::bench::AddGpuBench(&app, &run);
  mrldb::bench::AddRecoveryBench(&app, &run);
  mrldb::bench::AddLoadBench(&app, &run);
  mrldb::bench::AddPredictBench(&app, &run);
  mrldb::bench::AddVacuumBench(&app, &run);
  mrldb::bench::AddTieredBench(&app, &run, command);
  if (int rc = mrldb::cli::Parse(&app, argc, argv); rc >= 0) return rc;
  return run();
}
