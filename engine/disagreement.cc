// ANALYZE ... DISAGREEMENT: the sampled rows whose k nearest neighbours, or predicted label,
// change most from granularity to granularity of the ladder (the Matryoshka paper's way of
// finding hard examples). Each row is its own query, left out of its own neighbours.
#include <algorithm>

#include <fmt/format.h>

#include "engine/predict_internal.h"

namespace mrldb {
namespace {

constexpr uint32_t kMaxSample = 100000, kMaxK = 1000;

}  // namespace

Result<std::vector<Disagreement>> Collection::Disagreements(const DisagreementOptions& options) const {
  MRLDB_RETURN_IF_ERROR(WaitForRows());  // reads every row's id and attributes
  if (options.sample < 1 || options.sample > kMaxSample) {
    return Status::InvalidArgument(fmt::format("sample of {} rows is outside 1..{}", options.sample,
                                               kMaxSample));
  }
  if (options.k < 1 || options.k > kMaxK) {
    return Status::InvalidArgument(fmt::format("k = {} is outside 1..{}", options.k, kMaxK));
  }
  if (options.limit < 1) return Status::InvalidArgument("LIMIT must be at least 1");
  Cascade cascade;
  std::vector<uint64_t> sample;
  {
    std::shared_lock lock(mu_);
    if (!options.label.empty()) {
      MRLDB_ASSIGN_OR_RETURN(cascade.label, MatryoshkaAnalysis::LabelColumn(*this, options.label));
    }
    cascade.dims = spec().granularities;
    cascade.k = options.k;
    cascade.confidence = 1;
    cascade.shortlist = std::max({10 * options.k, 100u,
                                  MatryoshkaAnalysis::AnalyzedKeep(spec().analysis, cascade.dims[0], 10)});
    MRLDB_ASSIGN_OR_RETURN(auto voters, MatryoshkaAnalysis::Voters(*this, cascade.label, std::nullopt));
    sample = MatryoshkaAnalysis::SampleRows(MatryoshkaAnalysis::VoterRows(*this, voters.get()),
                                            options.sample);
  }
  const size_t L = cascade.dims.size();
  std::vector<Disagreement> out;
  MatryoshkaAnalysis::VoterCache voters;
  for (uint64_t row : sample) {
    if (options.cancel && options.cancel->load(std::memory_order_relaxed)) {
      return Status::Cancelled("ANALYZE DISAGREEMENT cancelled");
    }
    std::shared_lock lock(mu_);  // one row at a time: writers wait for one cascade at most
    if (!live_[row]) continue;
    MRLDB_RETURN_IF_ERROR(voters.Refresh(*this, cascade.label));
    MRLDB_ASSIGN_OR_RETURN(const std::vector<float> q, RowPrefix(row, spec().dim));
    CascadeRun run;
    MRLDB_RETURN_IF_ERROR(MatryoshkaAnalysis::Run(*this, q.data(), cascade, voters.voters.get(),
                                                  row, /*parallel=*/true, /*all_levels=*/true,
                                                  /*keep_neighbours=*/true, &run));
    const std::vector<uint64_t>& last = run.neighbours[L - 1];
    Disagreement d;
    d.id = keys_.Get(row);
    if (cascade.label >= 0) d.label = attrs_[cascade.label][row];
    d.predicted = run.votes[L - 1].label;
    // Settled from the first granularity after the last one that disagrees with the last.
    size_t settled = 0;
    for (size_t li = 0; li + 1 < L; ++li) {
      std::vector<uint64_t> a = run.neighbours[li], b = last;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      std::vector<uint64_t> common;
      std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(common));
      d.neighbour_churn += last.empty() ? 0 : 1 - double(common.size()) / last.size();
      const bool differs = cascade.label >= 0 ? !(run.votes[li].label == d.predicted)
                                              : common.size() != last.size() || a.size() != b.size();
      d.label_changes += cascade.label >= 0 && differs;
      if (differs) settled = li + 1;
    }
    if (L > 1) d.neighbour_churn /= double(L - 1);
    d.settles_at = cascade.dims[settled];
    out.push_back(std::move(d));
  }
  std::stable_sort(out.begin(), out.end(), [](const Disagreement& a, const Disagreement& b) {
    if (a.label_changes != b.label_changes) return a.label_changes > b.label_changes;
    return a.neighbour_churn > b.neighbour_churn;
  });
  if (out.size() > options.limit) out.resize(options.limit);
  return out;
}

}  // namespace mrldb
