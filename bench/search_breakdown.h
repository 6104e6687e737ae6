// `mrldb-bench search --breakdown`: where one query's time goes in Database::Search.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "bench/search_report.h"
#include "mrldb/database.h"

namespace mrldb::bench {

// Runs the `nq` queries (row-major nq x D in `queries`) one at a time through
// db.Search(collection, ..., options): once to warm up, then three rounds of the whole call
// without stats and with SearchStats, and returns the means per call. `params` names the plan.
// Run it on a database opened with DatabaseOptions::threads = 1 for one-thread figures.
// Errors: those of Search; Internal when a search reports no stages.
Result<QueryBreakdown> MeasureBreakdown(const Database& db, std::string_view collection,
                                        std::span<const float> queries, size_t nq,
                                        const SearchOptions& options, std::string params);

}  // namespace mrldb::bench
