// The results of `mrldb-bench search` and their report: the table on stdout, each system's best
// point at the target recall, QPS ratios at the target, CSV, JSON and the gnuplot PNG.
#pragma once

#include <cstddef>
#include <cstdint>
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

struct SearchRun {
  std::string command, data, metric, ground_truth;
  size_t rows = 0, queries = 0;
  uint32_t dim = 0, k = 0, index_dim = 0;
  unsigned threads = 1;
  std::vector<SearchRow> results;
};

struct ReportFiles {
  std::string csv, json, plot;  // empty: not written (the plot's CSV defaults to PLOT.csv)
  std::string plot_script;      // bench/plot_recall_qps.gp
};

// Sorts run->results by system, prints the table, each system's highest-1-thread-QPS point with
// recall >= target and mrldb's QPS over hnswlib's and faiss's at the target recall (log-QPS
// interpolated between the sweep points around it), then writes the files asked for.
// Errors: IOError (a file cannot be written, gnuplot cannot be run), Internal (gnuplot failed).
Status Report(SearchRun* run, const ReportFiles& files, double target);

}  // namespace mrldb::bench
