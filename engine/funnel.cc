// The Matryoshka funnel: plan resolution, filters, stage 0 (HNSW or brute force), re-ranking
// stages that add the partial scores of the blocks each stage brings, and batch search.
#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "engine/collection.h"
#include "engine/distance.h"
#include "engine/filter_eval.h"
#include "engine/prefix_index.h"
#include "engine/row_blocks.h"
#include "engine/stage_recorder.h"
#include "engine/top_k.h"

namespace mrldb {

namespace {

constexpr uint32_t kMaxK = 100000;
// A filter matching at most max(kMinBruteForceRows, kBruteForceFraction * live rows) rows is
// served by scanning the matching rows (exact stage 0); a broader one by the graph.
constexpr uint64_t kMinBruteForceRows = 20000;
constexpr double kBruteForceFraction = 0.05;

}  // namespace

std::string SearchPlan::ToString() const {
  switch (kind) {
    case Kind::kDefault: return "DEFAULT";
    case Kind::kExact: return dims ? fmt::format("EXACT AT {}", dims) : "EXACT";
    case Kind::kPrefix: return ef ? fmt::format("PREFIX {} EF {}", dims, ef) : fmt::format("PREFIX {}", dims);
    case Kind::kFunnel: break;
  }
  std::string s = "FUNNEL (";
  for (size_t i = 0; i < stages.size(); ++i) {
    s += i ? ", " : "";
    s += i + 1 < stages.size() ? fmt::format("{} KEEP {}", stages[i].dims, stages[i].keep)
                               : std::to_string(stages[i].dims);
  }
  s += ")";
  if (ef) s += fmt::format(" EF {}", ef);
  return s;
}

Result<Collection::ResolvedPlan> Collection::ResolvePlan(const SearchPlan& plan, uint32_t k) const {
  const CollectionSpec& s = spec();
  if (k < 1 || k > kMaxK) {
    return Status::InvalidArgument(fmt::format("k = {} is outside 1..{}", k, kMaxK));
  }
  ResolvedPlan r;
  switch (plan.kind) {
    case SearchPlan::Kind::kExact:
    case SearchPlan::Kind::kPrefix: {
      const uint32_t dims = plan.dims == 0 ? s.dim : plan.dims;
      if (dims > s.dim) {
        return Status::InvalidArgument(fmt::format(
            "search dims {} exceed the dimension {} of collection '{}'", dims, s.dim, s.name));
      }
      if (plan.ef > kMaxSearchEf) {
        return Status::InvalidArgument(
            fmt::format("ef = {} is outside 0..{}", plan.ef, kMaxSearchEf));
      }
      r.stages = {{dims, k}};
      r.hnsw = plan.kind == SearchPlan::Kind::kPrefix && dims == s.index_dim;
      r.ef = plan.ef;
      r.shown = plan;
      return r;
    }
    case SearchPlan::Kind::kDefault:
      r.stages = DefaultStages(k, &r.ef);
      break;
    case SearchPlan::Kind::kFunnel:
      r.stages = plan.stages;
      r.ef = plan.ef;
      break;
  }
  if (r.stages.empty()) return Status::InvalidArgument("a funnel needs at least one stage");
  for (size_t i = 0; i < r.stages.size(); ++i) {
    FunnelStage& st = r.stages[i];
    if (!ladder_.IsGranularity(st.dims)) {
      return Status::InvalidArgument(fmt::format(
          "funnel stage {} at {} dims: not a granularity of '{}' (ladder {})", i + 1, st.dims,
          s.name, fmt::join(s.granularities, ", ")));
    }
    if (i > 0 && st.dims <= r.stages[i - 1].dims) {
      return Status::InvalidArgument(fmt::format(
          "funnel stage {} at {} dims does not increase on stage {} at {} dims", i + 1, st.dims,
          i, r.stages[i - 1].dims));
    }
    if (i + 1 == r.stages.size()) {
      st.keep = k;
    } else if (st.keep < k) {
      return Status::InvalidArgument(fmt::format(
          "funnel stage {} keeps {} candidates, fewer than k = {}", i + 1, st.keep, k));
    } else if (st.keep > kMaxSearchEf) {
      return Status::InvalidArgument(fmt::format("funnel stage {} keeps {} candidates (limit {})",
                                                 i + 1, st.keep, kMaxSearchEf));
    }
  }
  r.hnsw = r.stages[0].dims == s.index_dim;
  if (r.ef > kMaxSearchEf) {
    return Status::InvalidArgument(fmt::format("ef = {} is outside 0..{}", r.ef, kMaxSearchEf));
  }
  return r;
}

Result<std::shared_ptr<const Collection::FilterMatch>> Collection::MatchFilter(
    const std::optional<Filter>& filter) const {
  if (!filter) return std::shared_ptr<const FilterMatch>();
  MRLDB_ASSIGN_OR_RETURN(BoundFilter bound, BoundFilter::Bind(*filter, spec()));
  auto m = std::make_shared<FilterMatch>();
  m->bits.assign(next_row_, 0);
  for (uint64_t row = 0; row < next_row_; ++row) {
    if (live_[row] && bound.Matches(attrs_, keys_, row)) {
      m->bits[row] = 1;
      m->rows.push_back(row);
    }
  }
  const uint64_t threshold =
      std::max<uint64_t>(kMinBruteForceRows, uint64_t(kBruteForceFraction * double(live_rows_)));
  m->brute_force = m->rows.size() <= threshold;
  return std::shared_ptr<const FilterMatch>(std::move(m));
}

Status Collection::FirstStage(const float* q, const ResolvedPlan& plan, const FilterMatch* filter,
                              bool parallel, StageRecorder& record,
                              std::vector<Candidate>* out) const {
  const Metric metric = spec().metric;
  const FunnelStage& first = plan.stages[0];
  std::vector<Candidate>& cands = *out;
  cands.clear();
  storage::ReadCounters io;
  if (!GraphFirst(plan, filter)) {
    uint64_t bytes = 0;
    MRLDB_ASSIGN_OR_RETURN(cands, ScanTopK(q, first.dims, first.keep, filter ? &filter->rows : nullptr,
                                           parallel, &bytes, record.Counters(&io)));
    record("scan", first.dims, filter ? filter->rows.size() : live_rows_, cands.size(), bytes,
           "cpu", io);
    return Status::Ok();
  }
  // Per-thread buffers: a search allocates nothing here in steady state.
  thread_local std::vector<float> qp;
  thread_local std::vector<std::pair<float, uint64_t>> found;
  qp.assign(q, q + first.dims);
  if (metric == Metric::kCosine) {
    double n = 0;
    for (float v : qp) n += double{v} * v;
    const float inv = static_cast<float>(1.0 / std::sqrt(n));
    for (float& v : qp) v *= inv;
  }
  const size_t ef = std::max<size_t>(plan.ef ? plan.ef : spec().hnsw.ef_search, first.keep);
  // Rows at or above `tail` are not in the graph yet (background indexer): scan them.
  const uint64_t tail = indexed_upto_;
  {
    std::shared_lock graph_lock(graph_mu_);
    graph_->Search(qp.data(), first.keep, ef, filter ? &filter->bits : nullptr, &found);
  }
  cands.reserve(found.size());
  for (const auto& [d, row] : found) {
    // Rows added by an indexer step still in progress belong to the tail scan; a row deleted
    // while being added may linger in the graph for an instant.
    if (row < tail && live_[row]) cands.push_back({d, row});
  }
  record("hnsw", first.dims, ef, cands.size(), 0);
  uint64_t tail_rows = 0;
  if (tail < next_row_) {
    std::vector<uint64_t> rows;
    for (uint64_t row = tail; row < next_row_; ++row) {
      if (filter ? filter->bits[row] : live_[row]) rows.push_back(row);
    }
    tail_rows = rows.size();
    uint64_t bytes = 0;
    MRLDB_ASSIGN_OR_RETURN(std::vector<Candidate> tail_best,
                           ScanTopK(q, first.dims, first.keep, &rows, false, &bytes,
                                    record.Counters(&io)));
    cands.insert(cands.end(), tail_best.begin(), tail_best.end());
    record("scan", first.dims, rows.size(), std::min<uint64_t>(rows.size(), first.keep), bytes,
           "cpu", io);
    io = {};
  }
  const size_t reachable = filter ? filter->rows.size() : live_rows_;
  if (found.size() < std::min<size_t>(first.keep, reachable - tail_rows) &&
      cands.size() < std::min<size_t>(first.keep, reachable)) {
    // The graph could not produce enough rows (a filter it routes poorly): scan instead.
    uint64_t bytes = 0;
    MRLDB_ASSIGN_OR_RETURN(cands, ScanTopK(q, first.dims, first.keep, filter ? &filter->rows : nullptr,
                                           parallel, &bytes, record.Counters(&io)));
    record("scan", first.dims, reachable, cands.size(), bytes, "cpu", io);
  }
  return Status::Ok();
}

Status Collection::RerankStages(const float* queries, size_t stride, const ResolvedPlan& plan,
                                size_t from_stage, uint32_t done, Reranker* reranker,
                                CandidateLists* lists, StageRecorder& record) const {
  const size_t nq = lists->queries();
  // ||q[0:q_dims)||^2 of every query, extended stage by stage.
  thread_local std::vector<double> q_sq;
  q_sq.assign(nq, 0.0);
  uint32_t q_dims = 0;
  for (size_t si = from_stage; si < plan.stages.size(); ++si) {
    const FunnelStage& st = plan.stages[si];
    for (size_t i = 0; i < nq; ++i) {
      const float* q = queries + i * stride;
      for (uint32_t d = q_dims; d < st.dims; ++d) q_sq[i] += double{q[d]} * q[d];
    }
    q_dims = st.dims;
    const uint64_t in = lists->cands.size();
    RerankArgs args;
    args.queries = queries;
    args.query_stride = stride;
    args.q_sq = q_sq.data();
    args.done = done;
    args.dims = st.dims;
    args.keep = st.keep;
    storage::ReadCounters io;
    args.io = record.Counters(&io);
    RerankSplit split;
    MRLDB_RETURN_IF_ERROR(reranker->Rerank(args, lists, &split));
    const uint64_t bytes = in * (st.dims - done) * sizeof(float);
    done = st.dims;
    record("rerank", st.dims, in, lists->cands.size(), bytes, DeviceLabel(split), io);
  }
  return Status::Ok();
}

Result<std::vector<Candidate>> Collection::RunPlan(const float* q, const ResolvedPlan& plan,
                                                   const FilterMatch* filter, bool parallel,
                                                   SearchStats* stats) const {
  StageRecorder record(stats);
  const bool graph = GraphFirst(plan, filter);
  // Per-thread lists: their buffers (and the reranker's, which it swaps with them) are reused.
  thread_local CandidateLists lists;
  MRLDB_RETURN_IF_ERROR(FirstStage(q, plan, filter, parallel, record, &lists.cands));
  if (plan.stages.size() == 1 && !graph) return lists.cands;
  // Re-ranking. The scores are additive over blocks (dot or squared L2). Stage 0 by the graph
  // has only graph distances, so its score starts from dims 0.
  lists.acc.assign(lists.cands.size(), 0.0);
  lists.offsets.assign({0, static_cast<uint32_t>(lists.cands.size())});
  uint32_t done = 0;
  if (!graph) {
    MRLDB_RETURN_IF_ERROR(PrefixScores(q, plan.stages[0].dims, &lists));
    done = plan.stages[0].dims;
  }
  CpuReranker cpu(cache_, spec().metric, Storage());
  MRLDB_RETURN_IF_ERROR(RerankStages(q, spec().dim, plan, graph ? 0 : 1, done, &cpu, &lists, record));
  return lists.cands;  // one query: its kept candidates, in order (a copy of k)
}

Status Collection::PrefixScores(const float* q, uint32_t dims, CandidateLists* lists) const {
  const DistanceKernels& kern = Kernels();
  const size_t nblocks = ladder_.BlocksCovering(dims);
  thread_local std::vector<uint64_t> rows;
  thread_local RowBlocks blocks;
  rows.clear();
  for (const Candidate& c : lists->cands) rows.push_back(c.row);
  MRLDB_RETURN_IF_ERROR(blocks.Fetch(cache_, Storage(), rows, 0, nblocks, nullptr));
  for (size_t i = 0; i < rows.size(); ++i) {
    double acc = 0;
    for (size_t b = 0; b < nblocks; ++b) {
      const uint32_t begin = ladder_.begin(b), len = std::min(dims, ladder_.end(b)) - begin;
      const float* x = blocks.Row(i, b);
      acc += spec().metric == Metric::kL2 ? kern.l2sqr(q + begin, x, len) : kern.dot(q + begin, x, len);
    }
    lists->acc[i] = acc;
  }
  return Status::Ok();
}

Result<SearchPlan> Collection::Explain(const SearchOptions& options) const {
  std::shared_lock lock(mu_);
  MRLDB_ASSIGN_OR_RETURN(ResolvedPlan plan, ResolvePlan(options.plan, options.k));
  if (options.plan.kind == SearchPlan::Kind::kExact || options.plan.kind == SearchPlan::Kind::kPrefix) {
    return options.plan;
  }
  return SearchPlan::Funnel(plan.stages, plan.ef);
}

Status Collection::CheckSearchOptions(const SearchOptions& options) const {
  if (options.vector_dims > spec().dim) {
    return Status::InvalidArgument(fmt::format("vector_dims {} exceeds the dimension {}",
                                               options.vector_dims, spec().dim));
  }
  return Status::Ok();
}

Result<std::vector<Hit>> Collection::Search(std::span<const float> query,
                                            const SearchOptions& options,
                                            SearchStats* stats) const {
  MRLDB_RETURN_IF_ERROR(CheckSearchOptions(options));
  MRLDB_ASSIGN_OR_RETURN(std::vector<int> columns, AttributeColumns(options.attributes));
  if (options.filter) MRLDB_RETURN_IF_ERROR(WaitForRows());  // a filter reads the attributes
  std::shared_lock lock(mu_);
  MRLDB_ASSIGN_OR_RETURN(ResolvedPlan plan, ResolvePlan(options.plan, options.k));
  const bool exactish = plan.stages.size() == 1;
  MRLDB_RETURN_IF_ERROR(CheckQuery(query, exactish ? plan.stages[0].dims : spec().dim));
  MRLDB_ASSIGN_OR_RETURN(auto filter, MatchFilter(options.filter));
  if (stats) {
    *stats = SearchStats{};
    stats->plan = plan.Shown().ToString();
    stats->graph_loading = plan.hnsw && graph_loading_;
    if (filter) {
      stats->filter_matches = filter->rows.size();
      stats->filter_brute_force = filter->brute_force;
    }
  }
  MRLDB_ASSIGN_OR_RETURN(Placed placed, Place(options.device, 1, plan, filter.get(), /*commit=*/true));
  std::vector<Candidate> best;
  auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  bool on_gpu = false;
  if (placed.dev != nullptr) {
    auto r = RunPlanGpu(query.data(), 1, query.size(), plan, filter.get(), placed.dev, stats);
    if (r.ok()) {
      best = std::move((*r)[0]);
      on_gpu = true;
    } else if (options.device == Device::kGpu) {
      return r.status();
    } else {
      if (log_) log_(fmt::format("collection '{}': GPU search failed, the CPU answers: {}", spec().name, r.status().ToString()));
      placed.reason = "cpu: the GPU search failed (" + r.status().message() + ")";
      if (stats) stats->stages.clear();
    }
  }
  if (!on_gpu) {
    t0 = std::chrono::steady_clock::now();
    MRLDB_ASSIGN_OR_RETURN(best, RunPlan(query.data(), plan, filter.get(), /*parallel=*/true, stats));
  }
  RecordPlacement(placed, 1, on_gpu, seconds());
  if (stats) stats->placement = std::move(placed.reason);
  if (best.size() > options.k) best.resize(options.k);
  return MakeHits(best, columns, options.vector_dims);
}

// Queries per hand-out of the pool for per-query work of microseconds (checks, hits).
constexpr size_t kCheapGrain = 64;

Result<std::vector<std::vector<Hit>>> Collection::SearchBatch(std::span<const float> queries,
                                                              size_t n,
                                                              const SearchOptions& options) const {
  MRLDB_RETURN_IF_ERROR(CheckSearchOptions(options));
  MRLDB_ASSIGN_OR_RETURN(std::vector<int> columns, AttributeColumns(options.attributes));
  if (options.filter) MRLDB_RETURN_IF_ERROR(WaitForRows());  // a filter reads the attributes
  std::shared_lock lock(mu_);
  MRLDB_ASSIGN_OR_RETURN(ResolvedPlan plan, ResolvePlan(options.plan, options.k));
  const uint32_t qdim = plan.stages.size() == 1 && queries.size() == n * plan.stages[0].dims
                            ? plan.stages[0].dims
                            : spec().dim;
  if (queries.size() != n * size_t{qdim}) {
    return Status::InvalidArgument(fmt::format(
        "query matrix has {} values, not {} queries x {} dimensions", queries.size(), n, qdim));
  }
  {
    // Checked on the search threads: at GPU speeds a serial check of a large batch costs as
    // much as the device's whole search.
    std::vector<Status> bad(n);
    const uint32_t check_dims = plan.stages.size() == 1 ? plan.stages[0].dims : qdim;
    pool_->ParallelFor(n, [&](size_t i) { bad[i] = CheckQuery(queries.subspan(i * qdim, qdim), check_dims); },
                       kCheapGrain);
    for (size_t i = 0; i < n; ++i) {
      if (!bad[i].ok()) return Status::InvalidArgument(fmt::format("query {}: {}", i + 1, bad[i].message()));
    }
  }
  MRLDB_ASSIGN_OR_RETURN(auto filter, MatchFilter(options.filter));
  std::vector<std::vector<Hit>> out(n);
  MRLDB_ASSIGN_OR_RETURN(Placed placed, Place(options.device, n, plan, filter.get(), /*commit=*/true));
  // Seconds since t0, as the placement model measures the batch (search and hits).
  auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  if (placed.dev != nullptr) {
    // One device call for the whole batch: a cancel is honoured before it, not during it.
    if (options.cancel && options.cancel->load()) {
      return Status::Cancelled(fmt::format("search cancelled after 0 of {} queries", n));
    }
    auto r = RunPlanGpu(queries.data(), n, qdim, plan, filter.get(), placed.dev, nullptr);
    if (r.ok()) {
      std::vector<Status> errors(n);
      pool_->ParallelFor(n, [&](size_t i) {
        std::vector<Candidate>& best = (*r)[i];
        if (best.size() > options.k) best.resize(options.k);
        auto hits = MakeHits(best, columns, options.vector_dims);
        if (hits.ok()) out[i] = std::move(*hits);
        else errors[i] = hits.status();
      }, kCheapGrain);
      for (const Status& st : errors) MRLDB_RETURN_IF_ERROR(st);
      RecordPlacement(placed, n, /*gpu=*/true, seconds());
      return out;
    }
    if (options.device == Device::kGpu) return r.status();
    if (log_) log_(fmt::format("collection '{}': GPU search failed, the CPU answers: {}", spec().name, r.status().ToString()));
  }
  t0 = std::chrono::steady_clock::now();  // not the failed GPU attempt's time
  if (plan.stages.size() == 1 && !GraphFirst(plan, filter.get()) && !filter &&
      ladder_.BlocksCovering(plan.stages[0].dims) > cache_.resident()) {
    // A full scan of blocks in storage: one scan serves a group of queries (one query at a time
    // would read the whole collection from storage once per query). A query's running list and
    // its merge's copy: 2 x keep candidates.
    const size_t group = ScanGroup(n, 2 * sizeof(Candidate) * plan.stages[0].keep);
    for (size_t at = 0; at < n; at += group) {
      auto cancelled = [&] {
        return Status::Cancelled(fmt::format("search cancelled after {} of {} queries", at, n));
      };
      if (options.cancel && options.cancel->load(std::memory_order_relaxed)) return cancelled();
      const size_t m = std::min(group, n - at);
      auto scanned = ScanTopKMany(queries.data() + at * qdim, m, qdim, plan.stages[0].dims,
                                  plan.stages[0].keep, /*parallel=*/true, nullptr, options.cancel);
      if (!scanned.ok() && scanned.status().code() == Status::Code::kCancelled) return cancelled();
      MRLDB_ASSIGN_OR_RETURN(auto best, std::move(scanned));
      for (size_t i = 0; i < m; ++i) {
        if (best[i].size() > options.k) best[i].resize(options.k);
        MRLDB_ASSIGN_OR_RETURN(out[at + i], MakeHits(best[i], columns, options.vector_dims));
      }
    }
    RecordPlacement(placed, n, /*gpu=*/false, seconds());
    return out;
  }
  std::atomic<size_t> done{0};
  std::vector<Status> errors(n);
  pool_->ParallelFor(n, [&](size_t i) {
    if (options.cancel && options.cancel->load(std::memory_order_relaxed)) return;
    auto best = RunPlan(queries.data() + i * qdim, plan, filter.get(), /*parallel=*/false, nullptr);
    if (!best.ok()) {
      errors[i] = best.status();
      return;
    }
    if (best->size() > options.k) best->resize(options.k);
    auto hits = MakeHits(*best, columns, options.vector_dims);
    if (!hits.ok()) {
      errors[i] = hits.status();
      return;
    }
    out[i] = std::move(*hits);
    done.fetch_add(1, std::memory_order_relaxed);
  });
  for (const Status& st : errors) MRLDB_RETURN_IF_ERROR(st);
  if (done.load() < n) {
    return Status::Cancelled(fmt::format("search cancelled after {} of {} queries", done.load(), n));
  }
  RecordPlacement(placed, n, /*gpu=*/false, seconds());
  return out;
}

}  // namespace mrldb
