// GpuReranker: the Reranker over a collection's device-resident blocks (cuda/gpu_search.h).
// Candidates whose rows are beyond the device's memory budget (partial residency) are scored by
// the CPU reranker in the same call and the two kept lists are merged: the result equals a
// re-rank by either device alone, apart from the order of exact ties.
#pragma once

#include "cuda/gpu_search.h"
#include "engine/reranker.h"

namespace mrldb {

class GpuReranker final : public Reranker {
 public:
  // `device` and `cache` must outlive the reranker and hold the same rows.
  // `storage`: for the CPU share's non-resident blocks (GPU searches run only while every
  // block is resident, so normally none).
  GpuReranker(gpu::DeviceBlocks* device, const ColumnCache& cache, Metric metric,
              BlockStorage storage)
      : device_(device), cache_(cache), metric_(metric), cpu_(cache, metric, storage) {}
  Status Rerank(const RerankArgs& args, CandidateLists* lists, RerankSplit* split) override;

 private:
  gpu::DeviceBlocks* const device_;
  const ColumnCache& cache_;
  const Metric metric_;
  CpuReranker cpu_;
};

}  // namespace mrldb
