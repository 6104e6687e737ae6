// Matryoshka-native analysis: adaptive k-NN classification (Database::Predict, SQL PREDICT),
// its calibration (TunePredict, TUNE PREDICT), prefix quality (Analyze, ANALYZE) and the
// granularity disagreement report (Disagreement, ANALYZE ... DISAGREEMENT).
//
// A cascade is a list of granularities g1 < g2 < ... At g1 the `shortlist` nearest labelled rows
// are found (by the HNSW graph when g1 is the index prefix, else by a scan of that prefix; a
// filter as in Search); at every granularity the survivors are re-ranked exactly over [0, g),
// reading only the blocks g adds, and their k nearest vote. The first granularity whose
// winning label has at least `confidence` of the vote answers; the last one always does.
// Rows whose label is NULL never vote. docs/architecture.md, "Adaptive classification".
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mrldb/analysis_types.h"
#include "mrldb/filter.h"
#include "mrldb/types.h"

namespace mrldb {

// The largest shortlist ANALYZE measures (PrefixQuality::shortlist), and the shortlist at or
// below which a prefix serves a graph well (PrefixAnalysis::graph_prefix).
inline constexpr uint32_t kMaxAnalyzedShortlist = 4096;
inline constexpr uint32_t kGoodShortlist = 400;

struct PredictOptions {
  // The attribute column holding the labels: TEXT, INT or BOOL (FLOAT is not a label). Required.
  std::string label;
  // Every field below left unset takes the value TUNE PREDICT stored for `label`, else the
  // default named.
  // Neighbours that vote, 1..1000. Default: 10.
  std::optional<uint32_t> k;
  // Granularities of the ladder, increasing. Default: the whole ladder.
  std::vector<uint32_t> cascade;
  // Vote share in [0, 1] the winning label needs for a granularity to answer; 1: only the last
  // granularity answers (full k-NN over the shortlist), 0: always the first. Default: 0.9.
  std::optional<double> confidence;
  // Default: kUniform.
  std::optional<VoteRule> vote;
  // Candidates found at the first granularity and re-ranked at the later ones, k..100000.
  // Default: max(10 k, 100), and at least ANALYZE's measured shortlist at the first granularity.
  std::optional<uint32_t> shortlist;
  // Only rows matching it vote. Default: none.
  std::optional<Filter> filter;
  // Return the ids of the neighbours that voted at the deciding granularity. Default: false.
  bool neighbours = false;
  // As SearchOptions::cancel (PredictBatch checks it between queries). Default: none.
  const std::atomic<bool>* cancel = nullptr;
};

struct Prediction {
  Value label;              // NULL when no labelled row matches
  double confidence = 0;    // the winner's share of the vote at `dims`
  uint32_t dims = 0;        // the granularity that decided
  std::vector<Key> neighbours;  // with PredictOptions::neighbours: nearest first
};

// What a Predict or PredictBatch did (EXPLAIN ANALYZE PREDICT shows it).
struct PredictStats {
  std::vector<uint32_t> cascade;
  std::vector<uint64_t> stopped;  // per cascade granularity: queries it decided
  uint32_t k = 0, shortlist = 0;
  double confidence = 0;
  VoteRule vote = VoteRule::kUniform;
  bool calibrated = false;        // a TUNE PREDICT calibration filled the unset options
  std::string first_stage;        // "hnsw" or "scan"
  uint64_t voters = 0;            // live labelled rows matching the filter
  uint64_t queries = 0;
  double mean_dims = 0;           // mean deciding granularity
};

struct TunePredictOptions {
  std::string label;
  // Cascade, vote and shortlist measured; unset fields as PredictOptions' defaults (not a stored
  // calibration: a tune starts afresh).
  uint32_t k = 10;
  std::vector<uint32_t> cascade;
  std::optional<VoteRule> vote;
  std::optional<uint32_t> shortlist;
  // Accuracy the cascade may lose against exact full-dimension k-NN, in [0, 1). Default: 0.005.
  double margin = 0.005;
  // Labelled rows sampled, 20..100000 (each left out of its own vote): half choose the threshold,
  // the other half must confirm it (else it rises until they do). Default: 400.
  uint32_t sample = 400;
  // Store the calibration in the collection's descriptor (PREDICT then uses it). Default: true.
  bool store = true;
  const std::atomic<bool>* cancel = nullptr;
};

struct AnalyzeOptions {
  // A label column to measure k-NN accuracy per granularity (empty: none).
  std::string label;
  // Rows sampled as queries, 10..10000. Default: 200.
  uint32_t sample = 200;
  // Store the result in the descriptor (DESCRIBE shows it; the derived plan uses it). Default: true.
  bool store = true;
  const std::atomic<bool>* cancel = nullptr;
};

struct DisagreementOptions {
  // A label column: predicted labels are compared across granularities. Empty: neighbours only.
  std::string label;
  uint32_t k = 10;
  // Rows examined (sampled when the collection has more), 1..100000. Default: 1000.
  uint32_t sample = 1000;
  // Rows returned, the most disagreeing first. Default: 20.
  uint32_t limit = 20;
  const std::atomic<bool>* cancel = nullptr;
};

// One row of the disagreement report.
struct Disagreement {
  Key id;
  Value label;              // the row's own label (NULL without a label column)
  Value predicted;          // the k-NN label at the last granularity (left out of its own vote)
  uint32_t label_changes = 0;  // granularities whose predicted label is not the last one's
  uint32_t settles_at = 0;     // the first granularity from which the prediction stays the last one's
  double neighbour_churn = 0;  // mean over granularities of 1 - |N_g ∩ N_D| / k
};

}  // namespace mrldb
