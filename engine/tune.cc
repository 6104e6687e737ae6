// Recall-targeted tuning: measure candidate funnels on a sample of the collection's own vectors
// against exact full-dimension search and keep the cheapest that reaches the target.
#include <algorithm>
#include <chrono>
#include <unordered_set>

#include <fmt/format.h>

#include "engine/collection.h"

namespace mrldb {

Result<TuneReport> Collection::Tune(const TuneOptions& options) {
  if (!(options.target_recall > 0 && options.target_recall <= 1)) {
    return Status::InvalidArgument(fmt::format("target recall {} is outside (0, 1]",
                                               options.target_recall));
  }
  if (options.sample_queries < 1 || options.sample_queries > 100000) {
    return Status::InvalidArgument("sample_queries must be in 1..100000");
  }
  const CollectionSpec& s = spec();
  const uint32_t k = options.k;
  std::vector<float> queries;
  size_t nq = 0;
  uint64_t live = 0;
  {
    std::shared_lock lock(mu_);
    live = live_rows_;
    if (live_rows_ < k) {
      return Status::InvalidArgument(fmt::format(
          "collection '{}' has {} rows; tuning for k = {} needs at least k", s.name, live_rows_, k));
    }
    // Deterministic sample: evenly spaced live rows.
    const uint64_t stride = std::max<uint64_t>(1, live_rows_ / options.sample_queries);
    uint64_t seen = 0;
    for (uint64_t row = 0; row < next_row_ && nq < options.sample_queries; ++row) {
      if (!live_[row] || seen++ % stride != 0) continue;
      for (size_t b = 0; b < ladder_.blocks(); ++b) {
        const float* x = cache_.Row(b, row);
        queries.insert(queries.end(), x, x + ladder_.width(b));
      }
      ++nq;
    }
  }
  SearchOptions exact;
  exact.k = k;
  exact.plan = SearchPlan::Exact();
  exact.cancel = options.cancel;
  MRLDB_ASSIGN_OR_RETURN(auto truth, SearchBatch(queries, nq, exact));

  auto measure = [&](const SearchPlan& plan, double* recall, double* ms) -> Status {
    SearchOptions o;
    o.k = k;
    o.plan = plan;
    double hits = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < nq; ++i) {
      if (options.cancel && options.cancel->load(std::memory_order_relaxed)) {
        return Status::Cancelled("TUNE cancelled; the default plan is unchanged");
      }
      MRLDB_ASSIGN_OR_RETURN(auto got, Search(std::span<const float>(queries.data() + i * s.dim, s.dim), o, nullptr));
      std::unordered_set<Key, KeyHash> want;
      for (const Hit& h : truth[i]) want.insert(h.id);
      for (const Hit& h : got) hits += want.count(h.id);
    }
    *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / nq;
    *recall = hits / (double(nq) * k);
    return Status::Ok();
  };

  // Shapes: straight to D, and through one middle granularity (the paper's funnel, shortened).
  std::vector<uint32_t> middles = {0};
  for (uint32_t g : s.granularities) {
    if (g > s.index_dim && g < s.dim) middles.push_back(g);
  }
  if (middles.size() > 3) middles = {0, middles[middles.size() / 2], middles.back()};
  TuneReport best;
  bool have = false;
  double best_recall = -1;
  for (uint32_t middle : middles) {
    // From 10 candidates (fewer when the collection has fewer rows: at least one shape is always
    // measured; live >= k was checked above) up to all rows or 20,000.
    for (uint64_t keep0 = std::max<uint64_t>(k, std::min<uint64_t>(10, live));
         keep0 <= std::min<uint64_t>(live, 20000); keep0 *= 2) {
      std::vector<FunnelStage> stages = {{s.index_dim, uint32_t(keep0)}};
      if (middle) stages.push_back({middle, uint32_t(std::max<uint64_t>(k, keep0 / 4))});
      if (s.index_dim != s.dim) stages.push_back({s.dim, 0});
      SearchPlan plan = SearchPlan::Funnel(stages, uint32_t(keep0));
      double recall = 0, ms = 0;
      MRLDB_RETURN_IF_ERROR(measure(plan, &recall, &ms));
      ++best.plans_tried;
      const bool reached = recall >= options.target_recall;
      if (reached && (!have || ms < best.ms_per_query)) {
        best.plan = plan;
        best.recall = recall;
        best.ms_per_query = ms;
        best.reached_target = true;
        have = true;
      } else if (!have && recall > best_recall) {
        best.plan = plan;
        best.recall = recall;
        best.ms_per_query = ms;
        best_recall = recall;
      }
      if (reached) break;  // larger keeps only cost more on this shape
    }
  }
  if (best.plan.stages.empty()) return Status::Internal("TUNE measured no plan");
  if (options.store) {
    SearchPlan stored = best.plan;
    stored.stages.back().keep = k;
    MRLDB_RETURN_IF_ERROR(SetDefaultPlan(stored));
  }
  return best;
}

}  // namespace mrldb
