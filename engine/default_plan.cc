// Default plans: the derived plan, a stored plan re-derived for another k, storing plans (by
// hand, TUNE or the background tuner) and the background tuner's policy
// (docs/architecture.md, "Default plans").
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "engine/collection.h"
#include "engine/predict_internal.h"

namespace mrldb {

namespace {

// The auto-tuner tunes recall@10 (SQL's usual LIMIT and the benchmarks' k).
constexpr uint32_t kAutoTuneK = 10;
// A collection the background tuner reaches with at least this many rows and no analysis is
// analysed first (ANALYZE c): the verdict is logged, stored (DESCRIBE), and read by the derived
// plan, so an embedding with weak prefixes is told apart before its first tune.
constexpr uint64_t kAutoAnalyzeRows = 10000;
// keep0(k) = keep0 * (k / k0)^s. Without measured points: s = 0.5, between the slopes measured on
// synthetic sets (0.39 with weak prefixes, 0.93 with strong ones, where keep0 is close to k
// anyway and the floor at k decides) and far below the linear rule's 1, which ran EF 6400 at
// k = 100 for a plan tuned at 10, slower than an exact scan.
constexpr double kDefaultSlope = 0.5;

// Whether `rows` live rows are half again as many as `since` (0: always).
bool GrownByHalf(uint64_t rows, uint64_t since) { return rows >= since + since / 2; }

}  // namespace

std::vector<FunnelStage> Collection::DerivedPlan(uint32_t k) const {
  // Shortlist generously at the index prefix, then halve the candidates at each granularity
  // above it; the full dimension keeps k. An ANALYZE measured how long an exact shortlist at
  // each prefix must be: no stage keeps fewer (weak prefixes widen the funnel). Where it found
  // the index prefix too weak to shortlist from, exact search replaces the funnel when it scores
  // fewer values than the graph walk for that shortlist would: a flat 6,000 x 256 set needed
  // 64 KEEP 2435, which ran at an eighth of exact search's speed
  // (Analyze.AWeakIndexPrefixGetsExactSearchInsteadOfAPlanMissingTheTarget).
  // A scan of a middle prefix is left to Tune, which measures it: its shortlist's re-rank costs
  // far more per candidate than the values it reads (measured there: 128 KEEP 779 took 2.3x
  // exact search's time).
  const CollectionSpec& s = spec();
  const PrefixAnalysis& a = s.analysis;
  auto analyzed = [&](uint32_t g) { return MatryoshkaAnalysis::AnalyzedKeep(a, g, k); };
  uint32_t keep = std::max({10 * k, 100u, analyzed(s.index_dim)});
  if (MatryoshkaAnalysis::WeakIndexPrefix(a, s.index_dim) && s.index_dim != s.dim) {
    // The walk scores about 2 m neighbours of each node it expands (at random addresses, so
    // this count flatters it), then the re-rank reads the rest of each candidate.
    const double walk = double(keep) * (2.0 * s.hnsw.m * s.index_dim + (s.dim - s.index_dim));
    if (double(live_rows_) * s.dim < walk) return {{s.dim, k}};
  }
  std::vector<FunnelStage> stages;
  stages.push_back({s.index_dim, keep});
  for (uint32_t g : s.granularities) {
    if (g <= s.index_dim || g == s.dim) continue;
    keep = std::min(keep, std::max({keep / 2, 2 * k, analyzed(g)}));
    stages.push_back({g, keep});
  }
  if (s.index_dim != s.dim) stages.push_back({s.dim, k});
  return stages;
}

std::vector<FunnelStage> Collection::DefaultStages(uint32_t k, uint32_t* ef) const {
  if (plan_.stages.empty()) {
    *ef = 0;
    return DerivedPlan(k);
  }
  std::vector<FunnelStage> stages = plan_.stages;
  *ef = plan_.ef;
  const uint32_t k0 = plan_.k;
  if (k0 == 0 || k <= k0) return stages;  // made for any k, or for at least k
  // v * (k / k0)^slope, at least k (the 1e-9 keeps a measured point from rounding up past it).
  auto scaled = [&](uint32_t v, double slope) {
    const double grown = std::ceil(v * std::pow(double(k) / k0, slope) - 1e-9);
    return uint32_t(std::clamp(grown, double(k), double(kMaxSearchEf)));
  };
  const DefaultPlan& p = plan_;
  if (p.wide_k > k0 && p.straight_keep > 0 && p.wide_keep > 0) {
    const double slope = std::max(0.0, std::log(double(p.wide_keep) / p.straight_keep) /
                                           std::log(double(p.wide_k) / k0));
    const uint32_t keep0 = scaled(p.straight_keep, slope);
    *ef = keep0;
    const CollectionSpec& s = spec();
    if (s.index_dim == s.dim) return {{s.dim, k}};
    return {{s.index_dim, keep0}, {s.dim, k}};
  }
  for (size_t i = 0; i + 1 < stages.size(); ++i) stages[i].keep = scaled(stages[i].keep, kDefaultSlope);
  if (*ef) *ef = scaled(*ef, kDefaultSlope);
  return stages;
}

Status Collection::StorePlan(DefaultPlan plan) {
  std::swap(plan, plan_);
  Status st = WriteDescriptor();
  if (!st.ok()) {
    plan_ = std::move(plan);
    return st;
  }
  ++plan_generation_;
  return st;
}

Status Collection::SetDefaultPlan(const SearchPlan& plan) {
  std::unique_lock lock(mu_);
  if (plan.kind == SearchPlan::Kind::kDefault) return StorePlan(DefaultPlan{});
  if (plan.kind != SearchPlan::Kind::kFunnel) {
    return Status::InvalidArgument("a default plan must be a FUNNEL (or DEFAULT to clear it)");
  }
  // The last stage's keep, when given, is the k the plan was made for (a search for more rows
  // re-derives it); 0 means "any k" (used as it is).
  const uint32_t plan_k = plan.stages.empty() ? 0 : plan.stages.back().keep;
  MRLDB_ASSIGN_OR_RETURN(ResolvedPlan r, ResolvePlan(plan, std::max<uint32_t>(1, plan_k)));
  DefaultPlan p;
  p.stages = r.stages;
  p.stages.back().keep = plan_k;
  p.ef = r.ef;
  p.k = plan_k;
  p.source = PlanSource::kSet;
  p.rows = live_rows_;
  return StorePlan(std::move(p));
}

void Collection::SetDropped(bool dropped) {
  {
    std::unique_lock lock(mu_);
    dropped_ = dropped;
    tune_cancel_ = dropped;
  }
  // A vacuum writing now finishes first; one writing later sees tune_cancel_ and stops.
  std::lock_guard fence(vacuum_write_mu_);
}

bool Collection::AutoTuneDue(uint64_t min_rows) const {
  std::shared_lock lock(mu_);
  if (tune_cancel_ || dropped_ || live_rows_ < std::max<uint64_t>(min_rows, 1)) return false;
  if (!graph_ok_ || indexed_upto_ < next_row_) return false;  // tune on the built graph
  if (rows_loading_) return false;  // the tune names rows by id
  const double target = spec().target_recall;
  if (attempt_.made && attempt_.generation == plan_generation_ && attempt_.target == target &&
      !GrownByHalf(live_rows_, attempt_.rows)) {
    return false;
  }
  const bool grown = GrownByHalf(live_rows_, plan_.rows);
  switch (plan_.source) {
    case PlanSource::kDerived: return true;
    case PlanSource::kAutoTuned: return grown || plan_.target != target;
    case PlanSource::kTune:
    case PlanSource::kSet: return grown;  // the user's plan, until the data outgrew it
  }
  return false;
}

Status Collection::AutoTune() {
  uint64_t live = 0;
  {
    std::shared_lock lock(mu_);
    live = live_rows_;
  }
  if (spec().analysis.rows == 0 && live >= kAutoAnalyzeRows) {
    AnalyzeOptions ao;
    ao.cancel = &tune_cancel_;
    auto a = Analyze(ao);  // logs its verdict
    if (!a.ok() && a.status().code() == Status::Code::kCancelled) return Status::Ok();
    if (!a.ok() && log_) {
      log_(fmt::format("collection '{}': the automatic ANALYZE failed: {}", spec().name,
                       a.status().ToString()));
    }
  }
  TuneOptions o;
  o.k = kAutoTuneK;
  o.store = false;
  o.cancel = &tune_cancel_;
  uint64_t generation = 0, rows = 0;
  std::string replaced;
  {
    std::unique_lock lock(mu_);
    o.target_recall = spec().target_recall;
    generation = plan_generation_;
    rows = live_rows_;
    attempt_ = TuneAttempt{generation, rows, o.target_recall, true};
    replaced = plan_.stages.empty() ? "the derived plan"
                                    : fmt::format("a {} plan", PlanSourceName(plan_.source));
  }
  if (log_) {
    log_(fmt::format("collection '{}': tuning the default plan in the background for recall@{} "
                     "{} over {} rows", spec().name, o.k, o.target_recall, rows));
  }
  MRLDB_ASSIGN_OR_RETURN(TuneReport report, Tune(o));
  {
    std::unique_lock lock(mu_);
    if (tune_cancel_ || generation != plan_generation_ || spec().target_recall != o.target_recall) {
      return Status::Ok();  // a TUNE, SET or ALTER came in meanwhile: theirs stands
    }
    MRLDB_RETURN_IF_ERROR(StorePlan(PlanFromReport(report, o, PlanSource::kAutoTuned)));
  }
  if (log_) {
    log_(fmt::format("collection '{}': auto-tuned the default plan for recall@{} {} over {} rows: "
                     "{} (held-back recall {:.3f}{}), replacing {}",
                     spec().name, o.k, o.target_recall, report.rows, report.plan.ToString(),
                     report.held_back_recall, report.reached_target ? "" : ", short of the target",
                     replaced));
  }
  return Status::Ok();
}

DefaultPlan Collection::PlanFromReport(const TuneReport& report, const TuneOptions& options,
                                       PlanSource source) {
  DefaultPlan p;
  p.stages = report.plan.stages;
  p.stages.back().keep = options.k;
  p.ef = report.plan.ef;
  p.k = options.k;
  p.wide_k = report.wide_k;
  p.straight_keep = report.straight_keep;
  p.wide_keep = report.wide_keep;
  p.source = source;
  p.rows = report.rows;
  p.target = options.target_recall;
  p.recall = report.held_back_recall;
  return p;
}

}  // namespace mrldb
