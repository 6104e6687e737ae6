// TUNE PREDICT: the confidence threshold of a cascade, chosen on sampled labelled rows (each
// left out of its own vote) so that the cascade's accuracy stays within a margin of exact
// full-dimension k-NN at the lowest mean granularity; half the sample chooses, the other half
// must confirm (else the threshold rises until it does), as Tune does for recall. Unless the
// shortlist is given, it is widened first until the whole cascade reaches the goal.
#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "engine/predict_internal.h"

namespace mrldb {
namespace {

constexpr uint32_t kMinSample = 20, kMaxSample = 100000;
// The most a tune widens the default shortlist.
constexpr uint64_t kMaxGrowth = 16;

// One sampled row: its label, the cascade's vote at every granularity, exact full-D k-NN's vote.
struct Measured {
  uint64_t row = 0;
  Value truth;
  std::vector<LevelVote> votes;
  LevelVote full;
};

// The granularity a threshold stops at (as MatryoshkaAnalysis::Run decides).
size_t Decided(const Measured& m, double t) {
  for (size_t li = 0; li + 1 < m.votes.size(); ++li) {
    if (std::holds_alternative<std::monostate>(m.votes[li].label)) return li;
    if (t < 1 && m.votes[li].confidence >= t) return li;
  }
  return m.votes.size() - 1;
}

struct Score {
  double accuracy = 0, full = 0, dims = 0;
};

// Accuracy and mean dims at threshold t over the measured rows i = half, half + 2, ...
Score Evaluate(const std::vector<Measured>& ms, size_t half, double t,
               const std::vector<uint32_t>& dims) {
  Score s;
  size_t n = 0;
  for (size_t i = half; i < ms.size(); i += 2, ++n) {
    const size_t d = Decided(ms[i], t);
    s.accuracy += ms[i].votes[d].label == ms[i].truth;
    s.full += ms[i].full.label == ms[i].truth;
    s.dims += dims[d];
  }
  if (n) s.accuracy /= n, s.full /= n, s.dims /= n;
  return s;
}

}  // namespace

Result<PredictCalibration> Collection::TunePredict(const TunePredictOptions& options) {
  MRLDB_RETURN_IF_ERROR(WaitForRows());  // reads every row's id and attributes
  if (!(options.margin >= 0 && options.margin < 1)) {
    return Status::InvalidArgument(fmt::format("accuracy margin {} is outside [0, 1)", options.margin));
  }
  if (options.sample < kMinSample || options.sample > kMaxSample) {
    return Status::InvalidArgument(fmt::format("sample of {} rows is outside {}..{}", options.sample,
                                               kMinSample, kMaxSample));
  }
  PredictOptions po;
  po.label = options.label;
  po.k = options.k;
  po.cascade = options.cascade;
  po.vote = options.vote;
  po.shortlist = options.shortlist;
  Cascade cascade;
  std::vector<uint64_t> sample;
  uint64_t rows = 0;
  {
    std::shared_lock lock(mu_);
    MRLDB_ASSIGN_OR_RETURN(cascade, MatryoshkaAnalysis::Resolve(*this, po, /*calibration=*/false));
    MRLDB_ASSIGN_OR_RETURN(auto voters, MatryoshkaAnalysis::Voters(*this, cascade.label, std::nullopt));
    const std::vector<uint64_t> labelled = MatryoshkaAnalysis::VoterRows(*this, voters.get());
    if (labelled.size() < kMinSample) {
      return Status::InvalidArgument(fmt::format(
          "TUNE PREDICT needs at least {} rows labelled in '{}'; collection '{}' has {}",
          kMinSample, options.label, spec().name, labelled.size()));
    }
    sample = MatryoshkaAnalysis::SampleRows(labelled, options.sample);
    rows = live_rows_;
  }
  // One query at a time, each under mu_ shared on its own (writers wait for one at most).
  // Full-dimension k-NN's votes are measured once, the cascade's again for each shortlist.
  std::vector<Measured> measured;
  MatryoshkaAnalysis::VoterCache voters;
  auto measure = [&]() -> Status {
    const bool first = measured.empty();
    size_t next = 0;
    for (uint64_t row : sample) {
      if (options.cancel && options.cancel->load(std::memory_order_relaxed)) {
        return Status::Cancelled("TUNE PREDICT cancelled; nothing was stored");
      }
      std::shared_lock lock(mu_);
      if (first ? !live_[row] || std::holds_alternative<std::monostate>(attrs_[cascade.label][row])
                : next >= measured.size() || measured[next].row != row) {
        continue;  // deleted or relabelled since: left out
      }
      MRLDB_RETURN_IF_ERROR(voters.Refresh(*this, cascade.label));
      MRLDB_ASSIGN_OR_RETURN(const std::vector<float> q, RowPrefix(row, spec().dim));
      if (first) {
        Measured& m = measured.emplace_back();
        m.row = row;
        m.truth = attrs_[cascade.label][row];
        MRLDB_ASSIGN_OR_RETURN(m.full, MatryoshkaAnalysis::FullVote(*this, q.data(), cascade,
                                                                    voters.voters.get(), row));
      }
      CascadeRun run;
      MRLDB_RETURN_IF_ERROR(MatryoshkaAnalysis::Run(*this, q.data(), cascade, voters.voters.get(),
                                                    row, /*parallel=*/true, /*all_levels=*/true,
                                                    false, &run));
      measured[next++].votes = std::move(run.votes);
    }
    return Status::Ok();
  };
  MRLDB_RETURN_IF_ERROR(measure());
  if (measured.size() < 2) return Status::InvalidArgument("too few sampled rows are still live");
  // Mean dims only grow with the threshold: the smallest that reaches the goal is the cheapest.
  auto reaches = [&](size_t half, double t) {
    const Score s = Evaluate(measured, half, t, cascade.dims);
    return s.accuracy >= s.full - options.margin - 1e-12;
  };
  // A shortlist too short at a weak first granularity loses accuracy even at the last one:
  // unless one was given, it doubles (up to kMaxGrowth times) until the full cascade reaches
  // the goal on both halves.
  const uint32_t cap = std::min<uint64_t>(uint64_t{cascade.shortlist} * kMaxGrowth, 100000);
  while (!options.shortlist && !(reaches(0, 1.0) && reaches(1, 1.0)) && cascade.shortlist * 2 <= cap) {
    cascade.shortlist *= 2;
    MRLDB_RETURN_IF_ERROR(measure());
  }
  // Every threshold that decides differently: one between each two confidences seen before the
  // last granularity (a threshold of exactly 1 never stops early, so "unanimous" is 0.95 at
  // k = 10), and 0 and 1.
  std::set<double> seen;
  for (const Measured& m : measured) {
    for (size_t li = 0; li + 1 < m.votes.size(); ++li) seen.insert(m.votes[li].confidence);
  }
  std::set<double> thresholds = {0.0, 1.0};
  for (auto a = seen.begin(); a != seen.end() && std::next(a) != seen.end(); ++a) {
    thresholds.insert((*a + *std::next(a)) / 2);
  }
  auto it = std::find_if(thresholds.begin(), thresholds.end(), [&](double t) { return reaches(0, t); });
  if (it == thresholds.end()) it = std::prev(thresholds.end());
  while (std::next(it) != thresholds.end() && !reaches(1, *it)) ++it;
  const Score held = Evaluate(measured, 1, *it, cascade.dims);

  PredictCalibration cal;
  cal.label = spec().attributes[cascade.label].name;
  cal.k = cascade.k;
  cal.cascade = cascade.dims;
  cal.vote = cascade.vote;
  cal.shortlist = cascade.shortlist;
  cal.confidence = *it;
  cal.margin = options.margin;
  cal.accuracy = held.accuracy;
  cal.full_accuracy = held.full;
  cal.mean_dims = held.dims;
  cal.reached = reaches(1, *it);
  cal.sample = uint32_t(measured.size());
  cal.rows = rows;
  if (options.store) {
    MRLDB_RETURN_IF_ERROR(MatryoshkaAnalysis::StoreSpec(*this, [&](CollectionSpec& s) {
      std::erase_if(s.calibrations, [&](const PredictCalibration& p) { return p.label == cal.label; });
      s.calibrations.push_back(cal);
    }));
  }
  if (log_) {
    log_(fmt::format("collection '{}': PREDICT {} calibrated: confidence {} (held-back accuracy "
                     "{:.4f} against full-dimension k-NN {:.4f}, mean dims {:.1f}{})",
                     spec().name, cal.label, cal.confidence, cal.accuracy, cal.full_accuracy,
                     cal.mean_dims, cal.reached ? "" : ", short of the margin"));
  }
  return cal;
}

}  // namespace mrldb
