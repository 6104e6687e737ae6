// Reranker: one funnel stage for a batch of queries. Adds the partial scores of the blocks that
// cover [done, dims) to every candidate (scores are additive over blocks), computes each
// candidate's distance at `dims` and keeps each query's best `keep`. One interface, two
// implementations: CpuReranker (here, over the column cache and storage: the source of truth) and
// GpuReranker (engine/gpu_reranker.h, over the device copy of cuda/gpu_search.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/column_cache.h"
#include "engine/row_blocks.h"
#include "engine/top_k.h"
#include "mrldb/status.h"
#include "mrldb/types.h"

namespace mrldb {

// The candidates of a batch of queries, query after query: query i's are
// [offsets[i], offsets[i + 1]) of `cands` and `acc` (its additive score, dot or squared L2,
// over the dims re-ranked so far).
struct CandidateLists {
  std::vector<uint32_t> offsets{0};
  std::vector<Candidate> cands;
  std::vector<double> acc;

  size_t queries() const { return offsets.size() - 1; }
  // Appends the next query's candidates (with a zero score).
  void AddQuery(const std::vector<Candidate>& c) {
    cands.insert(cands.end(), c.begin(), c.end());
    acc.resize(cands.size(), 0.0);
    offsets.push_back(static_cast<uint32_t>(cands.size()));
  }
  // One query's candidates, taken without a copy (the CPU funnel's single-query lists).
  static CandidateLists Single(std::vector<Candidate> c) {
    CandidateLists l;
    l.acc.assign(c.size(), 0.0);
    l.offsets.push_back(static_cast<uint32_t>(c.size()));
    l.cands = std::move(c);
    return l;
  }
  std::vector<Candidate> Query(size_t i) const {
    return {cands.begin() + offsets[i], cands.begin() + offsets[i + 1]};
  }
};

struct RerankArgs {
  const float* queries = nullptr;  // one per list, row-major, `query_stride` apart
  size_t query_stride = 0;
  const double* q_sq = nullptr;    // per query: ||q[0:dims)||^2 (cosine uses it)
  uint32_t done = 0;               // 0, or a granularity: the dims already in `acc`
  uint32_t dims = 0;               // a granularity > done
  uint32_t keep = 0;               // >= 1
  storage::ReadCounters* io = nullptr;  // adds the storage reads of non-resident blocks
};

// How many candidates each device scored (EXPLAIN ANALYZE shows the split).
struct RerankSplit {
  uint64_t gpu = 0, cpu = 0;
};
// "cpu", "gpu", or "gpu+cpu (G/C)" (StageStats::device).
std::string DeviceLabel(const RerankSplit& split);

class Reranker {
 public:
  virtual ~Reranker() = default;
  // Re-ranks `lists` in place: afterwards each query keeps its best min(keep, its candidates)
  // in ascending (distance, row) order with their updated scores. Errors leave `lists`
  // unspecified (GPU failures: IOError; the caller may retry on the CPU).
  virtual Status Rerank(const RerankArgs& args, CandidateLists* lists, RerankSplit* split) = 0;
};

// The SIMD loop over the column cache; blocks that are not resident are read from `storage`
// first, all candidates of the batch at once (engine/row_blocks.h).
class CpuReranker final : public Reranker {
 public:
  CpuReranker(const ColumnCache& cache, Metric metric, BlockStorage storage)
      : cache_(cache), metric_(metric), storage_(storage) {}
  Status Rerank(const RerankArgs& args, CandidateLists* lists, RerankSplit* split) override;

 private:
  // Prefetches the blocks b_from..level of `row`.
  void Prefetch(uint64_t row, size_t b_from, size_t level) const;
  const ColumnCache& cache_;
  const Metric metric_;
  const BlockStorage storage_;
};

// The final distance of an additive score: cosine 1 - acc / sqrt(q_sq * x_sq) clamped to [0, 2],
// inner product -acc, L2 sqrt(max(acc, 0)) (rounding never makes a distance negative).
float FinalDistance(Metric metric, double acc, double q_sq, double x_sq);

}  // namespace mrldb
