// mrldb-bench tiered: a collection larger than the memory budget (issue 14's benchmark).
//
//   Ingest     Synthetic Matryoshka rows (mrldb/synthetic.h, --seed) generated in batches of
//              --batch on --build-threads threads (deterministic by seed and row index) and
//              inserted through Database::Insert into a BIGINT-id collection of a database opened
//              with --memory-budget: WAL on, no fsync per batch (DatabaseOptions::sync's
//              default). Durable rate = rows / time in Insert (generating a batch is the caller's
//              work); indexed = first Insert until WaitForIndexing returns; then WaitForTuning
//              (the background tuner's default plan) and Close.
//   Truth      Exact top-k at full dims over the same rows regenerated chunk by chunk
//              (bench/streaming_truth.h), never all in memory; cached in --dir. The first
//              --verify-truth queries are checked against the engine's SearchPlan::Exact().
//   Queries    Fresh draws of the generator's query stream (never stored rows): nq measured, 50
//              more to warm up, --stats-queries more for the per-stage storage counters.
//   Search     Per --threads count T: the database reopened with DatabaseOptions::threads = T and
//              the budget, resident blocks waited for, then T client threads each one Search at a
//              time: QPS, p50/p99 latency, recall@k, for the default plan and each --sweep funnel.
//   Disk       O_DIRECT 4 KiB random reads over the database's SST files (bench/disk_probe.h) at
//              each --probe-threads queue depth; the ceiling a plan implies is the best reads/s
//              over its storage reads per query.
//   Memory     VmRSS sampled every 20 ms (bench/rss_sampler.h) per phase, and VmHWM at the end:
//              the peak over the whole run, against the budget.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include "bench/commands.h"
#include "bench/disk_probe.h"
#include "bench/measure.h"
#include "bench/rss_sampler.h"
#include "bench/streaming_truth.h"
#include "bench/tiered_bench.h"
#include "bench/tiered_report.h"
#include "mrldb/synthetic.h"

namespace mrldb::bench {
namespace {

namespace fs = std::filesystem;
constexpr const char* kCollection = "bench";
constexpr size_t kWarmupQueries = 50;

void Progress(const std::string& s) { fmt::print(stderr, "[tiered] {}\n", s); }

SyntheticOptions Synthetic(const TieredArgs& a) {
  SyntheticOptions so;
  so.dim = static_cast<uint32_t>(a.dim);
  so.seed = a.seed;
  return so;
}

// Waits for the index build, printing `what` with the rows indexed every 30 s (seconds since
// `since`).
Status WaitIndexed(Database* db, std::string_view what, Clock::time_point since) {
  IndexWaitOptions wo;
  auto last = Clock::now();
  wo.progress = [&](const IndexProgress& p) {
    if (Since(last) < 30) return;
    last = Clock::now();
    Progress(fmt::format("{}: {} of {} rows, {:.0f} s, RSS {:.0f} MiB", what, p.indexed_rows,
                         p.live_rows, Since(since), RssMiB()));
  };
  return db->WaitForIndexing(wo);
}

// Streams rows [0, rows) into the collection; fills r's ingest figures.
Status Ingest(const TieredArgs& a, const std::string& path, RssSampler& rss, TieredResult* r) {
  std::error_code ec;
  fs::remove_all(path, ec);
  DatabaseOptions dbo;
  dbo.threads = r->build_threads;
  dbo.memory_budget_bytes = a.budget_bytes;
  dbo.auto_tune = !a.no_auto_tune;
  dbo.storage_read_depth = a.read_depth;
  MRLDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path, dbo));
  CollectionSpec spec;
  spec.name = kCollection;
  spec.id_type = IdType::kBigint;
  spec.dim = static_cast<uint32_t>(a.dim);
  spec.metric = a.metric_value;
  if (a.m) spec.hnsw.m = static_cast<uint32_t>(a.m);
  if (a.ef_construction) spec.hnsw.ef_construction = static_cast<uint32_t>(a.ef_construction);
  if (!a.graph_codes.empty()) {
    spec.hnsw.codes = a.graph_codes == "int8" ? GraphCodes::kInt8 : GraphCodes::kFloat32;
  }
  MRLDB_RETURN_IF_ERROR(db->CreateCollection(spec));
  const SyntheticGenerator gen(Synthetic(a));
  std::vector<float> rows(a.batch * a.dim);
  InsertBatch batch;
  double busy = 0;
  const unsigned threads = r->build_threads;
  const auto start = Clock::now();
  auto last_note = start;
  for (uint64_t first = 0; first < a.rows; first += a.batch) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(a.batch, a.rows - first));
    const size_t slice = (n + threads - 1) / threads;
    MRLDB_RETURN_IF_ERROR(ParallelFor(threads, threads, [&](size_t t) {
      const size_t lo = std::min(n, t * slice), hi = std::min(n, lo + slice);
      if (hi > lo) gen.Fill(first + lo, hi - lo, rows.data() + lo * a.dim);
    }));
    batch.Clear();
    batch.Reserve(n, a.dim);
    for (size_t i = 0; i < n; ++i) {
      batch.Add(Key{static_cast<int64_t>(first + i)},
                std::span<const float>(rows.data() + i * a.dim, a.dim));
    }
    const auto t0 = Clock::now();
    MRLDB_RETURN_IF_ERROR(db->Insert(kCollection, batch));
    busy += Since(t0);
    if (Since(last_note) >= 15 || first + n == a.rows) {
      last_note = Clock::now();
      Progress(fmt::format("inserted {} of {} rows ({:.0f} rows/s in Insert, {:.0f} s), RSS {:.0f} "
                           "MiB", first + n, a.rows, (first + n) / busy, Since(start), RssMiB()));
    }
  }
  r->ingest_insert_s = busy;
  r->ingest_wall_s = Since(start);
  MRLDB_RETURN_IF_ERROR(WaitIndexed(db.get(), "indexed since the first insert", start));
  r->indexed_s = Since(start);
  Progress(fmt::format("indexed every row {:.1f} s after the first insert", r->indexed_s));
  const auto tune0 = Clock::now();
  MRLDB_RETURN_IF_ERROR(db->WaitForTuning());
  r->tuning_s = Since(tune0);
  r->peak_ingest_mib = rss.TakePeak();
  MRLDB_ASSIGN_OR_RETURN(CollectionInfo info, db->DescribeCollection(kCollection));
  MRLDB_ASSIGN_OR_RETURN(r->ingest_memory, db->GetMemory());
  // What the allocator holds beyond what is in use: RSS before and after malloc_trim (glibc
  // returns the free pages of its heaps), the database still open.
  r->rss_before_trim_mib = RssMiB();
  malloc_trim(0);
  r->rss_after_trim_mib = RssMiB();
  r->ingest_use = info.memory;
  r->graph = fmt::format("m {}, ef_construction {}, {} codes, index_dim {}", info.spec.hnsw.m,
                         info.spec.hnsw.ef_construction,
                         info.spec.hnsw.codes == GraphCodes::kInt8 ? "int8" : "float32",
                         info.spec.index_dim);
  Progress(fmt::format("default plan {} (background tuning {:.1f} s); peak RSS {:.0f} MiB",
                       info.plan_in_force, r->tuning_s, r->peak_ingest_mib));
  const auto close0 = Clock::now();
  MRLDB_RETURN_IF_ERROR(db->Close());
  r->close_s = Since(close0);
  return Status::Ok();
}

// The exact neighbours of the queries: from the cache file when it is there, else streamed.
Result<std::vector<int64_t>> Truth(const TieredArgs& a, const std::vector<float>& queries,
                                   const std::string& cache, TieredResult* r) {
  const std::string header = fmt::format("mrldb-bench tiered truth v1 rows {} dim {} nq {} k {} "
                                         "metric {} seed {}\n", a.rows, a.dim, a.nq, a.k,
                                         MetricName(a.metric_value), a.seed);
  std::vector<int64_t> ids(a.nq * a.k);
  if (std::ifstream in(cache, std::ios::binary); in) {
    std::string line;
    std::getline(in, line);
    if (line + "\n" == header &&
        in.read(reinterpret_cast<char*>(ids.data()), ids.size() * sizeof(int64_t))) {
      Progress("ground truth read from " + cache);
      r->truth_cached = true;
      return ids;
    }
  }
  const SyntheticGenerator gen(Synthetic(a));
  StreamingTruthOptions o;
  o.k = static_cast<uint32_t>(a.k);
  o.metric = a.metric_value;
  o.threads = r->build_threads;
  const auto t0 = Clock::now();
  auto last = t0;
  o.progress = [&](uint64_t done) {
    if (Since(last) < 30) return;
    last = Clock::now();
    Progress(fmt::format("ground truth: {} of {} rows, {:.0f} s", done, a.rows, Since(t0)));
  };
  MRLDB_ASSIGN_OR_RETURN(ids, StreamingExactTopK([&](uint64_t first, size_t n, float* out) {
    gen.Fill(first, n, out);
  }, a.rows, static_cast<uint32_t>(a.dim), queries.data(), a.nq, o));
  r->truth_s = Since(t0);
  Progress(fmt::format("ground truth (streaming exact scan at {} dims): {:.1f} s", a.dim,
                       r->truth_s));
  std::ofstream out(cache, std::ios::binary | std::ios::trunc);
  out << header;
  out.write(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(int64_t));
  if (!out) Progress("cannot write " + cache + " (the truth is not cached)");
  return ids;
}

// The engine's exact search on the first a.verify_truth queries against the streamed truth.
Status VerifyTruth(const TieredArgs& a, const std::string& path, const std::vector<float>& queries,
                   const std::vector<int64_t>& truth, TieredResult* r) {
  const size_t n = std::min(a.verify_truth, a.nq);
  if (n == 0) return Status::Ok();
  DatabaseOptions dbo;
  dbo.threads = r->build_threads;
  dbo.memory_budget_bytes = a.budget_bytes;
  dbo.auto_tune = !a.no_auto_tune;
  dbo.storage_read_depth = a.read_depth;
  dbo.create_if_missing = false;
  MRLDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path, dbo));
  SearchOptions o;
  o.k = static_cast<uint32_t>(a.k);
  o.plan = SearchPlan::Exact();
  const auto t0 = Clock::now();
  MRLDB_ASSIGN_OR_RETURN(auto res, db->SearchBatch(kCollection, std::span<const float>(
      queries.data(), n * a.dim), n, o));
  std::vector<int64_t> got(n * a.k, -1);
  for (size_t q = 0; q < n; ++q) {
    for (size_t j = 0; j < res[q].size() && j < a.k; ++j) got[q * a.k + j] = std::get<int64_t>(res[q][j].id);
  }
  r->truth_checked = n;
  r->truth_check_recall = RecallAtK(got, truth, n, a.k);
  Progress(fmt::format("ground truth check: the engine's exact search on {} queries ({:.1f} s) "
                       "finds {:.4f} of the streamed neighbours", n, Since(t0),
                       r->truth_check_recall));
  MRLDB_RETURN_IF_ERROR(db->Close());
  if (r->truth_check_recall < 0.99) {
    return Status::Internal(fmt::format("the streamed ground truth disagrees with the engine's "
                                        "exact search (recall {:.4f})", r->truth_check_recall));
  }
  return Status::Ok();
}

void DiskUsage(const std::string& path, TieredResult* r) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const uint64_t size = it->file_size(ec);
    r->disk_bytes += size;
    if (it->path().extension() == ".sst") {
      r->sst_bytes += size;
      r->sst_files.push_back(it->path().string());
    }
  }
}

Status Run(const TieredArgs& a, TieredResult* r) {
  r->start_rss_mib = RssMiB();
  RssSampler rss;
  r->build_threads = a.build_threads ? static_cast<unsigned>(a.build_threads)
                                     : std::max(1u, std::thread::hardware_concurrency());
  const bool temp = a.dir.empty();
  const std::string dir = temp ? (fs::temp_directory_path() /
                                  fmt::format("mrldb-bench-tiered-{}", getpid())).string() : a.dir;
  fs::create_directories(dir);
  const std::string path = dir + "/db";
  const SyntheticGenerator gen(Synthetic(a));
  const std::vector<float> queries = gen.Queries(0, a.nq);
  const std::vector<float> warmup = gen.Queries(a.nq, kWarmupQueries);
  const std::vector<float> stats_set = gen.Queries(a.nq + kWarmupQueries, a.stats_queries);
  r->base_rss_mib = RssMiB();

  MRLDB_ASSIGN_OR_RETURN(std::vector<int64_t> truth,
                         Truth(a, queries, dir + fmt::format("/truth-{}-{}-{}.bin", a.rows, a.nq,
                                                             a.k), r));
  r->peak_truth_mib = rss.TakePeak();
  if (a.reuse && fs::exists(path + "/CURRENT")) {
    r->reused = true;
    Progress("reusing the database in " + path);
  } else {
    Progress(fmt::format("ingest: {} x {} synthetic Matryoshka rows in batches of {}, budget {}",
                         a.rows, a.dim, a.batch, a.memory_budget.empty() ? "none" : a.memory_budget));
    MRLDB_RETURN_IF_ERROR(Ingest(a, path, rss, r));
  }
  {
    DatabaseOptions dbo;
    dbo.create_if_missing = false;
    dbo.memory_budget_bytes = a.budget_bytes;
    dbo.auto_tune = !a.no_auto_tune;
    dbo.storage_read_depth = a.read_depth;
    MRLDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path, dbo));
    MRLDB_ASSIGN_OR_RETURN(CollectionInfo info, db->DescribeCollection(kCollection));
    if (info.live_rows != a.rows || info.spec.dim != a.dim) {
      return Status::InvalidArgument(fmt::format(
          "{} holds {} x {} rows, not {} x {} (run without --reuse to rebuild)", path,
          info.live_rows, info.spec.dim, a.rows, a.dim));
    }
    if (r->reused) {
      // A run stopped before its graph or its tune was done: the open resumes both (the graph
      // is saved as it grows), and the searches wait for them.
      const auto t0 = Clock::now();
      MRLDB_RETURN_IF_ERROR(WaitIndexed(db.get(), "resumed indexing", t0));
      const double indexed = Since(t0);
      const auto tune0 = Clock::now();
      MRLDB_RETURN_IF_ERROR(db->WaitForTuning());
      MRLDB_ASSIGN_OR_RETURN(CollectionInfo done, db->DescribeCollection(kCollection));
      r->peak_ingest_mib = rss.TakePeak();  // the report's "ingest + index" phase
      Progress(fmt::format("reused database: indexed {:.1f} s after the open (the saved graph "
                           "loaded, then the rows it lacked), then tuning {:.1f} s; default plan "
                           "{}; peak RSS {:.0f} MiB", indexed, Since(tune0),
                           done.plan_in_force, r->peak_ingest_mib));
    }
    MRLDB_RETURN_IF_ERROR(db->Close());
  }
  MRLDB_RETURN_IF_ERROR(VerifyTruth(a, path, queries, truth, r));
  DiskUsage(path, r);
  if (!a.no_probe) {
    Progress(fmt::format("disk probe: O_DIRECT 4 KiB random reads over {} SST files ({:.2f} GiB)",
                         r->sst_files.size(), r->sst_bytes / double(1ull << 30)));
    auto probe = ProbeRandomReads(r->sst_files, a.probe_thread_values, a.probe_seconds);
    if (probe.ok()) {
      r->probe = *probe;
      for (const DiskProbePoint& p : probe->points) {
        Progress(fmt::format("disk probe, queue depth {}: {:.0f} reads/s, p50 {:.0f} us, p99 {:.0f} "
                             "us", p.threads, p.reads_per_s, p.p50_us, p.p99_us));
      }
    } else {
      r->probe_error = probe.status().ToString();
      Progress("disk probe failed: " + r->probe_error);
    }
  }
  rss.TakePeak();
  MRLDB_ASSIGN_OR_RETURN(r->search, MeasureSearches(path, a, queries, warmup, stats_set, truth,
                                                    Progress));
  r->peak_search_mib = rss.TakePeak();
  r->peak_sampled_mib = rss.Peak();
  r->vm_hwm_mib = HighWaterMiB();
  if (temp) fs::remove_all(dir);
  return Status::Ok();
}

Result<std::vector<unsigned>> Counts(const std::string& option, const std::string& text) {
  std::vector<std::string> items(1);
  for (char c : text) {
    if (c == ',') {
      items.emplace_back();
    } else {
      items.back() += c;
    }
  }
  std::vector<unsigned> out;
  for (const std::string& s : items) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(s.c_str(), &end, 10);
    if (s.empty() || *end || v == 0 || v > 1024) {
      return Status::InvalidArgument(fmt::format("{}: '{}' is not a count in 1..1024", option, s));
    }
    out.push_back(static_cast<unsigned>(v));
  }
  if (out.empty()) return Status::InvalidArgument(option + ": empty list");
  return out;
}

Status Finish(TieredArgs* a) {
  if (!a->memory_budget.empty()) {
    auto budget = ParseMemoryBudget(a->memory_budget);
    if (!budget.ok()) return Status::InvalidArgument("--memory-budget: " + budget.status().message());
    a->budget_bytes = *budget;
  }
  auto metric = ParseMetric(a->metric);
  if (!metric.ok()) return Status::InvalidArgument("--metric: " + metric.status().message());
  a->metric_value = *metric;
  MRLDB_ASSIGN_OR_RETURN(a->thread_values, Counts("--threads", a->threads));
  MRLDB_ASSIGN_OR_RETURN(a->probe_thread_values, Counts("--probe-threads", a->probe_threads));
  if (!a->sweep.empty()) {
    MRLDB_ASSIGN_OR_RETURN(std::vector<unsigned> sweep, Counts("--sweep", a->sweep));
    std::sort(sweep.begin(), sweep.end());
    for (unsigned v : sweep) {
      if (v < a->k) return Status::InvalidArgument(fmt::format("--sweep: {} is below k {}", v, a->k));
      a->sweep_values.push_back(v);
    }
  }
  if (!a->graph_codes.empty() && a->graph_codes != "int8" && a->graph_codes != "float32") {
    return Status::InvalidArgument("--graph-codes: int8 or float32");
  }
  if (a->reuse && a->dir.empty()) return Status::InvalidArgument("--reuse needs --dir");
  return Status::Ok();
}

}  // namespace

void AddTieredBench(CLI::App* app, Runner* run, std::string command) {
  using cli::Integer;
  auto a = std::make_shared<TieredArgs>();
  CLI::App* t = app->add_subcommand(
      "tiered", "a collection larger than the memory budget: streaming ingest, time until "
                "indexed, peak RSS, recall and QPS of the default plan, storage reads per query "
                "against the disk's random-read rate");
  t->add_option("--rows", a->rows, "rows (default 1000000)")->check(Integer(1));
  t->add_option("--dim", a->dim, "dimension (default 768)")->check(Integer(16, 65536));
  t->add_option("--nq", a->nq, "measured queries (default 1000)")->check(Integer(1));
  t->add_option("--k", a->k, "neighbours (default 10)")->check(Integer(1, 1000));
  t->add_option("--memory-budget", a->memory_budget,
                "DatabaseOptions::memory_budget_bytes (K, M, G, T; default none)")->type_name("S");
  t->add_option("--dir", a->dir, "keeps the database (DIR/db) and the ground truth for re-runs "
                "(default: a temporary directory, removed)")->type_name("DIR");
  t->add_flag("--reuse", a->reuse, "skip the ingest when DIR/db exists");
  t->add_option("--threads", a->threads, "search thread counts (default 1,2)")->type_name("LIST");
  t->add_option("--build-threads", a->build_threads,
                "worker threads of the ingest, the indexer and the ground truth (default: all)")
      ->check(Integer(1, 1024));
  t->add_option("--batch", a->batch, "rows per Insert (default 10000)")->check(Integer(1));
  t->add_option("--metric", a->metric, "cosine, ip or l2 (default cosine)");
  t->add_option("--seed", a->seed, "the generator's seed (default 42)");
  t->add_option("--m", a->m, "HNSW degree (default: the engine's)")->check(Integer(2, 256));
  t->add_option("--ef-construction", a->ef_construction,
                "HNSW build list (default: the engine's)")->check(Integer(1, 10000));
  t->add_option("--graph-codes", a->graph_codes, "int8 or float32 (default: the engine's)");
  t->add_option("--sweep", a->sweep, "also funnels with these stage-0 keeps (QPS at --target "
                "interpolated over them; default none)")->type_name("LIST");
  t->add_option("--target", a->target, "recall for the QPS-at-recall figure (default 0.95)")
      ->check(CLI::Range(0.0, 1.0));
  t->add_option("--verify-truth", a->verify_truth, "queries whose streamed truth is checked "
                "against the engine's exact search (default 10)")->check(Integer(0));
  t->add_option("--stats-queries", a->stats_queries,
                "queries measured with SearchStats (default 200)")->check(Integer(0));
  t->add_option("--probe-threads", a->probe_threads,
                "disk probe queue depths (default 1,2,4,16,64)")->type_name("LIST");
  t->add_option("--probe-seconds", a->probe_seconds, "seconds per depth (default 2)")
      ->check(CLI::Range(0.1, 600.0));
  t->add_flag("--no-probe", a->no_probe, "skip the disk probe");
  t->add_option("--read-depth", a->read_depth,
                "DatabaseOptions::storage_read_depth (0: auto, the default)")->check(Integer(0, 64));
  t->add_flag("--no-auto-tune", a->no_auto_tune,
              "no background analysis and tuning (DatabaseOptions::auto_tune = false): the "
              "default plan is the derived one");
  t->add_option("--json", a->json, "results as JSON")->type_name("FILE");
  t->callback([a, run, command] {
    *run = [a, command]() -> int {
      if (Status st = Finish(a.get()); !st.ok()) {
        fmt::print(stderr, "mrldb-bench tiered: {}\n", st.message());
        return 2;
      }
      fmt::print("$ {}\n", command);
      TieredResult r;
      r.command = command;
      if (Status st = Run(*a, &r); !st.ok()) {
        fmt::print(stderr, "mrldb-bench tiered: {}\n", st.ToString());
        return 1;
      }
      return Report(*a, r);
    };
  });
}

}  // namespace mrldb::bench
