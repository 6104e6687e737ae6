#include "bench/search_breakdown.h"

#include <fmt/format.h>

#include "bench/measure.h"

namespace mrldb::bench {

Result<QueryBreakdown> MeasureBreakdown(const Database& db, std::string_view collection,
                                        std::span<const float> queries, size_t nq,
                                        const SearchOptions& options, std::string params) {
  constexpr int kRounds = 3;
  const size_t dim = queries.size() / nq;
  auto query = [&](size_t q) { return queries.subspan(q * dim, dim); };
  for (size_t q = 0; q < nq; ++q) {  // warm-up: caches, the resolved plan, thread-local scratch
    MRLDB_RETURN_IF_ERROR(db.Search(collection, query(q), options).status());
  }
  QueryBreakdown b;
  b.params = std::move(params);
  b.queries = kRounds * nq;
  double whole = 0, with_stats = 0, stage0 = 0, rerank = 0;
  SearchStats stats;
  for (int round = 0; round < kRounds; ++round) {
    // The plain calls as one timed loop: no clock read between them.
    const auto t0 = Clock::now();
    for (size_t q = 0; q < nq; ++q) {
      MRLDB_RETURN_IF_ERROR(db.Search(collection, query(q), options).status());
    }
    whole += Since(t0);
    for (size_t q = 0; q < nq; ++q) {
      stats = SearchStats{};
      const auto t1 = Clock::now();
      MRLDB_RETURN_IF_ERROR(db.Search(collection, query(q), options, &stats).status());
      with_stats += Since(t1);
      if (stats.stages.empty()) return Status::Internal("a search reported no stages");
      stage0 += stats.stages[0].seconds;
      for (size_t s = 1; s < stats.stages.size(); ++s) rerank += stats.stages[s].seconds;
    }
  }
  b.stage0_method = stats.stages[0].method;
  const double us = 1e6 / static_cast<double>(b.queries);
  b.whole_us = whole * us;
  b.whole_stats_us = with_stats * us;
  b.stage0_us = stage0 * us;
  b.rerank_us = rerank * us;
  b.rest_us = b.whole_stats_us - b.stage0_us - b.rerank_us;
  return b;
}

}  // namespace mrldb::bench
