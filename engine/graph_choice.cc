// The background graph chooser (DatabaseOptions::auto_graph): which index prefix and code type
// the collection's graph should have for its recall target (docs/architecture.md, "Choosing the
// graph"). The measurement is engine/graph_advisor.cc; this is when it runs and what follows.
#include <algorithm>

#include <fmt/format.h>

#include "engine/collection.h"
#include "engine/graph_advisor.h"

namespace mrldb {

namespace {

// Below this many live rows a sample says little about the graph the collection will need.
constexpr uint64_t kMinRows = 5000;
// The sample: a tenth of the rows, at least 10,000 (all of a smaller collection), at most 50,000
// (at 1M rows, eight graphs of 50,000 rows take the tuner thread a few minutes).
constexpr uint64_t kMinSample = 10000, kMaxSample = 50000;
// Another graph must be this much faster than the current one to be worth a rebuild (latencies
// measured on a busy machine vary by some 10%).
constexpr double kClearlyFaster = 1.25;

std::string Describe(const GraphCandidate& c) {
  return fmt::format("index_dim {} {}: {:.4f} ms/query at keep {} (held-back recall {:.3f}{})",
                     c.dims, GraphCodesName(c.codes), c.ms, c.keep0, c.recall,
                     c.reached ? "" : ", short");
}

}  // namespace

bool Collection::AutoGraphDue() const {
  std::shared_lock lock(mu_);
  if (tune_cancel_ || dropped_ || live_rows_ < kMinRows) return false;
  if (!graph_ok_ || indexed_upto_ < next_row_) return false;
  // Tuned first: an auto-tuned plan is in force on this graph (a rebuild clears it).
  if (plan_.source != PlanSource::kAutoTuned) return false;
  const uint64_t since = std::max(spec().graph_advice.rows, graph_attempt_rows_.load());
  return since == 0 || live_rows_ >= 2 * since;
}

Status Collection::AutoChooseGraph() {
  GraphSample sample;
  GraphMeasureOptions o;
  uint32_t dims = 0;
  GraphCodes codes = GraphCodes::kFloat32;
  uint64_t rows = 0;
  std::vector<std::pair<uint32_t, GraphCodes>> candidates;
  {
    std::shared_lock lock(mu_);
    const CollectionSpec& s = spec();
    candidates = GraphCandidates(s);
    rows = live_rows_;
    graph_attempt_rows_ = rows;
    dims = s.index_dim;
    codes = s.hnsw.codes;
    o.target_recall = s.target_recall;
    o.hnsw = s.hnsw;
    sample.metric = s.metric;
    sample.dim = s.dim;
    const uint64_t want = std::min(rows, std::clamp(rows / 10, kMinSample, kMaxSample));
    const uint64_t stride = std::max<uint64_t>(1, rows / want);
    sample.rows.reserve(want * s.dim);
    for (uint64_t row = 0, seen = 0; row < next_row_ && sample.n() < want; ++row) {
      if (!live_[row] || seen++ % stride != 0) continue;
      MRLDB_ASSIGN_OR_RETURN(const std::vector<float> v, RowPrefix(row, s.dim));
      sample.rows.insert(sample.rows.end(), v.begin(), v.end());
    }
  }
  o.cancel = &tune_cancel_;
  if (log_) {
    log_(fmt::format("collection '{}': measuring {} graphs on {} of {} rows for recall@{} {}",
                     spec().name, candidates.size(), sample.n(), rows, o.k, o.target_recall));
  }
  MRLDB_ASSIGN_OR_RETURN(std::vector<GraphCandidate> measured, MeasureGraphs(sample, candidates, o));
  const GraphCandidate* pick = ChooseGraph(measured, dims, codes, kClearlyFaster);
  std::string all;
  for (const GraphCandidate& c : measured) all += (all.empty() ? "" : "; ") + Describe(c);
  const auto current = std::find_if(measured.begin(), measured.end(), [&](const GraphCandidate& c) {
    return c.dims == dims && c.codes == codes;
  });
  GraphAdvice advice;
  advice.rows = rows;
  advice.note = pick ? fmt::format("chose {}, over the current {}", Describe(*pick), Describe(*current))
                     : fmt::format("kept {}: no graph {}x faster", Describe(*current), kClearlyFaster);
  advice.note += fmt::format(" (recall@{} {}, {} of {} rows sampled; measured: {})", o.k,
                             o.target_recall, sample.n(), rows, all);
  if (log_) log_(fmt::format("collection '{}': graph: {}", spec().name, advice.note));
  if (pick) {
    {
      std::shared_lock lock(mu_);  // an ALTER or a drop meanwhile wins
      if (tune_cancel_ || dropped_ || spec().index_dim != dims || spec().hnsw.codes != codes) {
        return Status::Ok();
      }
    }
    AlterOptions a;
    a.index_dim = pick->dims;
    a.codes = pick->codes;
    return Alter(a, &advice);
  }
  std::unique_lock lock(mu_);
  if (tune_cancel_ || dropped_ || spec().index_dim != dims || spec().hnsw.codes != codes) {
    return Status::Ok();
  }
  const GraphAdvice old = desc_.spec.graph_advice;
  desc_.spec.graph_advice = advice;
  Status st = WriteDescriptor();
  if (!st.ok()) desc_.spec.graph_advice = old;
  return st;
}

}  // namespace mrldb
