// mrldb-bench tiered (bench/tiered_bench.cc): a collection larger than the memory budget, built
// by streaming ingest, searched with the default plan; the parts shared by its files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mrldb/database.h"
#include "mrldb/status.h"

namespace mrldb::bench {

struct TieredArgs {
  size_t rows = 1000000, dim = 768, nq = 1000, k = 10, batch = 10000;
  size_t build_threads = 0;  // 0: hardware concurrency
  size_t m = 0, ef_construction = 0;  // 0: the engine's defaults
  size_t verify_truth = 10;           // queries checked against the engine's exact search
  size_t stats_queries = 200;         // queries measured with SearchStats
  unsigned read_depth = 0;            // DatabaseOptions::storage_read_depth
  uint64_t seed = 42;
  double probe_seconds = 2, target = 0.95;
  std::string memory_budget, dir, json, metric = "cosine", graph_codes, sweep;
  std::string threads = "1,2", probe_threads = "1,2,4,16,64";
  bool reuse = false, no_probe = false, no_auto_tune = false;
  // Derived.
  std::optional<uint64_t> budget_bytes;
  Metric metric_value = Metric::kCosine;
  std::vector<unsigned> thread_values, probe_thread_values;
  std::vector<uint32_t> sweep_values;
};

// One stage of a plan, means per query over the SearchStats queries.
struct StageMean {
  std::string method;
  uint32_t dims = 0;
  double cache_hits = 0, reads = 0, bytes = 0, us = 0;
};

// One plan measured at one thread count: `threads` client threads, each one Search at a time.
struct PlanPoint {
  std::string plan;    // as the engine states it (the default resolved)
  uint32_t sweep = 0;  // keep0 of a --sweep funnel; 0: the default plan
  unsigned threads = 0;
  size_t queries = 0;
  double qps = 0, p50_ms = 0, p99_ms = 0, recall = 0;
  std::vector<StageMean> stages;  // measured at the first thread count only
  double Reads() const;
  double Bytes() const;
  double CacheHits() const;
};

struct OpenTiming {
  unsigned threads = 0;
  // From the call: Open returned; its first query (a fresh one, default plan) answered;
  // everything loaded (WaitForLoading).
  double open_s = 0, first_query_s = 0, loaded_s = 0;
};

struct SearchPhase {
  std::string plan_in_force;
  std::vector<OpenTiming> opens;
  std::vector<PlanPoint> points;
  DatabaseMemory memory;  // after the loading, last open
  uint32_t resident_blocks = 0, blocks = 0;
};

using ProgressFn = std::function<void(const std::string&)>;

// Opens the database at `path` once per thread count of a.thread_values (DatabaseOptions::threads
// = that count, a.budget_bytes), waits for the resident blocks, warms up on the `warmup` queries
// (never measured; row-major, dim values each), then runs the default plan and every --sweep
// funnel over the nq `queries` from that many client threads; recall against `truth` (nq x k).
// The first thread count also measures each plan's SearchStats, after its timed run, on the
// `stats_set` queries (neither measured nor warm-up ones: their reads are not cache hits of the
// timed run).
Result<SearchPhase> MeasureSearches(const std::string& path, const TieredArgs& a,
                                    const std::vector<float>& queries,
                                    const std::vector<float>& warmup,
                                    const std::vector<float>& stats_set,
                                    const std::vector<int64_t>& truth, const ProgressFn& progress);

}  // namespace mrldb::bench
