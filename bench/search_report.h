// The results of `mrldb-bench search` and their report: the table on stdout, each system's best
// point at the target recall, QPS ratios at the target, CSV, JSON and the gnuplot PNG.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/measure.h"
#include "mrldb/status.h"

namespace mrldb::bench {

// One measured configuration. Build and memory figures are its system's, repeated on its rows.
struct SearchRow {
  std::string system{}, params{};  // params: no commas (they are CSV fields)
  uint32_t sweep = 0;                // ef = keep0 of a sweep point; 0: a single point
  Timing one{}, all{};               // one thread; all threads
  std::vector<int64_t> ids1{}, idsn{};  // nq x k results of each measurement (-1: none)
  double recall1 = 0, recalln = 0;      // recall@k of ids1 / idsn
  double build_s = 0;   // until the index is complete (0: nothing built)
  double ingest_s = 0;  // in the ingest calls (the ingest rate is rows / ingest_s)
  double index_mib = 0, total_mib = 0, rss_mib = 0;
};

// Where one query's time goes in mrldb's Search, one thread (--breakdown). Means per query.
struct QueryBreakdown {
  std::string params;         // the plan measured
  size_t queries = 0;         // Search calls measured, each way
  double whole_us = 0;        // the whole Search call, no SearchStats
  double whole_stats_us = 0;  // the whole call with SearchStats
  double stage0_us = 0;       // stage 0 (hnsw or scan), from SearchStats
  double rerank_us = 0;       // the re-rank stages together
  // whole_stats_us - stage0_us - rerank_us: plan resolution, filters, result assembly.
  double rest_us = 0;
  std::string stage0_method;  // "hnsw" or "scan"
};

struct SearchRun {
  std::string command, data, metric, ground_truth;
  size_t rows = 0, queries = 0;
  size_t queries_stored = 0;  // queries equal to a stored row (0 for synthetic data: checked)
  uint32_t dim = 0, k = 0, index_dim = 0;
  unsigned threads = 1;        // of the all-thread QPS
  unsigned build_threads = 1;  // of the builds
  std::vector<SearchRow> results;
  std::optional<QueryBreakdown> breakdown;
};

struct ReportFiles {
  std::string csv, json, plot;  // empty: not written (the plot's CSV defaults to PLOT.csv)
  std::string plot_script;      // bench/plot_recall_qps.gp
};

// Sorts run->results by system, prints the table, for each of `targets` each system's
// highest-1-thread-QPS point with recall >= target and mrldb's QPS over hnswlib's and faiss's at
// the target recall (log-QPS interpolated between the sweep points around it), the breakdown
// when there is one, then writes the files asked for.
// Errors: IOError (a file cannot be written, gnuplot cannot be run), Internal (gnuplot failed).
Status Report(SearchRun* run, const ReportFiles& files, const std::vector<double>& targets);

}  // namespace mrldb::bench
