// CudaDeviceBlocks: DeviceBlocks on a CUDA device (gpu_search.h has the contracts). The class
// and the host helpers its files share; internal to cuda/. Its members are defined in
// gpu_search.cu (resident rows, re-ranking, the graph's entry points, the union GEMM) and
// gpu_exact.cu (exact search: the cuBLAS GEMM with a selection, or the fused scan + top-k).
#pragma once

#include <cuda_fp16.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/cuda_raii.cuh"
#include "cuda/gpu_graph.h"
#include "cuda/gpu_search.h"

namespace mrldb::gpu {

inline constexpr int kRerankThreads = 256;  // 8 warps, one candidate each at a time
inline constexpr int kSelectThreads = 256;
// Exact search tiles each query's rows for the first selection pass (kCachedTile rows whose keys
// fit in shared memory, or kWideTile when k is too large for such tiles to shrink the data),
// then selects again over the tiles' survivors.
inline constexpr uint64_t kWideTile = 1u << 16;
// Score matrix of one GEMM (query sub-batch x rows), float32.
inline constexpr size_t kScoreBytes = size_t{1} << 30;

inline double WallNow() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline unsigned GridFor(size_t work, int threads) {
  const size_t blocks = (work + threads - 1) / threads;
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(blocks, 65535u * 32u)));
}

// Sorts each query's slice [offsets[q], offsets[q+1]) by (distance, row): the device selects,
// the host orders the few it kept.
inline void SortSlices(const std::vector<uint32_t>& offsets, std::vector<uint64_t>& rows,
                std::vector<float>& dist) {
  std::vector<std::pair<float, uint64_t>> slice;
  for (size_t q = 0; q + 1 < offsets.size(); ++q) {
    slice.clear();
    for (uint32_t j = offsets[q]; j < offsets[q + 1]; ++j) slice.push_back({dist[j], rows[j]});
    std::sort(slice.begin(), slice.end());
    for (size_t j = 0; j < slice.size(); ++j) {
      dist[offsets[q] + j] = slice[j].first;
      rows[offsets[q] + j] = slice[j].second;
    }
  }
}


// Offsets of the parts of one packed transfer (256-byte aligned): a call moves its inputs in
// one host-to-device copy and its results in one device-to-host copy, from pinned memory.
class Packing {
 public:
  size_t Add(size_t bytes) {
    const size_t at = (size_ + 255) / 256 * 256;
    size_ = at + bytes;
    return at;
  }
  size_t size() const { return size_; }

 private:
  size_t size_ = 0;
};

class CudaDeviceBlocks final : public DeviceBlocks {
 public:
  CudaDeviceBlocks(std::vector<uint32_t> widths, const DeviceBlocksOptions& o)
      : widths_(std::move(widths)), options_(o) {}

  Status Init();

  uint64_t resident_rows() const override {
    std::lock_guard lock(mu_);
    return resident_;
  }
  size_t device_bytes() const override {
    std::lock_guard lock(mu_);
    return allocated_ * RowBytes();
  }
  size_t budget_bytes() const override { return budget_; }
  Precision precision() const override { return options_.precision; }
  std::string device_name() const override { return name_; }

  Status Reserve(uint64_t rows) override;

  Status SetRows(size_t b, uint64_t first, size_t n, const float* src) override;

  Status SetSqNorms(size_t level, uint64_t first, size_t n, const float* src) override;

  Result<RerankResult> Rerank(const RerankBatch& in) override;

  Result<GraphBuildResult> BuildGraph(const GraphBuildOptions& o) override;

  Status SetGraph(const std::vector<uint32_t>& edges, uint64_t rows, uint32_t degree,
                  uint32_t level) override;

  uint64_t graph_rows() const override {
    std::lock_guard lock(mu_);
    return graph_.rows();
  }
  size_t graph_bytes() const override {
    std::lock_guard lock(mu_);
    return graph_.bytes();
  }

  Result<FunnelResult> Funnel(const FunnelBatch& batch) override {
    std::lock_guard lock(mu_);
    DeviceScope scope(options_.device);
    MRLDB_RETURN_IF_ERROR(scope.status());
    return graph_.Funnel(View(), batch);
  }

  Result<double> UnionGemmSeconds(const RerankBatch& in, std::vector<double>* acc) override;

  Result<ExactResult> Exact(const ExactBatch& in) override;

 private:
  // Exact's results: per query k slots of ids and distances and a count, packed for one copy.
  struct ExactSlots {
    Packing pack;
    size_t o_id = 0, o_dist = 0, o_cnt = 0;
  };
  Result<ExactSlots> PrepareExactSlots(size_t nq, uint32_t k);

  // Copies Exact's slots back and unpacks them in (distance, row) order. REQUIRES mu_ held.
  Result<ExactResult> FinishExact(size_t nq, uint32_t k, double t_start, ExactResult out);

  // Each of m queries has `tiles` segments of k slots in d_sel_* (counts in d_sel_count_):
  // selects each query's best k over its segments into the output slots. REQUIRES mu_ held.
  Status SelectAcrossTiles(size_t m, uint32_t tiles, uint32_t k, uint64_t* id_to, float* dist_to,
                           uint32_t* cnt_to);

  // Exact by the fused scan + top-k: the queries (d_q, nq x dims) are on the device already.
  // REQUIRES mu_ held.
  Result<ExactResult> FusedExact(const ExactBatch& in, const float* d_q, const double* d_qsq,
                                 const float* x_sq, const uint8_t* d_mask, double t_start,
                                 ExactResult out);

  size_t elem() const { return options_.precision == Precision::kFloat32 ? sizeof(float) : sizeof(__half); }
  // A row's vector, its prefix norms and room for its edges in a device graph.
  size_t RowBytes() const {
    return size_t{dim_} * elem() + widths_.size() * sizeof(float) + kGraphBytesPerRow;
  }

  // The resident rows as the graph sees them. REQUIRES mu_ held.
  RowsView View() const {
    RowsView v;
    v.data = data_.get();
    v.dim = dim_;
    v.precision = options_.precision;
    for (size_t b = 0; b < widths_.size(); ++b) {
      v.level_end.push_back(begin_[b] + widths_[b]);
      v.norms.push_back(reinterpret_cast<const float*>(norms_[b].get()));
    }
    v.resident = resident_;
    v.stream = stream_.get();
    return v;
  }

  // Rows [first, first + n) at [0, prefix) as float32 into `out` (n x prefix).
  Status DownloadPrefix(uint64_t first, size_t n, uint32_t prefix, std::vector<float>* out);

  // Replaces `buf` by one of `new_bytes` holding its first `old_bytes`.
  Status Grow(DeviceBuffer<char>* buf, size_t old_bytes, size_t new_bytes);

  const std::vector<uint32_t> widths_;
  const DeviceBlocksOptions options_;
  std::vector<uint32_t> begin_;
  uint32_t dim_ = 0;
  std::string name_;
  int multiprocessors_ = 1;
  size_t budget_ = 0;
  uint64_t capacity_ = 0;

  DeviceGraph graph_;      // GUARDED_BY(mu_)
  mutable std::mutex mu_;  // serializes every call on the one stream and scratch space
  uint64_t allocated_ = 0, resident_ = 0;
  // Whole rows, row-major (row r at r * dim): a stage's blocks are one contiguous range of a
  // row, and exact search at any prefix is one GEMM (leading dimension dim).
  DeviceBuffer<char> data_;
  std::vector<DeviceBuffer<char>> norms_;  // per level: float per row
  Stream stream_;
  CublasHandle blas_;
  Event e0_, e1_, e2_;
  PinnedBuffer<char> h_in_, h_out_;
  DeviceBuffer<char> d_in_, d_out_, d_queries_half_;
  DeviceBuffer<float> staging_, d_dist_, d_scores_, d_sel_dist_, d_xsq_;
  DeviceBuffer<uint32_t> d_sel_count_;
  DeviceBuffer<uint64_t> d_sel_id_;
  DeviceBuffer<double> d_acc_out_;
  ExactSlots exact_slots_;  // Exact's packing of its results (PrepareExactSlots)
};

}  // namespace mrldb::gpu
