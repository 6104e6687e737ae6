// The device graph of a DeviceBlocks (gpu_search.h: GraphBuildOptions, FunnelBatch) and the
// funnel that walks it: internal to cuda/. CudaDeviceBlocks (gpu_search.cu) owns one
// DeviceGraph and calls it holding its lock, with a view of its resident rows.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cuda/cuda_raii.cuh"
#include "cuda/gpu_search.h"

namespace mrldb::gpu {

// What the graph needs of the resident rows; valid while the owner's lock is held.
struct RowsView {
  const void* data = nullptr;  // row-major, `dim` apart
  uint32_t dim = 0;
  Precision precision = Precision::kFloat32;
  std::vector<uint32_t> level_end;     // end dim of each ladder level
  std::vector<const float*> norms;     // per level: ||x[0:level_end)||^2 per row (device)
  uint64_t resident = 0;
  cudaStream_t stream = nullptr;
};

// Unpacks per-query result slots (query q's count[q] results at q * slots) into the CSR form
// of the results (offsets, rows, distance).
template <typename Id, typename Result>
void UnpackSlots(size_t nq, size_t slots, const uint32_t* count, const Id* ids, const float* dist,
                 Result* out) {
  out->offsets.assign(nq + 1, 0);
  for (size_t q = 0; q < nq; ++q) out->offsets[q + 1] = out->offsets[q] + count[q];
  out->rows.resize(out->offsets[nq]);
  out->distance.resize(out->offsets[nq]);
  for (size_t q = 0; q < nq; ++q) {
    for (uint32_t j = 0; j < count[q]; ++j) {
      out->rows[out->offsets[q] + j] = ids[q * slots + j];
      out->distance[out->offsets[q] + j] = dist[q * slots + j];
    }
  }
}

class DeviceGraph {
 public:
  DeviceGraph() = default;
  ~DeviceGraph();
  DeviceGraph(const DeviceGraph&) = delete;
  DeviceGraph& operator=(const DeviceGraph&) = delete;
  Status Init();
  uint64_t rows() const { return rows_; }
  size_t bytes() const { return rows_ * degree_ * sizeof(uint32_t); }

  // Replaces the graph by `edges` (rows x degree). Errors: InvalidArgument, IOError.
  Status Set(const RowsView& v, const std::vector<uint32_t>& edges, uint64_t rows,
             uint32_t degree, uint32_t level);
  // Prunes the neighbour lists (rows x knn, ascending, no self, kNoEdge padded) on the device,
  // adds reverse edges and installs the result; returns it (rows x degree).
  Result<std::vector<uint32_t>> FromNeighbours(const RowsView& v, const std::vector<uint32_t>& knn,
                                               uint64_t rows, uint32_t knn_len, uint32_t degree,
                                               uint32_t level, double* seconds);
  Result<FunnelResult> Funnel(const RowsView& v, const FunnelBatch& batch);

 private:
  // Launches the captured graph of `key`, or captures `enqueue` (the call's device work on
  // `st`, allocating nothing) into one first: a call's seven to ten launches and copies then
  // cost the host one launch. Errors: IOError.
  Status RunGraph(const std::string& key, cudaStream_t st, const std::function<Status()>& enqueue);
  struct CachedGraph {
    std::string key;
    cudaGraphExec_t exec = nullptr;
    uint64_t used = 0;
  };
  std::vector<CachedGraph> graphs_;
  uint64_t clock_ = 0;
  uint64_t rows_ = 0;
  uint32_t degree_ = 0, level_ = 0;
  uint32_t sms_ = 1;  // the device's multiprocessors
  size_t tables_zeroed_ = 0;  // entries of d_tables_ known to be zero, from the start
  DeviceBuffer<uint32_t> edges_;
  uint64_t mask_version_ = 0;  // of d_mask_ (0: none kept)
  DeviceBuffer<uint8_t> d_mask_;
  PinnedBuffer<char> h_in_, h_out_;
  DeviceBuffer<char> d_in_, d_out_;
  DeviceBuffer<float> d_qn_, d_dist_, d_sel_dist_, d_acc_[2], d_walk_dist_;
  DeviceBuffer<uint32_t> d_rows_[2], d_count_[2], d_tables_, d_walk_rows_;
  Event e0_, e1_, e2_;
};

}  // namespace mrldb::gpu
