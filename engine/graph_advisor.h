// Choosing the graph: which index prefix and code type serve a recall target cheapest
// (docs/architecture.md, "Choosing the graph").
//
// For each candidate (prefix dims, codes) MeasureGraphs builds an HNSW graph over a sample of
// rows and finds, as Tune does for the funnel (sample rows as queries, each left out of its own
// results; doubling then bisection against target + 0.005 on one half, confirmed on the other),
// the smallest shortlist for which "graph shortlist at the prefix, exact re-rank at D" reaches
// the target, and that funnel's latency. Every candidate gets the same straight funnel: the
// comparison is of graphs, not of funnel shapes (Tune picks the shape on the graph chosen).
//
// Thread safety: MeasureGraphs touches nothing but its arguments; it runs on the caller's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "mrldb/status.h"
#include "mrldb/types.h"

namespace mrldb {

struct GraphSample {
  Metric metric = Metric::kCosine;
  uint32_t dim = 0;
  std::vector<float> rows;  // row-major n x dim
  size_t n() const { return dim ? rows.size() / dim : 0; }
};

struct GraphCandidate {
  uint32_t dims = 0;
  GraphCodes codes = GraphCodes::kFloat32;
  uint64_t keep0 = 0;       // the shortlist (and ef) found
  double recall = 0;        // recall@k on the held-back half at keep0
  double ms = 0;            // mean latency per query at keep0 (graph + re-rank), one thread
  bool reached = false;     // keep0 reaches the target on both halves
  size_t memory_bytes = 0;  // the sample graph's (vectors or codes, links)
};

struct GraphMeasureOptions {
  // Default: 0.95.
  double target_recall = 0.95;
  // Default: 10.
  uint32_t k = 10;
  // Sample rows used as queries: even positions tune, odd ones confirm. Default: 200.
  uint32_t queries = 200;
  // m and ef_construction of the graphs built (their codes are the candidate's).
  HnswParams hnsw;
  // Checked between queries: once true, MeasureGraphs fails with Cancelled. Default: none.
  const std::atomic<bool>* cancel = nullptr;
};

// One result per candidate, in the candidates' order. Errors: InvalidArgument (a sample of fewer
// than 10 (k + 1) rows, a candidate's dims outside 1..dim), Cancelled, a graph's error.
Result<std::vector<GraphCandidate>> MeasureGraphs(
    const GraphSample& sample, const std::vector<std::pair<uint32_t, GraphCodes>>& candidates,
    const GraphMeasureOptions& options);

// The graphs the chooser measures for `spec`: every ladder prefix from 16 to 128 dims, float32
// and int8, and the current configuration. A stored ANALYZE (spec.analysis) steers the list:
// a prefix whose exact shortlist held the target only beyond kMaxAnalyzedShortlist rows is left
// out (no graph on it reaches the target with a shortlist worth walking), and its graph_prefix
// (the smallest granularity shortlisting well), when above 128, is added.
std::vector<std::pair<uint32_t, GraphCodes>> GraphCandidates(const CollectionSpec& spec);

// The candidate to switch to: the fastest reaching the target, when it is not the current one
// and is at least `factor` times faster than it (or the current one misses the target); else
// null. A current configuration absent from `measured` counts as missing the target.
const GraphCandidate* ChooseGraph(const std::vector<GraphCandidate>& measured,
                                  uint32_t current_dims, GraphCodes current_codes, double factor);

}  // namespace mrldb
