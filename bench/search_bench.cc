// mrldb-bench search: mrldb's Matryoshka funnel against hnswlib, FAISS and exact search, on the
// same data and queries, in one run. Each system is built, measured and freed in turn.
//
//   mrldb        A collection (HNSW on the index_dim prefix, M 16, ef_construction 200 or
//                --ef-construction) filled by
//                Insert in batches of 10,000 (BIGINT id = row). Ingest rate: time in Insert.
//                Build time: first Insert until WaitForIndexing returns (a background thread
//                adds committed rows to the graph). Plans: for keep0 in --sweep,
//                Funnel({{index_dim, keep0}, {256, max(k, keep0 / 4)}, {D, 0}}, ef keep0) (no 256
//                stage unless it is on the ladder between index_dim and D), and the default plan.
//   hnswlib      HierarchicalNSW on all D dims, M 16, ef_construction 200, concurrent addPoint
//                from --build-threads threads; ef in --sweep. Its distances call mrldb's SIMD kernels
//                (chosen at run time, like mrldb's): stock hnswlib chooses at compile time and
//                would run SSE code in this build.
//   faiss        IndexRefineFlat(IndexPreTransform(RemapDimensionsTransform(D, index_dim,
//                uniform=false), IndexHNSWFlat(index_dim, 16))), efConstruction 200; efSearch =
//                keep0 and k_factor = keep0 / k: the same prefix-then-refine chain, minus the
//                middle stage. Debian's libfaiss with its own (generic build) kernels.
//   exact-mrldb  SearchPlan::Exact(); exact-own: brute force here (mrldb's kernels, a k-heap).
// Cosine: mrldb gets the raw vectors (it renormalizes each prefix itself); the peers get
// L2-normalized vectors and queries and use inner product, normalizing counted in their build
// time. RemapDimensionsTransform does not renormalize a prefix, so the FAISS chain is assembled
// by hand: IndexHNSWFlat is filled with the index_dim prefixes each renormalized to length 1,
// then wrapped in the IndexPreTransform (whose remap then only sees queries, and a query's scale
// does not change an inner-product ranking) and in IndexRefineFlat(base, xb) with the full
// normalized vectors as refine codes.
// Data: --data, or the synthetic generator (--decay, --clusters, --flat): rows from its row
// stream, queries from its independent query stream. Run counts the queries equal to a stored
// row (hashes of every row; none may be for synthetic data, a warning for files).
// Builds, the ground truth and data preparation run on --build-threads threads (mrldb's database
// is then reopened with --threads for the all-thread QPS).
// QPS "1 thread": one query at a time from one thread; mrldb on its database reopened with
// DatabaseOptions::threads = 1, FAISS under omp_set_num_threads(1). "All threads" (--threads):
// mrldb SearchBatch, one batched FAISS search (OpenMP), threads over the queries for hnswlib and
// exact-own. Exact measurements stop after about kExactBudgetS s. Ground truth: exact top-k at D
// by mrldb (SearchBatch, SearchPlan::Exact()) when its database is built, else by exact-own.
// Memory: "index" = the search structure, "total" = all a search reads (with the vectors).
//   mrldb    DescribeCollection: index_memory_bytes (graph + prefix vectors); total adds
//            memory.blocks_bytes (the resident vector blocks and their norms).
//   hnswlib  computed: max_elements * size_data_per_element_ (level-0 links, vector, label) +
//            upper-level link lists + per-element pointer, level and lock + label map (about 32
//            bytes an entry) + label locks. Index = total.
//   faiss    computed: HNSW neighbors, levels, offsets + n x index_dim floats; total adds the
//            refine IndexFlat's n x D floats.
//   And "RSS+": growth of the resident set across each build (after malloc_trim).
// --breakdown (bench/search_breakdown.h): mrldb's first sweep plan on the one-thread database,
// the whole Search call against SearchStats' stage times.
#include "bench/commands.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include <faiss/Index.h>  // FAISS_VERSION_*
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bench/measure.h"
#include "bench/search_bench.h"
#include "bench/search_breakdown.h"
#include "bench/search_options.h"
#include "bench/search_report.h"
#include "engine/distance.h"
#include "mrldb/database.h"
#include "mrldb/synthetic.h"
#include "query/formats/formats.h"

#ifndef MRLDB_BENCH_PLOT_SCRIPT
#define MRLDB_BENCH_PLOT_SCRIPT "bench/plot_recall_qps.gp"
#endif

namespace mrldb::bench {

void Progress(const std::string& what) { fmt::print(stderr, "[search] {}\n", what); }

void StoreHits(const std::vector<Hit>& hits, uint32_t k, int64_t* out) {
  for (uint32_t j = 0; j < k; ++j) {
    const int64_t* id = j < hits.size() ? std::get_if<int64_t>(&hits[j].id) : nullptr;
    out[j] = id ? *id : -1;
  }
}

namespace {

constexpr double kExactBudgetS = 15;
constexpr size_t kInsertBatch = 10000;

// The vectors of `path` (any format of mrldb::formats, by its extension; ids and attribute
// columns of csv/jsonl files are ignored).
Result<Matrix> ReadVectorFile(const std::string& path) {
  formats::ReadOptions o;
  o.id_field.clear();
  o.ignore_unknown_fields = true;
  MRLDB_ASSIGN_OR_RETURN(formats::Batch all, formats::ReadAll(path, o));
  if (all.rows() == 0) return Status::InvalidArgument(fmt::format("{}: no rows", path));
  return Matrix{all.rows(), all.dim, std::move(all.vectors)};
}



// ---- Exact search in this file -----------------------------------------------------------------

class BruteForce {
 public:
  BruteForce(const Matrix& x, Metric metric) : x_(x), metric_(metric) {
    if (metric != Metric::kCosine) return;
    inv_norm_.resize(x.n);
    for (size_t i = 0; i < x.n; ++i) {
      const float nn = Kernels().dot(x.Row(i), x.Row(i), x.d);
      inv_norm_[i] = nn > 0 ? 1.0f / std::sqrt(nn) : 0.0f;
    }
  }
  // The k closest rows to `q` (closest first, ties by lower row; -1 past the last row).
  void TopK(const float* q, uint32_t k, int64_t* out) const {
    const DistanceKernels& kern = Kernels();
    std::priority_queue<std::pair<float, int64_t>> heap;  // the worst kept row on top
    for (size_t i = 0; i < x_.n; ++i) {
      const float dist = metric_ == Metric::kL2 ? kern.l2sqr(q, x_.Row(i), x_.d)
          : -kern.dot(q, x_.Row(i), x_.d) * (inv_norm_.empty() ? 1.0f : inv_norm_[i]);
      const std::pair<float, int64_t> e(dist, i);
      if (heap.size() < k) {
        heap.push(e);
      } else if (e < heap.top()) {
        heap.pop();
        heap.push(e);
      }
    }
    std::fill(out, out + k, -1);
    for (size_t j = heap.size(); j-- > 0; heap.pop()) out[j] = heap.top().second;
  }

 private:
  const Matrix& x_;
  Metric metric_;
  std::vector<float> inv_norm_;
};

Status RunExactOwn(Bench& b, bool ground_truth) {
  BruteForce bf(b.base, b.a.metric_value);
  SearchRow r = b.NewRow("exact-own", "brute force at D");
  r.total_mib = b.base.n * (b.base.d + 1.0) * 4 / kMiB;
  const uint32_t k = b.k();
  auto search = [&](std::vector<int64_t>* ids, size_t q) {
    bf.TopK(b.queries.Row(q), k, ids->data() + q * k);
  };
  const double budget = ground_truth ? 0 : kExactBudgetS;
  const unsigned threads = ground_truth ? b.build_threads() : b.threads();
  MRLDB_ASSIGN_OR_RETURN(r.all, Timed(b.nq(), budget ? 4 * threads : b.nq(), budget,
                                      [&](size_t first, size_t count) {
    return ParallelFor(count, threads, [&](size_t i) { search(&r.idsn, first + i); });
  }));
  if (ground_truth) {
    b.gt = r.idsn;
    b.gt_timing = r.all;
    return Status::Ok();
  }
  MRLDB_ASSIGN_OR_RETURN(r.one, Timed(b.nq(), 1, budget, [&](size_t q, size_t) {
    search(&r.ids1, q);
    return Status::Ok();
  }));
  b.run.results.push_back(std::move(r));
  return Status::Ok();
}

// ---- mrldb --------------------------------------------------------------------------------------

struct Plan {
  SearchRow row;
  SearchOptions options;
  bool exact = false;
};

std::vector<Plan> MrldbPlans(const Bench& b) {
  std::vector<Plan> plans;
  const uint32_t k = b.k(), g = b.a.index_dim, d = b.base.d;
  const std::vector<uint32_t> ladder = DefaultLadder(d);
  const bool middle = g < 256 && 256 < d && std::count(ladder.begin(), ladder.end(), 256u);
  SearchOptions o;
  o.k = k;
  if (b.a.mrldb) {
    for (uint32_t keep0 : b.a.sweep_values) {
      std::vector<FunnelStage> stages = {{g, keep0}};
      if (middle) stages.push_back({256, std::max(k, keep0 / 4)});
      stages.push_back({d, 0});
      o.plan = SearchPlan::Funnel(stages, keep0);
      std::string text = fmt::format("ef {} funnel", keep0);
      for (const FunnelStage& s : stages) {
        text += s.keep ? fmt::format(" {}:{}", s.dims, s.keep) : fmt::format(" {}", s.dims);
      }
      plans.push_back({b.NewRow("mrldb", text, keep0), o, false});
    }
    o.plan = SearchPlan::Default();
    plans.push_back({b.NewRow("mrldb-default", "default plan"), o, false});
  }
  if (b.a.exact) {
    o.plan = SearchPlan::Exact();
    plans.push_back({b.NewRow("exact-mrldb", "SearchPlan::Exact()"), o, true});
  }
  return plans;
}

Status RunMrldb(Bench& b, const std::string& dir) {
  const Matrix& x = b.base;
  const uint32_t k = b.k();
  const std::string name = "bench";
  DatabaseOptions dbo;
  dbo.threads = b.build_threads();
  dbo.memory_budget_bytes = b.a.memory_budget_bytes;
  MRLDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(dir, dbo));
  CollectionSpec spec;
  spec.name = name;
  spec.id_type = IdType::kBigint;
  spec.dim = x.d;
  spec.metric = b.a.metric_value;
  spec.index_dim = b.a.index_dim;
  spec.hnsw.m = kHnswM;
  spec.hnsw.ef_construction = uint32_t(b.a.ef_construction);
  spec.hnsw.codes = b.a.graph_codes == "float32" ? GraphCodes::kFloat32 : GraphCodes::kInt8;
  if (Status st = db->CreateCollection(spec); !st.ok()) {
    if (!st.IsAlreadyExists()) return st;
    return Status::AlreadyExists(fmt::format("{}: {} already holds a benchmark collection (use "
                                             "an empty --dir)", st.message(), dir));
  }
  Progress(fmt::format("mrldb: inserting {} rows in batches of {}", x.n, kInsertBatch));
  const double rss0 = RssMiB();
  const auto start = Clock::now();
  double busy = 0;
  InsertBatch batch;
  for (size_t first = 0; first < x.n; first += kInsertBatch) {
    const size_t count = std::min(kInsertBatch, x.n - first);
    batch.Clear();
    batch.Reserve(count, x.d);
    for (size_t i = first; i < first + count; ++i) {
      batch.Add(Key{static_cast<int64_t>(i)}, std::span<const float>(x.Row(i), x.d));
    }
    const auto t0 = Clock::now();  // building the batch is the caller's work
    MRLDB_RETURN_IF_ERROR(db->Insert(name, batch));
    busy += Since(t0);
  }
  MRLDB_RETURN_IF_ERROR(db->WaitForIndexing());
  const double build_s = Since(start), rss = RssMiB() - rss0;
  // The default plan is measured as a user gets it: tuned by the database in the background.
  const auto tune_start = Clock::now();
  MRLDB_RETURN_IF_ERROR(db->WaitForTuning());
  MRLDB_ASSIGN_OR_RETURN(CollectionInfo info, db->DescribeCollection(name));
  Progress(fmt::format("mrldb: default plan {} ({}; background tuning took {:.1f} s)",
                       info.plan_in_force, PlanSourceName(info.spec.default_plan.source),
                       Since(tune_start)));
  std::vector<Plan> plans = MrldbPlans(b);
  for (Plan& p : plans) {
    if (p.row.system == "mrldb-default") {  // params are CSV fields: no commas
      p.row.params = "default plan: " + info.plan_in_force;
      std::replace(p.row.params.begin(), p.row.params.end(), ',', ';');
    }
    p.row.build_s = build_s;
    p.row.ingest_s = busy;
    p.row.rss_mib = rss;
    p.row.index_mib = p.exact ? 0 : info.index_memory_bytes / kMiB;
    p.row.total_mib = p.row.index_mib + info.memory.blocks_bytes / kMiB;
  }
  const std::span<const float> queries(b.queries.v);
  auto batch_search = [&](const SearchOptions& o, std::vector<int64_t>* ids) {
    return [&, ids](size_t first, size_t count) -> Status {
      MRLDB_ASSIGN_OR_RETURN(
          auto res, db->SearchBatch(name, queries.subspan(first * x.d, count * x.d), count, o));
      for (size_t i = 0; i < count; ++i) StoreHits(res[i], k, ids->data() + (first + i) * k);
      return Status::Ok();
    };
  };
  if (b.run.ground_truth == "mrldb") {
    Progress("mrldb: ground truth (SearchBatch, SearchPlan::Exact())");
    SearchOptions o;
    o.k = k;
    o.plan = SearchPlan::Exact();
    b.gt.assign(b.nq() * k, -1);
    MRLDB_ASSIGN_OR_RETURN(b.gt_timing, Timed(b.nq(), b.nq(), 0, batch_search(o, &b.gt)));
  }
  if (plans.empty()) return db->Close();  // built only for the ground truth
  auto reopen = [&](unsigned threads) -> Status {
    MRLDB_RETURN_IF_ERROR(db->Close());
    db.reset();
    dbo.threads = threads;
    const auto t0 = Clock::now();
    MRLDB_ASSIGN_OR_RETURN(db, Database::Open(dir, dbo));
    const double open_s = Since(t0);
    // The first query is answered while the graph, the ids and attributes and the resident
    // blocks still load in the background (stage 0 scans; blocks are read from storage).
    SearchOptions first;
    first.k = k;
    MRLDB_RETURN_IF_ERROR(db->Search(name, queries.subspan(0, x.d), first).status());
    const double first_s = Since(t0);
    MRLDB_RETURN_IF_ERROR(db->WaitForLoading());
    const double loaded_s = Since(t0);
    MRLDB_RETURN_IF_ERROR(db->WaitForIndexing());
    Progress(fmt::format("mrldb: reopened with {} worker threads: open {:.2f} s, first query "
                         "answered {:.2f} s, loading finished (graph, ids, resident blocks) {:.2f} s, indexed {:.2f} s",
                         threads, open_s, first_s, loaded_s, Since(t0)));
    return Status::Ok();
  };
  const bool same_threads = b.build_threads() == b.threads();
  if (!same_threads) MRLDB_RETURN_IF_ERROR(reopen(b.threads()));
  for (Plan& p : plans) {
    Progress(fmt::format("mrldb: {} ({} threads)", p.row.params, b.threads()));
    if (p.exact && b.run.ground_truth == "mrldb" && same_threads) {
      p.row.all = b.gt_timing;
      p.row.idsn = b.gt;
      continue;
    }
    const double budget = p.exact ? kExactBudgetS : 0;
    MRLDB_ASSIGN_OR_RETURN(p.row.all, Timed(b.nq(), budget ? 4 * b.threads() : b.nq(), budget,
                                            batch_search(p.options, &p.row.idsn)));
  }
  // One query at a time on one worker thread: reopen with DatabaseOptions::threads = 1.
  MRLDB_RETURN_IF_ERROR(reopen(1));
  for (Plan& p : plans) {
    Progress(fmt::format("mrldb: {} (1 thread)", p.row.params));
    auto one = [&](size_t q, size_t) -> Status {
      auto hits = db->Search(name, queries.subspan(q * x.d, x.d), p.options);
      if (!hits.ok()) return hits.status();
      StoreHits(*hits, k, p.row.ids1.data() + q * k);
      return Status::Ok();
    };
    MRLDB_ASSIGN_OR_RETURN(p.row.one, Timed(b.nq(), 1, p.exact ? kExactBudgetS : 0, one));
  }
  // What the queries read from storage (non-resident blocks), per query and stage.
  for (Plan& p : plans) {
    if (p.exact) continue;
    std::vector<StageStats> sum;
    const size_t n = std::min<size_t>(b.nq(), 200);
    for (size_t q = 0; q < n; ++q) {
      SearchStats st;
      MRLDB_RETURN_IF_ERROR(db->Search(name, queries.subspan(q * x.d, x.d), p.options, &st).status());
      sum.resize(std::max(sum.size(), st.stages.size()));
      for (size_t i = 0; i < st.stages.size(); ++i) {
        sum[i].dims = st.stages[i].dims;
        sum[i].method = st.stages[i].method;
        sum[i].cache_hits += st.stages[i].cache_hits;
        sum[i].storage_reads += st.stages[i].storage_reads;
        sum[i].storage_bytes += st.stages[i].storage_bytes;
      }
    }
    std::string line;
    for (const StageStats& s : sum) {
      line += fmt::format("  {} {}: {:.1f} cache hits, {:.1f} reads, {:.0f} bytes", s.method,
                          s.dims, double(s.cache_hits) / n, double(s.storage_reads) / n,
                          double(s.storage_bytes) / n);
    }
    Progress(fmt::format("mrldb: {} storage per query (1 thread, {} queries):{}", p.row.params, n, line));
  }
  if (b.a.breakdown) {  // plans[0]: the funnel at the first sweep point
    Progress(fmt::format("mrldb: time breakdown of {} (1 thread)", plans[0].row.params));
    MRLDB_ASSIGN_OR_RETURN(b.run.breakdown, MeasureBreakdown(*db, name, queries, b.nq(),
                                                             plans[0].options, plans[0].row.params));
  }
  for (Plan& p : plans) b.run.results.push_back(std::move(p.row));
  return db->Close();
}

// ---- Driver -------------------------------------------------------------------------------------

Status LoadData(Bench& b) {
  const SearchArgs& a = b.a;
  if (a.data.empty()) {
    // Rows come from the generator's stream 1 and queries from its stream 2: the same clusters
    // and scales, independent draws, so no query is a stored row (checked by Run).
    const SyntheticOptions& so = a.synthetic_options;
    SyntheticGenerator gen(so);
    Progress(fmt::format("generating {} x {} {} rows", a.synthetic, a.dim, SyntheticName(so)));
    b.base = Matrix{a.synthetic, so.dim, gen.Rows(0, a.synthetic)};
    b.queries = Matrix{a.nq, so.dim, gen.Queries(0, a.nq)};
    b.run.data = fmt::format("{} {} x {}; {} queries", SyntheticName(so), a.synthetic, a.dim, a.nq);
    return Status::Ok();
  }
  MRLDB_ASSIGN_OR_RETURN(b.base, ReadVectorFile(a.data));
  if (!a.queries.empty()) {
    MRLDB_ASSIGN_OR_RETURN(b.queries, ReadVectorFile(a.queries));
    if (b.queries.d != b.base.d) {
      return Status::InvalidArgument(fmt::format("{}: queries have {} dims, {} has {}", a.queries,
                                                 b.queries.d, a.data, b.base.d));
    }
    b.queries.n = std::min(b.queries.n, a.nq);
    b.queries.v.resize(b.queries.n * b.queries.d);
  } else {
    if (b.base.n <= a.nq) {
      return Status::InvalidArgument(fmt::format(
          "{}: {} rows, too few to hold out --nq {} queries", a.data, b.base.n, a.nq));
    }
    b.base.n -= a.nq;
    b.queries = Matrix{a.nq, b.base.d, std::vector<float>(b.base.v.begin() + b.base.n * b.base.d,
                                                          b.base.v.end())};
    b.base.v.resize(b.base.n * b.base.d);
  }
  b.run.data = fmt::format("{} {} x {}; {} queries{}", a.data, b.base.n, b.base.d, b.nq(),
                           a.queries.empty() ? " held out" : " from " + a.queries);
  return Status::Ok();
}

// The number of queries equal, value for value, to a stored row: a benchmark must not ask for
// rows it stores (each would find itself at distance 0 and inflate the recall). Every row's hash,
// sorted; each query's looked up and confirmed by comparing the values.
size_t QueriesThatAreStoredRows(const Matrix& base, const Matrix& queries, unsigned threads) {
  auto hash = [](const float* v, uint32_t d) {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the 32-bit words
    for (uint32_t j = 0; j < d; ++j) {
      uint32_t bits;
      std::memcpy(&bits, v + j, sizeof bits);
      h = (h ^ bits) * 0x100000001b3ull;
    }
    return h;
  };
  std::vector<std::pair<uint64_t, size_t>> rows(base.n);
  ParallelFor(base.n, threads, [&](size_t i) { rows[i] = {hash(base.Row(i), base.d), i}; })
      .IgnoreError();  // the body cannot throw
  std::sort(rows.begin(), rows.end());
  size_t found = 0;
  for (size_t q = 0; q < queries.n; ++q) {
    const float* v = queries.Row(q);
    const uint64_t h = hash(v, queries.d);
    for (auto it = std::lower_bound(rows.begin(), rows.end(), std::pair<uint64_t, size_t>{h, 0});
         it != rows.end() && it->first == h; ++it) {
      if (std::equal(v, v + queries.d, base.Row(it->second))) {
        ++found;
        break;
      }
    }
  }
  return found;
}

// L2-normalizes every row in place (zero rows stay zero); returns the seconds spent.
double Normalize(Matrix* m, unsigned threads) {
  const auto t0 = Clock::now();
  ParallelFor(m->n, threads, [m](size_t i) {
    float* r = m->Row(i);
    const float nn = Kernels().dot(r, r, m->d);
    for (uint32_t j = 0; nn > 0 && j < m->d; ++j) r[j] /= std::sqrt(nn);
  }).IgnoreError();  // the body cannot throw
  return Since(t0);
}

Status Run(Bench& b) {
  const SearchArgs& a = b.a;
  MRLDB_RETURN_IF_ERROR(LoadData(b));
  SearchRun& run = b.run;
  run.queries_stored = QueriesThatAreStoredRows(b.base, b.queries, b.build_threads());
  if (run.queries_stored > 0 && a.data.empty()) {
    return Status::Internal(fmt::format("{} synthetic queries equal stored rows",
                                        run.queries_stored));
  }
  const std::vector<uint32_t> ladder = DefaultLadder(b.base.d);
  if (a.index_dim >= b.base.d || !std::count(ladder.begin(), ladder.end(), a.index_dim)) {
    return Status::InvalidArgument(
        fmt::format("--index-dim {} must be on the ladder of dim {} ({}) and below {}",
                    a.index_dim, b.base.d, fmt::join(ladder, ","), b.base.d));
  }
  const bool db = a.mrldb || a.exact || a.gt == "mrldb";
  run.ground_truth = a.gt.empty() ? (db ? "mrldb" : "own") : a.gt;
  run.metric = MetricName(a.metric_value);
  run.rows = b.base.n;
  run.queries = b.nq();
  run.dim = b.base.d;
  run.index_dim = static_cast<uint32_t>(a.index_dim);
  fmt::print("data: {}\nk {}, metric {}, index_dim {}, sweep {}, threads {} (builds {}); ground "
             "truth: exact "
             "full-dimension search by {}\nqueries equal to a stored row: {}{}\nhnswlib 0.8.0 on "
             "mrldb's {} kernels; FAISS {}.{}.{}\n",
             run.data, run.k, run.metric, run.index_dim, fmt::join(a.sweep_values, ","),
             run.threads, run.build_threads, run.ground_truth, run.queries_stored,
             run.queries_stored ? " (WARNING: they find themselves; recall is inflated)" : "",
             Kernels().name, FAISS_VERSION_MAJOR, FAISS_VERSION_MINOR, FAISS_VERSION_PATCH);
  std::fflush(stdout);
  if (run.ground_truth == "own") {
    Progress("ground truth by exact-own");
    MRLDB_RETURN_IF_ERROR(RunExactOwn(b, /*ground_truth=*/true));
  }
  if (db) {
    namespace fs = std::filesystem;
    const std::string dir = !a.dir.empty() ? a.dir
        : (fs::temp_directory_path() / fmt::format("mrldb-bench-search-{}", getpid())).string();
    const Status st = RunMrldb(b, dir);
    std::error_code ec;
    if (a.dir.empty()) fs::remove_all(dir, ec);
    MRLDB_RETURN_IF_ERROR(st);
  }
  malloc_trim(0);
  const double prep_s = a.metric_value == Metric::kCosine && (a.hnswlib || a.faiss)
      ? Normalize(&b.base, b.build_threads()) + Normalize(&b.queries, b.build_threads()) : 0;
  if (a.hnswlib) MRLDB_RETURN_IF_ERROR(RunHnswlib(b, prep_s));
  malloc_trim(0);
  if (a.exact) MRLDB_RETURN_IF_ERROR(RunExactOwn(b, /*ground_truth=*/false));
  malloc_trim(0);
  if (a.faiss) MRLDB_RETURN_IF_ERROR(RunFaiss(b, prep_s));
  for (SearchRow& r : run.results) {
    r.recall1 = RecallAtK(r.ids1, b.gt, r.one.done, run.k);
    r.recalln = RecallAtK(r.idsn, b.gt, r.all.done, run.k);
  }
  return Report(&run, {a.csv, a.json, a.plot, a.plot_script}, a.target_values);
}

}  // namespace

void AddSearchBench(CLI::App* app, Runner* run, std::string command) {
  auto bench = std::make_shared<Bench>();
  bench->a.plot_script = MRLDB_BENCH_PLOT_SCRIPT;
  CLI::App* search = AddSearchOptions(app, &bench->a);
  search->callback([search, bench, run, command] {
    *run = [search, bench, command]() -> int {
      Bench& b = *bench;
      try {
        if (Status st = FinishSearchArgs(*search, &b.a); !st.ok()) {
          fmt::print(stderr, "mrldb-bench search: {}\nRun 'mrldb-bench search --help' for the "
                     "options.\n", st.message());
          return 2;
        }
        b.run.command = command;
        fmt::print("$ {}\n", b.run.command);
        b.run.k = static_cast<uint32_t>(b.a.k);
        b.run.threads = b.a.threads ? static_cast<unsigned>(b.a.threads)
                                    : std::max(1u, std::thread::hardware_concurrency());
        b.run.build_threads = b.a.build_threads ? static_cast<unsigned>(b.a.build_threads)
                                                : b.run.threads;
        if (Status st = Run(b); !st.ok()) {
          fmt::print(stderr, "mrldb-bench search: {}\n", st.ToString());
          return 1;
        }
        return 0;
      } catch (const std::exception& e) {
        fmt::print(stderr, "mrldb-bench search: unexpected error: {}\n", e.what());
        return 1;
      }
    };
  });
}

}  // namespace mrldb::bench
