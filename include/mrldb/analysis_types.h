// What a collection's descriptor keeps of its Matryoshka analysis (ANALYZE) and of the
// calibration of adaptive classification (TUNE PREDICT); docs/architecture.md, "Adaptive
// classification and prefix analysis". Plain data; CollectionSpec holds them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mrldb {

// How the k nearest neighbours vote for a label.
//   kUniform:  one vote each.
//   kDistance: Dudani's rule, w_i = (d_k - d_i) / (d_k - d_1) (1 for all when d_k = d_1): the
//              nearest counts 1, the k-th 0; shift-invariant, so it suits every metric.
enum class VoteRule : uint8_t { kUniform = 0, kDistance = 1 };
std::string_view VoteRuleName(VoteRule v);  // "uniform", "distance"

// The thresholds TUNE PREDICT chose for one label column (mrldb/predict.h).
struct PredictCalibration {
  std::string label;              // the attribute column
  uint32_t k = 10;
  std::vector<uint32_t> cascade;  // granularities, increasing
  VoteRule vote = VoteRule::kUniform;
  uint32_t shortlist = 0;         // candidates kept at every granularity
  double confidence = 1;          // the chosen threshold
  double margin = 0.005;          // allowed accuracy loss against full-dimension k-NN
  // Measured on the held-back half of the sample (each query left out of its own vote):
  double accuracy = 0;            // the cascade at `confidence`
  double full_accuracy = 0;       // exact full-dimension k-NN
  double mean_dims = 0;           // mean deciding granularity
  bool reached = false;           // accuracy >= full_accuracy - margin
  uint32_t sample = 0;            // labelled rows sampled (half choose, half confirm)
  uint64_t rows = 0;              // live rows when it was made
};

// One granularity of ANALYZE.
struct PrefixQuality {
  uint32_t dims = 0;
  // recall@10 of exact search over [0, dims) against exact full-dimension search.
  double recall = 0;
  // Spearman rank correlation of the prefix distances with the full ones (a fixed subset of rows
  // per query), averaged over the queries.
  double rank_corr = 0;
  // The smallest exact prefix shortlist holding `target` of the full-dimension top 10 (over all
  // sampled queries); 0 when even kMaxAnalyzedShortlist (mrldb/predict.h) does not.
  uint32_t shortlist = 0;
  // k-NN accuracy (10 neighbours, uniform vote) at this prefix when a label was analysed; -1 else.
  double accuracy = -1;
};

struct PrefixAnalysis {
  uint64_t rows = 0;           // live rows when it ran (0: never analysed)
  uint32_t sample = 0;         // queries: sampled rows moved off their rows, each left out
  std::string label;           // the label column analysed, or empty
  double target = 0.95;        // the recall the shortlists are for (the collection's target)
  // recall@10 of the ladder's last block alone ([g_{L-1}, D)) against full-dimension search: a
  // same-width prefix beats it clearly in a Matryoshka embedding, not in an ordinary one.
  double suffix_recall = 0;
  bool matryoshka = false;     // the verdict
  uint32_t graph_prefix = 0;   // the smallest granularity whose shortlist is at most kGoodShortlist
  std::string verdict;         // the verdict in words, with the figures behind it
  std::vector<PrefixQuality> levels;  // one per granularity of the ladder
};

}  // namespace mrldb
