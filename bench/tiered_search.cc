// mrldb-bench tiered: the search phase (bench/tiered_bench.h).
#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <variant>

#include <fmt/format.h>

#include "bench/measure.h"
#include "bench/tiered_bench.h"

namespace mrldb::bench {
namespace {

constexpr const char* kCollection = "bench";

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

struct Plan {
  SearchOptions options;
  uint32_t sweep = 0;
  std::string text;
};

// The default plan, then for keep0 in --sweep Funnel({index_dim, keep0}, {256, max(k, keep0 / 4)}
// when 256 is on the ladder between them, {D}) with ef keep0 (as mrldb-bench search's sweep).
std::vector<Plan> Plans(const TieredArgs& a, const CollectionSpec& spec) {
  std::vector<Plan> plans;
  SearchOptions o;
  o.k = static_cast<uint32_t>(a.k);
  plans.push_back({o, 0, ""});
  const uint32_t g = spec.index_dim, d = spec.dim, k = o.k;
  const auto& ladder = spec.granularities;
  const bool middle = g < 256 && 256 < d && std::count(ladder.begin(), ladder.end(), 256u);
  for (uint32_t keep0 : a.sweep_values) {
    std::vector<FunnelStage> stages = {{g, keep0}};
    if (middle) stages.push_back({256, std::max(k, keep0 / 4)});
    stages.push_back({d, 0});
    o.plan = SearchPlan::Funnel(stages, keep0);
    std::string text = fmt::format("FUNNEL ({} KEEP {}", g, keep0);
    if (middle) text += fmt::format(", 256 KEEP {}", std::max(k, keep0 / 4));
    text += fmt::format(", {}) EF {}", d, keep0);
    plans.push_back({o, keep0, text});
  }
  return plans;
}

Status StoreHits(const std::vector<Hit>& hits, size_t k, int64_t* out) {
  for (size_t j = 0; j < k; ++j) {
    const int64_t* id = j < hits.size() ? std::get_if<int64_t>(&hits[j].id) : nullptr;
    if (j < hits.size() && !id) return Status::Internal("a hit without a BIGINT id");
    out[j] = id ? *id : -1;
  }
  return Status::Ok();
}

// nq queries from `threads` client threads, one Search at a time each.
Result<PlanPoint> RunPlan(const Database& db, const Plan& p, const TieredArgs& a,
                          const std::vector<float>& queries, const std::vector<int64_t>& truth,
                          unsigned threads) {
  const size_t nq = a.nq, dim = a.dim, k = a.k;
  std::vector<int64_t> ids(nq * k, -1);
  std::vector<double> lat_ms(nq);
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status error = Status::Ok();
  auto work = [&] {
    for (size_t q = next++; q < nq; q = next++) {
      const auto t0 = Clock::now();
      auto hits = db.Search(kCollection, std::span<const float>(queries.data() + q * dim, dim),
                            p.options);
      lat_ms[q] = Since(t0) * 1e3;
      Status st = hits.ok() ? StoreHits(*hits, k, ids.data() + q * k) : hits.status();
      if (!st.ok()) {
        std::lock_guard lock(mu);
        if (error.ok()) error = st;
        next = nq;
      }
    }
  };
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  const double wall = Since(t0);
  MRLDB_RETURN_IF_ERROR(error);
  PlanPoint r;
  r.sweep = p.sweep;
  r.threads = threads;
  r.queries = nq;
  r.qps = nq / std::max(wall, 1e-9);
  r.p50_ms = Percentile(lat_ms, 0.50);
  r.p99_ms = Percentile(lat_ms, 0.99);
  r.recall = RecallAtK(ids, truth, nq, k);
  return r;
}

// Each stage's storage reads and time, means over the first n queries.
Result<std::vector<StageMean>> StageMeans(const Database& db, const Plan& p,
                                          const std::vector<float>& queries, size_t dim,
                                          size_t n, std::string* plan_text) {
  std::vector<StageMean> sum;
  for (size_t q = 0; q < n; ++q) {
    SearchStats st;
    MRLDB_RETURN_IF_ERROR(db.Search(kCollection, std::span<const float>(queries.data() + q * dim,
                                                                        dim),
                                    p.options, &st).status());
    *plan_text = st.plan;
    sum.resize(std::max(sum.size(), st.stages.size()));
    for (size_t i = 0; i < st.stages.size(); ++i) {
      const StageStats& s = st.stages[i];
      sum[i].method = s.method;
      sum[i].dims = s.dims;
      sum[i].cache_hits += s.cache_hits;
      sum[i].reads += s.storage_reads;
      sum[i].bytes += s.storage_bytes;
      sum[i].us += s.seconds * 1e6;
    }
  }
  for (StageMean& s : sum) {
    s.cache_hits /= n;
    s.reads /= n;
    s.bytes /= n;
    s.us /= n;
  }
  return sum;
}

}  // namespace

double PlanPoint::Reads() const {
  double s = 0;
  for (const StageMean& m : stages) s += m.reads;
  return s;
}
double PlanPoint::Bytes() const {
  double s = 0;
  for (const StageMean& m : stages) s += m.bytes;
  return s;
}
double PlanPoint::CacheHits() const {
  double s = 0;
  for (const StageMean& m : stages) s += m.cache_hits;
  return s;
}

Result<SearchPhase> MeasureSearches(const std::string& path, const TieredArgs& a,
                                    const std::vector<float>& queries,
                                    const std::vector<float>& warmup,
                                    const std::vector<float>& stats_set,
                                    const std::vector<int64_t>& truth, const ProgressFn& progress) {
  SearchPhase phase;
  for (size_t ti = 0; ti < a.thread_values.size(); ++ti) {
    const unsigned threads = a.thread_values[ti];
    DatabaseOptions dbo;
    dbo.threads = threads;
    dbo.memory_budget_bytes = a.budget_bytes;
    dbo.auto_tune = !a.no_auto_tune;
    dbo.create_if_missing = false;
    const auto t0 = Clock::now();
    MRLDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path, dbo));
    OpenTiming open{threads, Since(t0), 0, 0};
    MRLDB_RETURN_IF_ERROR(db->Search(kCollection, std::span<const float>(warmup.data(), a.dim)).status());
    open.first_query_s = Since(t0);
    MRLDB_RETURN_IF_ERROR(db->WaitForLoading());
    open.loaded_s = Since(t0);
    phase.opens.push_back(open);
    MRLDB_ASSIGN_OR_RETURN(CollectionInfo info, db->DescribeCollection(kCollection));
    phase.plan_in_force = info.plan_in_force;
    phase.resident_blocks = info.memory.resident_blocks;
    phase.blocks = info.memory.blocks;
    progress(fmt::format("opened with {} threads: Open {:.2f} s, first query answered {:.2f} s, "
                         "loading (graph, ids, {} of {} resident blocks) finished {:.2f} s; "
                         "default plan {}", threads, open.open_s, open.first_query_s,
                         info.memory.resident_blocks, info.memory.blocks, open.loaded_s,
                         info.plan_in_force));
    std::vector<Plan> plans = Plans(a, info.spec);
    plans[0].text = info.plan_in_force;
    for (const Plan& p : plans) {
      const size_t nw = warmup.size() / a.dim;
      for (size_t q = 0; q < nw; ++q) {
        MRLDB_RETURN_IF_ERROR(db->Search(kCollection, std::span<const float>(
            warmup.data() + q * a.dim, a.dim), p.options).status());
      }
      MRLDB_ASSIGN_OR_RETURN(PlanPoint point, RunPlan(*db, p, a, queries, truth, threads));
      point.plan = p.text;
      if (ti == 0 && !stats_set.empty()) {
        std::string stated;
        MRLDB_ASSIGN_OR_RETURN(point.stages, StageMeans(*db, p, stats_set, a.dim,
                                                        stats_set.size() / a.dim, &stated));
        if (!stated.empty()) point.plan = stated;
      } else {
        for (const PlanPoint& earlier : phase.points) {
          if (earlier.sweep == point.sweep) point.plan = earlier.plan;
        }
      }
      progress(fmt::format("{} threads, {}: {:.0f} QPS, p50 {:.3f} ms, p99 {:.3f} ms, recall@{} "
                           "{:.4f}", threads, point.plan, point.qps, point.p50_ms, point.p99_ms,
                           a.k, point.recall));
      phase.points.push_back(std::move(point));
    }
    MRLDB_ASSIGN_OR_RETURN(phase.memory, db->GetMemory());
    MRLDB_RETURN_IF_ERROR(db->Close());
  }
  return phase;
}

}  // namespace mrldb::bench
