// MatryoshkaAnalysis: the cascade of adaptive classification and the measurements behind TUNE
// PREDICT, ANALYZE and the disagreement report, over a Collection's internals (it is the
// Collection's friend, so that collection.h only declares the public entry points).
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "engine/collection.h"
#include "mrldb/predict.h"

namespace mrldb {

// A cascade resolved against a collection: every option filled and checked.
struct Cascade {
  int label = -1;  // attribute column
  std::vector<uint32_t> dims;
  uint32_t k = 10, shortlist = 100;
  double confidence = 0.9;
  VoteRule vote = VoteRule::kUniform;
  bool calibrated = false;
};

struct LevelVote {
  Value label;  // NULL: nobody voted
  double confidence = 0;
};

// One query through a cascade.
struct CascadeRun {
  std::vector<LevelVote> votes;                  // per granularity tried, in cascade order
  std::vector<std::vector<uint64_t>> neighbours;  // the voters' rows per granularity, when kept
  size_t decided = 0;                            // index of the deciding granularity
  bool graph = false;                            // the first granularity searched the graph
};

class MatryoshkaAnalysis {
 public:
  static constexpr uint64_t kNoRow = std::numeric_limits<uint64_t>::max();
  using FilterMatch = Collection::FilterMatch;

  // All below REQUIRE c.mu_ held shared.
  // The label column's index. Errors: InvalidArgument (no such column; a FLOAT column).
  static Result<int> LabelColumn(const Collection& c, const std::string& label);
  // `o` resolved: unset fields from the stored calibration for o.label (when `calibration`),
  // else the defaults of mrldb/predict.h.
  static Result<Cascade> Resolve(const Collection& c, const PredictOptions& o, bool calibration);
  // The rows that may vote: live, labelled (label >= 0), matching `filter`; nullptr when that is
  // every live row (stage 0 then needs no filter: a scan runs chunk by chunk).
  static Result<std::shared_ptr<const FilterMatch>> Voters(const Collection& c, int label,
                                                           const std::optional<Filter>& filter);
  // Voters matched again only when rows were written or deleted since (a tune or report runs
  // one query per lock hold). REQUIRES c.mu_ held shared for Refresh and while using `voters`.
  struct VoterCache {
    std::shared_ptr<const FilterMatch> voters;
    uint64_t next = ~uint64_t{0}, live = 0;
    Status Refresh(const Collection& c, int label) {
      if (next == c.next_row_ && live == c.live_rows_) return Status::Ok();
      MRLDB_ASSIGN_OR_RETURN(voters, Voters(c, label, std::nullopt));
      next = c.next_row_;
      live = c.live_rows_;
      return Status::Ok();
    }
  };
  // The voters' rows, ascending (every live row for nullptr).
  static std::vector<uint64_t> VoterRows(const Collection& c, const FilterMatch* voters);
  // Runs query `q` (D values) through the cascade; `exclude` (a row, or kNoRow) never votes.
  // `all_levels`: vote at every granularity (the decision is still recorded); `keep_neighbours`:
  // record the voters' rows.
  // Errors: a storage read's (blocks that are not resident).
  static Status Run(const Collection& c, const float* q, const Cascade& cascade,
                    const FilterMatch* voters, uint64_t exclude, bool parallel, bool all_levels,
                    bool keep_neighbours, CascadeRun* out);
  // The vote of the first n candidates (ascending distance); nobody's (NULL) when label < 0.
  static LevelVote Vote(const Collection& c, int label, VoteRule rule, const Candidate* top,
                        size_t n);
  // The k-NN vote of exact full-dimension search over `voters`, `exclude` left out.
  static Result<LevelVote> FullVote(const Collection& c, const float* q, const Cascade& cascade,
                                    const FilterMatch* voters, uint64_t exclude);
  // Labelled rows sampled deterministically (at most n, ascending).
  static std::vector<uint64_t> SampleRows(const std::vector<uint64_t>& rows, size_t n);
  // The exact shortlist at granularity `dims` that ANALYZE measured for the top 10, grown with
  // k by (k / 10)^0.5; 2 x kMaxAnalyzedShortlist when even that many did not hold the target; 0
  // without an analysis or when `dims` was not measured. Tune starts its sweeps there.
  static double AnalyzedShortlist(const PrefixAnalysis& analysis, uint32_t dims, uint32_t k);
  // The smallest keep at granularity `dims` that ANALYZE's measurements ask for k results: 1.5x
  // AnalyzedShortlist (0 as it), at most kMaxSearchEf. For the derived default plan and
  // PREDICT's default shortlist.
  static uint32_t AnalyzedKeep(const PrefixAnalysis& analysis, uint32_t dims, uint32_t k);
  // Whether ANALYZE found the index prefix too weak to shortlist from: the smallest granularity
  // whose exact shortlist is at most kGoodShortlist (PrefixAnalysis::graph_prefix) lies above it.
  static bool WeakIndexPrefix(const PrefixAnalysis& analysis, uint32_t index_dim) {
    return analysis.rows > 0 && analysis.graph_prefix > index_dim;
  }
  // Where the index prefix is weak: the granularity above it (D: exact search) whose scan over
  // `rows` rows, keeping AnalyzedKeep for k, costs least by a count of values (rows x g scanned,
  // then per candidate its re-rank's D - g values and a fixed cost); else 0. Tune measures it.
  static uint32_t CheapestScan(const PrefixAnalysis& analysis, const CollectionSpec& s,
                               uint64_t rows, uint32_t k);

  // Exact search at every granularity of the ladder at once (one pass over the blocks): the
  // `keep` nearest live rows per granularity and the 10 nearest by the ladder's last block
  // alone, `exclude` left out. REQUIRES c.mu_ held shared.
  struct LevelScan {
    std::vector<std::vector<Candidate>> levels;  // per ladder granularity, ascending
    std::vector<Candidate> suffix;
  };
  // Errors: a storage read's (blocks that are not resident are scanned from storage).
  // For n queries (query i at queries + i * stride, row exclude[i] left out, out[i]) at once:
  // blocks in storage are scanned once for all of them. Runs on c's pool; the caller must not
  // be a pool worker. A storage scan stops at the next chunk once `cancel` (may be null) is
  // set: Cancelled.
  static Status ScanLevels(const Collection& c, const float* queries, size_t n, size_t stride,
                           size_t keep, const uint64_t* exclude, LevelScan* out,
                           const std::atomic<bool>* cancel);

  // Applies `change` to the collection's spec and writes the descriptor; a failed write leaves
  // the spec as it was. Takes c.mu_ exclusively.
  template <typename F>
  static Status StoreSpec(Collection& c, F&& change) {
    std::unique_lock lock(c.mu_);
    CollectionSpec old = c.desc_.spec;
    change(c.desc_.spec);
    Status st = c.WriteDescriptor();
    if (!st.ok()) c.desc_.spec = std::move(old);
    return st;
  }
};

}  // namespace mrldb
