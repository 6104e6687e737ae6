// Recall-targeted tuning: measure candidate funnels on queries (a sample of the collection's own
// vectors, or real queries the caller hands in) against exact full-dimension search and keep the
// cheapest that reaches the target.
//
// What makes a tuned plan hold on queries that are not stored rows:
// - leave-one-out: a sampled row is never among its own neighbours, neither in the exact truth
//   nor in the measured results (a stored row finds itself at distance 0 at every prefix, which
//   inflated the sampled recall: 0.959 measured, 0.940 on real queries); real queries need not;
// - a hidden node: while a sampled row is measured, the graph walk never enters its node
//   (ScopedHiddenNode), so the graph sees an unseen query;
// - a margin and a held-back half: shapes are chosen on one half of the queries against
//   target + kMargin, and the choice is accepted only when the other half also reaches the
//   target (else its shortlist grows until it does);
// - a fine grid: the shortlist doubles until the target is reached, then is bisected between the
//   last miss and the first hit, so it is at most ~10% larger than needed, not up to 2x.
// For larger k, the straight shape's shortlist (index prefix, then D) is measured for 10 k results
// too (a second point; mrldb/types.h DefaultPlan says how a search for another k re-derives the
// plan from the two).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <unordered_set>

#include <fmt/format.h>

#include "engine/collection.h"
#include "engine/graph_search.h"
#include "engine/predict_internal.h"

namespace mrldb {
namespace {

// Recall over the tuning half must reach target + kMargin (the sampling error of recall@10 over
// 100 queries is about 0.007 at 0.95).
constexpr double kMargin = 0.005;
// Bisection steps between the last shortlist that missed and the first that reached the target.
constexpr int kBisections = 3;
constexpr uint64_t kMaxQueries = 100000;
// The second point is measured for kWide * k results, when the collection has at least kWide
// times as many live rows (a search for more than a tenth of the rows is nearly a scan).
constexpr uint64_t kWide = 10;
constexpr uint64_t kMaxK = 100000;


// One measured stage-0 shortlist.
struct Point {
  uint64_t keep0 = 0;
  double recall = -1, ms = 0;
  bool hit = false;  // reached the goal
  uint64_t miss = 0;  // the largest shortlist of the same shape measured missing the goal
};

// A funnel shape: stage 0 on the graph (first = index_dim) or a scan of the prefix `first`
// (first = D: exact search), then, when set, a middle granularity keeping a quarter, then D.
struct Shape {
  uint32_t first = 0;
  uint32_t middle = 0;
};

}  // namespace

Result<TuneReport> Collection::Tune(const TuneOptions& options) {
  MRLDB_RETURN_IF_ERROR(WaitForRows());  // reads every row's id and attributes
  if (!(options.target_recall > 0 && options.target_recall <= 1)) {
    return Status::InvalidArgument(fmt::format("target recall {} is outside (0, 1]",
                                               options.target_recall));
  }
  const CollectionSpec& s = spec();
  const uint32_t k = options.k;
  if (k < 1 || k > kMaxK) return Status::InvalidArgument(fmt::format("k = {} is outside 1..{}", k, kMaxK));
  const bool given = !options.queries.empty();
  const uint32_t loo = given ? 0 : 1;  // leave-one-out: the query's own row is dropped
  if (given) {
    if (options.queries.size() % s.dim != 0) {
      return Status::InvalidArgument(fmt::format(
          "the tuning queries hold {} values, not a whole number of {}-dimensional vectors "
          "(collection '{}')", options.queries.size(), s.dim, s.name));
    }
    if (options.queries.size() / s.dim > kMaxQueries) {
      return Status::InvalidArgument(fmt::format("{} tuning queries; at most {}",
                                                 options.queries.size() / s.dim, kMaxQueries));
    }
  } else if (options.sample_queries < 1 || options.sample_queries > kMaxQueries) {
    return Status::InvalidArgument("sample_queries must be in 1..100000");
  }
  // Two halves: even positions tune, odd ones validate (both, when there is only one query).
  TuneSample tune_set, held_back;
  TuneReport best;
  uint64_t next0 = 0;
  PrefixAnalysis analysis;  // copied: an ANALYZE may store another meanwhile
  {
    std::shared_lock lock(mu_);
    analysis = s.analysis;
    best.rows = live_rows_;
    next0 = next_row_;
    if (live_rows_ < uint64_t{k} + loo) {
      return Status::InvalidArgument(fmt::format(
          "collection '{}' has {} rows; tuning for k = {} needs at least k{}", s.name, live_rows_,
          k, given ? "" : " + 1 (a sampled row is left out of its own results)"));
    }
    const uint64_t stride = std::max<uint64_t>(1, live_rows_ / options.sample_queries);
    uint64_t seen = 0, taken = 0;
    for (uint64_t row = 0; !given && row < next_row_ && taken < options.sample_queries; ++row) {
      if (!live_[row] || seen++ % stride != 0) continue;
      TuneSample& into = taken++ % 2 == 0 ? tune_set : held_back;
      MRLDB_ASSIGN_OR_RETURN(std::vector<float> x, RowPrefix(row, s.dim));
      into.queries.insert(into.queries.end(), x.begin(), x.end());
      into.self.push_back(keys_.Get(row));
      into.self_rows.push_back(row);
      ++into.n;
    }
  }
  for (size_t i = 0; given && i < options.queries.size() / s.dim; ++i) {
    std::span<const float> q(options.queries.data() + i * s.dim, s.dim);
    if (Status st = CheckQuery(q, s.dim); !st.ok()) {
      return Status::InvalidArgument(fmt::format("tuning query {}: {}", i + 1, st.message()));
    }
    TuneSample& into = i % 2 == 0 ? tune_set : held_back;
    into.queries.insert(into.queries.end(), q.begin(), q.end());
    ++into.n;
  }
  if (held_back.n == 0) held_back = tune_set;
  const uint64_t live = best.rows;
  const uint32_t wide_k =
      k * kWide <= kMaxK && k * kWide * kWide <= live ? uint32_t(k * kWide) : 0;
  const uint32_t truth_k = std::max(k, wide_k);

  auto cancelled = [&] { return options.cancel && options.cancel->load(std::memory_order_relaxed); };
  const Status cancel_status = Status::Cancelled("TUNE cancelled; the default plan is unchanged");
  // Writes while the tune runs (the background tuner does not stop them): a row written since
  // the sample was taken is not in the world the exact truth describes, and a row deleted or
  // replaced since cannot be found; both are left out of every comparison, so that a tune under
  // a steady ingest still measures the plan. Whether `key` names a row of the sampled world,
  // still live. REQUIRES mu_ held.
  auto sampled = [&](const Key& key) {
    const uint64_t row = keys_.Find(key);
    return row != RowKeys::kNoRow && row < next0 && live_[row];
  };
  auto query = [&](const TuneSample& set, size_t i) {
    return std::span<const float>(set.queries.data() + i * s.dim, s.dim);
  };
  // Query i's hits without its own row (sampled rows), at most `limit`.
  auto without_self = [](std::vector<Hit> hits, const TuneSample& set, size_t i, size_t limit) {
    if (!set.self.empty()) {
      auto it = std::find_if(hits.begin(), hits.end(), [&](const Hit& h) { return h.id == set.self[i]; });
      if (it != hits.end()) hits.erase(it);
    }
    if (hits.size() > limit) hits.resize(limit);
    return hits;
  };
  // The exact truth, one query at a time while the full vectors are in memory: each search
  // holds mu_ shared on its own, so a writer waits for one exact search at most, not for the
  // whole tune. Blocks in storage are scanned for both halves' queries at once (SearchBatch,
  // one scan per group of as many as its scratch holds: ScanGroup) instead of once per query:
  // at 100k x 768 under a 256 MiB budget the background tune took 138.9 s with per-query scans
  // and 20.4 s with groups of 64 (docs/benchmarks.md).
  bool in_storage;
  {
    std::shared_lock lock(mu_);
    in_storage = ladder_.BlocksCovering(s.dim) > cache_.resident();
  }
  SearchOptions exact;
  exact.k = truth_k + loo;
  exact.plan = SearchPlan::Exact();
  exact.cancel = options.cancel;
  std::vector<std::vector<Hit>> truths;  // tune_set's queries, then held_back's
  if (in_storage) {
    std::vector<float> all = tune_set.queries;
    all.insert(all.end(), held_back.queries.begin(), held_back.queries.end());
    auto batch = SearchBatch(all, tune_set.n + held_back.n, exact);
    if (!batch.ok() && batch.status().code() == Status::Code::kCancelled) return cancel_status;
    MRLDB_ASSIGN_OR_RETURN(truths, std::move(batch));
  } else {
    for (TuneSample* set : {&tune_set, &held_back}) {
      for (size_t i = 0; i < set->n; ++i) {
        if (cancelled()) return cancel_status;
        MRLDB_ASSIGN_OR_RETURN(auto truth, Search(query(*set, i), exact, nullptr));
        truths.push_back(std::move(truth));
      }
    }
  }
  {
    std::shared_lock lock(mu_);
    size_t next = 0;
    for (TuneSample* set : {&tune_set, &held_back}) {
      for (size_t i = 0; i < set->n; ++i) {
        std::vector<Hit>& truth = truths[next++];
        std::erase_if(truth, [&](const Hit& h) { return !sampled(h.id); });
        set->truth.push_back(without_self(std::move(truth), *set, i, truth_k));
      }
    }
  }

  // Recall@kk of `plan` over `set`, and its mean latency.
  auto measure = [&](const SearchPlan& plan, const TuneSample& set, uint32_t kk, Point* p) -> Status {
    SearchOptions o;
    o.k = kk + loo;
    o.plan = plan;
    double hits = 0, wanted = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < set.n; ++i) {
      if (cancelled()) return cancel_status;
      // A sampled row is a node of the graph, and a search for a node walks straight to it and
      // reads its neighbours off its own link list: even with the row left out of its results,
      // its neighbourhood is found more easily than an unseen query's (measured: plans tuned so
      // reached 0.92-0.94 on unseen queries for a target of 0.95 at 100k x 768). So the walk
      // never enters the row's node: to the graph the query is unseen.
      std::optional<ScopedHiddenNode> hide;
      if (!set.self_rows.empty()) hide.emplace(set.self_rows[i]);
      MRLDB_ASSIGN_OR_RETURN(auto got, Search(query(set, i), o, nullptr));
      got = without_self(std::move(got), set, i, kk);
      // The results' rows of the sampled world are compared with as many of the truth's (still
      // live) rows as are left beside the rows written since.
      std::unordered_set<Key, KeyHash> want;
      {
        std::shared_lock lock(mu_);
        size_t fresh = 0;
        for (const Hit& h : got) fresh += !sampled(h.id);
        for (const Hit& h : set.truth[i]) {
          if (want.size() + fresh >= kk) break;
          if (sampled(h.id)) want.insert(h.id);
        }
      }
      for (const Hit& h : got) hits += want.count(h.id);
      wanted += want.size();
    }
    ++best.plans_tried;
    p->ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / set.n;
    p->recall = wanted > 0 ? hits / wanted : 1.0;
    return Status::Ok();
  };

  // Shapes: stage 0 on the graph at the index prefix, straight to D or through one middle
  // granularity (the paper's funnel, shortened). Where a stored ANALYZE found the index prefix
  // too weak to shortlist from, exact search and the cheapest scan of a larger prefix by its
  // measurements are measured first: on such prefixes the graph's shortlist can cost more than
  // a scan (flat 20,000 x 256 set: FUNNEL (64 KEEP 7744, 256) ran at a fifth to a ninth of
  // exact search's speed), and their latency bounds how far the graph's sweep goes.
  std::vector<Shape> shapes;
  if (const uint32_t g = MatryoshkaAnalysis::CheapestScan(analysis, s, live, k)) {
    shapes.push_back({s.dim, 0});
    if (g < s.dim) shapes.push_back({g, 0});
  }
  const size_t graph_shapes = shapes.size();
  shapes.push_back({s.index_dim, 0});
  std::vector<uint32_t> middles;
  for (uint32_t g : s.granularities) {
    if (g > s.index_dim && g < s.dim) middles.push_back(g);
  }
  if (middles.size() > 2) middles = {middles[(middles.size() - 1) / 2], middles.back()};
  for (uint32_t m : middles) shapes.push_back({s.index_dim, m});
  // The measured searches ask for kk + loo (one is the query itself), so every keep covers it.
  auto min_keep = [&](uint32_t kk) { return std::max<uint64_t>(kk + loo, std::min<uint64_t>(10, live)); };
  auto max_keep = [&](uint32_t kk) {
    return std::max<uint64_t>(min_keep(kk), std::min<uint64_t>(live, 20000));
  };
  auto plan_of = [&](const Shape& shape, uint64_t keep0, uint32_t kk) {
    std::vector<FunnelStage> stages = {{shape.first, uint32_t(keep0)}};
    if (shape.middle) stages.push_back({shape.middle, uint32_t(std::max<uint64_t>(kk + loo, keep0 / 4))});
    if (shape.first != s.dim) stages.push_back({s.dim, 0});
    return SearchPlan::Funnel(stages, shape.first == s.index_dim ? uint32_t(keep0) : 0);
  };
  // Where a shape's sweep starts: the exact shortlist ANALYZE measured at its first granularity
  // (a shortlist the graph finds holds no more of the top k than the exact one of the same
  // length, so shorter ones miss but for sampling noise), else the smallest keep.
  auto seed = [&](const Shape& shape, uint32_t kk) {
    const double measured = MatryoshkaAnalysis::AnalyzedShortlist(analysis, shape.first, kk);
    return std::max<uint64_t>(min_keep(kk), uint64_t(measured));
  };
  const double goal = std::min(1.0, options.target_recall + kMargin);
  // The smallest shortlist reaching the goal on the tuning half: from `from`, doubling up to a
  // hit, or halving down to a miss when `from` hits already (a seed may lie above what is
  // needed); then bisection between the last miss and the hit. `miss` is a shortlist known to
  // miss (0: none). A shape still missing at a latency above `bound_ms` (another shape's hit)
  // stops growing: a longer shortlist is only slower; one hitting at more than twice that
  // latency is not refined: halving a shortlist at most halves the latency. Returns the hit,
  // else the best recall measured; Point::miss is the largest shortlist that missed.
  auto search_keep = [&](const Shape& shape, uint32_t kk, uint64_t from, uint64_t miss,
                         double bound_ms) -> Result<Point> {
    const uint64_t low = min_keep(kk), top = max_keep(kk);
    auto at = [&](uint64_t keep0) -> Result<Point> {
      Point p{keep0};
      MRLDB_RETURN_IF_ERROR(measure(plan_of(shape, keep0, kk), tune_set, kk, &p));
      p.hit = p.recall >= goal;
      return p;
    };
    MRLDB_ASSIGN_OR_RETURN(Point found, at(std::clamp(from, low, top)));
    auto beaten = [&](const Point& p) { return p.ms > 2 * bound_ms; };
    if (found.hit && !beaten(found)) {
      for (uint64_t down = std::max(low, found.keep0 / 2); down < found.keep0 && down > miss;
           down = std::max(low, found.keep0 / 2)) {
        MRLDB_ASSIGN_OR_RETURN(Point p, at(down));
        if (!p.hit) {
          miss = down;
          break;
        }
        found = p;
      }
    } else {
      Point best_miss = found;
      while (!found.hit) {
        miss = found.keep0;
        if (found.recall > best_miss.recall) best_miss = found;
        if (found.keep0 == top || found.ms > bound_ms) {
          best_miss.miss = miss;
          return best_miss;
        }
        MRLDB_ASSIGN_OR_RETURN(found, at(std::min(top, found.keep0 * 2)));
      }
    }
    for (int step = 0; step < kBisections && miss && found.keep0 - miss > 1 && !beaten(found); ++step) {
      MRLDB_ASSIGN_OR_RETURN(Point p, at((miss + found.keep0) / 2));
      if (p.hit) {
        found = p;
      } else {
        miss = p.keep0;
      }
    }
    found.miss = miss;
    return found;
  };
  // Validation on the held-back half: the shortlist grows (by 1/8 at a time) until it reaches
  // the target there too, or cannot grow. Returns the held-back recall.
  auto confirm = [&](const Shape& shape, uint32_t kk, Point* p) -> Result<double> {
    const uint64_t top = max_keep(kk);
    for (uint64_t keep0 = p->keep0;;) {
      Point held{keep0};
      MRLDB_RETURN_IF_ERROR(measure(plan_of(shape, keep0, kk), held_back, kk, &held));
      if (keep0 != p->keep0) {
        const bool hit = p->hit;
        *p = Point{keep0};
        p->hit = hit;
        MRLDB_RETURN_IF_ERROR(measure(plan_of(shape, keep0, kk), tune_set, kk, p));
      }
      if (held.recall >= options.target_recall || keep0 == top) {
        p->hit = p->hit && held.recall >= options.target_recall;
        return held.recall;
      }
      keep0 = std::min(top, keep0 + std::max<uint64_t>(1, keep0 / 8));
    }
  };

  // The cheapest shape reaching the goal (or, when none does, the best recall). A middle stage
  // only drops candidates of the same stage 0, so a middle shape misses wherever the straight
  // one does: its sweep starts at the straight shape's hit, above its last miss.
  Point chosen, straight;
  size_t pick = 0;
  best.analysed = analysis.rows > 0;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape& shape = shapes[i];
    const double bound = chosen.hit ? chosen.ms : std::numeric_limits<double>::infinity();
    uint64_t from = seed(shape, k), miss = 0;
    if (shape.middle) {
      if (!straight.hit && straight.keep0 == max_keep(k)) break;  // out of reach
      from = straight.hit ? straight.keep0 : straight.keep0 * 2;
      miss = straight.miss;
    }
    if (i == graph_shapes) best.start_keep = uint32_t(std::min(from, max_keep(k)));
    MRLDB_ASSIGN_OR_RETURN(Point p, search_keep(shape, k, from, miss, bound));
    if (i == graph_shapes) straight = p;
    best.shapes.push_back({plan_of(shape, p.keep0, k), p.recall, p.ms, p.hit});
    if (p.hit ? !chosen.hit || p.ms < chosen.ms : !chosen.hit && p.recall > chosen.recall) {
      chosen = p;
      pick = i;
    }
  }
  MRLDB_ASSIGN_OR_RETURN(best.held_back_recall, confirm(shapes[pick], k, &chosen));
  best.plan = plan_of(shapes[pick], chosen.keep0, k);
  best.recall = chosen.recall;
  best.ms_per_query = chosen.ms;
  best.reached_target = chosen.hit;
  if (wide_k && shapes[pick].first == s.index_dim) {
    // The straight shape at k and at wide_k: a middle stage keeping k + 1 of keep0 / 4 is a
    // bargain at k that a wider k does not get (measured: 64 KEEP 412, 128 KEEP 103 against a
    // straight 64 KEEP 113 for k = 100 on weak prefixes). A plan starting with a scan is scaled
    // for another k as a hand-set one is (mrldb/types.h, DefaultPlan).
    const Shape& graph = shapes[graph_shapes];
    if (pick == graph_shapes) {
      straight = chosen;
    } else {
      MRLDB_RETURN_IF_ERROR(confirm(graph, k, &straight).status());
    }
    MRLDB_ASSIGN_OR_RETURN(
        Point w, search_keep(graph, wide_k, std::max(min_keep(wide_k), straight.keep0), 0,
                             std::numeric_limits<double>::infinity()));
    MRLDB_ASSIGN_OR_RETURN(best.wide_held_back_recall, confirm(graph, wide_k, &w));
    best.wide_k = wide_k;
    best.straight_keep = uint32_t(straight.keep0);
    best.wide_keep = uint32_t(w.keep0);
  }
  if (options.store) {
    std::unique_lock lock(mu_);
    MRLDB_RETURN_IF_ERROR(StorePlan(PlanFromReport(best, options, PlanSource::kTune)));
  }
  return best;
}

}  // namespace mrldb
