// The command line of `mrldb-bench search`: its options, their checks and the usage text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "mrldb/status.h"
#include "mrldb/synthetic.h"
#include "mrldb/types.h"

namespace mrldb::bench {

struct SearchArgs {
  size_t synthetic = 1000000, dim = 768, nq = 1000, k = 10, index_dim = 64, threads = 0;
  size_t build_threads = 0;  // 0: threads
  size_t ef_construction = 200;  // every system's HNSW build
  std::string data, queries, metric = "cosine", sweep = "20,40,80,160,320,640";
  std::string graph_codes = "int8", targets = "0.95";
  std::string systems = "mrldb,hnswlib,faiss,exact", gt, csv, json, plot, dir;
  std::string plot_script;
  // The synthetic generator (--decay, --clusters, --flat); seed 42, dim from --dim.
  SyntheticOptions synthetic_options;
  std::string decay;                                   // --decay as given
  size_t clusters = SyntheticOptions{}.clusters;       // --clusters
  bool flat = false;                                   // --flat
  bool breakdown = false;  // --breakdown
  std::string memory_budget;  // --memory-budget SIZE (mrldb only)
  std::optional<uint64_t> memory_budget_bytes;
  // Derived from the strings above.
  Metric metric_value = Metric::kCosine;
  std::vector<uint32_t> sweep_values;  // ascending, each >= k
  std::vector<double> target_values;   // ascending, in (0, 1]
  bool mrldb = false, hnswlib = false, faiss = false, exact = false;
};

// Adds `search` and its options to `parent` (the one place to add one); the parse fills *a
// (whose plot_script the caller preset), which must outlive it.
CLI::App* AddSearchOptions(CLI::App* parent, SearchArgs* a);

// After the parse of `search`: the checks across options and the derived values. Errors:
// InvalidArgument naming the option at fault.
Status FinishSearchArgs(const CLI::App& search, SearchArgs* a);

// "synthetic Matryoshka" (the default generator) or its variant, for the report's data line:
// "synthetic Matryoshka (decay 0.3, 1000 clusters)", "synthetic flat (64 clusters)".
std::string SyntheticName(const SyntheticOptions& o);

}  // namespace mrldb::bench
