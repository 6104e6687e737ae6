#include "engine/gpu_reranker.h"

#include <algorithm>

namespace mrldb {

Status GpuReranker::Rerank(const RerankArgs& args, CandidateLists* lists, RerankSplit* split) {
  const storage::Ladder& ladder = cache_.ladder();
  const uint64_t resident = device_->resident_rows();
  const size_t nq = lists->queries();
  // Split every query's candidates into the resident rows (device) and the rest (CPU).
  gpu::RerankBatch batch;
  std::vector<uint32_t> dev_offsets{0};
  std::vector<uint64_t> dev_rows;
  std::vector<double> dev_acc;
  CandidateLists host;
  for (size_t q = 0; q < nq; ++q) {
    for (uint32_t i = lists->offsets[q]; i < lists->offsets[q + 1]; ++i) {
      const uint64_t row = lists->cands[i].row;
      if (row < resident) {
        dev_rows.push_back(row);
        dev_acc.push_back(lists->acc[i]);
      } else {
        host.cands.push_back(lists->cands[i]);
        host.acc.push_back(lists->acc[i]);
      }
    }
    dev_offsets.push_back(static_cast<uint32_t>(dev_rows.size()));
    host.offsets.push_back(static_cast<uint32_t>(host.cands.size()));
  }
  CandidateLists next;
  gpu::RerankResult dev;
  dev.offsets.assign(nq + 1, 0);
  if (!dev_rows.empty()) {
    batch.queries = args.queries;
    batch.nq = nq;
    batch.query_stride = args.query_stride;
    batch.q_sq = args.q_sq;
    batch.offsets = dev_offsets.data();
    batch.rows = dev_rows.data();
    batch.acc = dev_acc.data();
    batch.b_from = args.done == 0 ? 0 : ladder.BlocksCovering(args.done);
    batch.b_to = ladder.BlocksCovering(args.dims) - 1;
    batch.metric = static_cast<gpu::Metric>(metric_);
    batch.keep = args.keep;
    MRLDB_ASSIGN_OR_RETURN(dev, device_->Rerank(batch));
    if (split) split->gpu += dev_rows.size();
  }
  if (host.cands.empty()) {
    for (size_t q = 0; q < nq; ++q) {
      for (uint32_t j = dev.offsets[q]; j < dev.offsets[q + 1]; ++j) {
        next.cands.push_back({dev.distance[j], dev_rows[dev.index[j]]});
        next.acc.push_back(dev.acc[j]);
      }
      next.offsets.push_back(static_cast<uint32_t>(next.cands.size()));
    }
    *lists = std::move(next);
    return Status::Ok();
  }
  MRLDB_RETURN_IF_ERROR(cpu_.Rerank(args, &host, split));
  // Merge the two kept lists of each query (both sorted) and keep the best `keep`.
  for (size_t q = 0; q < nq; ++q) {
    uint32_t a = dev.offsets[q], b = host.offsets[q];
    const uint32_t a_end = dev.offsets[q + 1], b_end = host.offsets[q + 1];
    size_t taken = 0;
    while (taken < args.keep && (a < a_end || b < b_end)) {
      const bool from_dev =
          b >= b_end || (a < a_end && Candidate{dev.distance[a], dev_rows[dev.index[a]]} < host.cands[b]);
      if (from_dev) {
        next.cands.push_back({dev.distance[a], dev_rows[dev.index[a]]});
        next.acc.push_back(dev.acc[a]);
        ++a;
      } else {
        next.cands.push_back(host.cands[b]);
        next.acc.push_back(host.acc[b]);
        ++b;
      }
      ++taken;
    }
    next.offsets.push_back(static_cast<uint32_t>(next.cands.size()));
  }
  *lists = std::move(next);
  return Status::Ok();
}

}  // namespace mrldb
