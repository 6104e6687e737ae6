// Exact search at a prefix on the device (CudaDeviceBlocks::Exact): a cuBLAS GEMM per
// sub-batch of queries with a radix selection over the score matrix, or the fused scan + top-k
// (scan_kernels.cuh) that never writes that matrix; both end in the same merge and sort.
#include <cuda_fp16.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/device_blocks.cuh"
#include "cuda/gpu_kernels.cuh"
#include "cuda/gpu_scan.cuh"

namespace mrldb::gpu {

using namespace kernels;  // NOLINT: the kernels are this file's, split out for size

Result<ExactResult> CudaDeviceBlocks::Exact(const ExactBatch& in) {
  const double t_start = WallNow();
  std::lock_guard lock(mu_);
  if (in.dims < 1 || in.dims > dim_) return Status::InvalidArgument("exact dims out of range");
  if (in.rows > resident_) return Status::InvalidArgument("exact search beyond the resident rows");
  if (in.k == 0) return Status::InvalidArgument("exact k must be >= 1");
  if (in.query_stride < in.dims) return Status::InvalidArgument("exact query stride < dims");
  if (in.method == ExactMethod::kFused && !FusedScanFits(in.dims, in.k)) {
    return Status::InvalidArgument("the fused exact search takes prefixes of at most " +
                                   std::to_string(kFusedMaxDims) + " dims and k of at most " +
                                   std::to_string(kFusedMaxK));
  }
  const size_t nq = in.nq;
  const uint64_t rows = in.rows;
  ExactResult out;
  out.offsets.assign(nq + 1, 0);
  if (nq == 0 || rows == 0) return out;
  if (rows > uint64_t{INT32_MAX}) return Status::NotSupported("exact search over more than 2^31 rows");
  DeviceScope scope(options_.device);
  MRLDB_RETURN_IF_ERROR(scope.status());
  cudaStream_t st = stream_.get();
  // The level at or below the prefix; off the ladder the rest is added by a kernel.
  size_t level = 0;
  while (begin_[level] + widths_[level] < in.dims) ++level;
  const bool on_ladder = begin_[level] + widths_[level] == in.dims;
  const bool need_xsq = in.metric != Metric::kInnerProduct;
  const float* x_sq = nullptr;
  if (need_xsq) {
    if (on_ladder) {
      x_sq = reinterpret_cast<const float*>(norms_[level].get());
    } else {
      MRLDB_RETURN_IF_ERROR(d_xsq_.EnsureCapacity(rows));
      const float* below = level >= 1 ? reinterpret_cast<const float*>(norms_[level - 1].get()) : nullptr;
      if (options_.precision == Precision::kFloat32) {
        PartialNormKernel<<<GridFor(rows, 256), 256, 0, st>>>(
            reinterpret_cast<const float*>(data_.get()), dim_, begin_[level], in.dims, below, rows, d_xsq_.get());
      } else {
        PartialNormKernel<<<GridFor(rows, 256), 256, 0, st>>>(
            reinterpret_cast<const __half*>(data_.get()), dim_, begin_[level], in.dims, below, rows, d_xsq_.get());
      }
      MRLDB_CUDA(cudaGetLastError());
      x_sq = d_xsq_.get();
    }
  }
  // Inputs, packed: queries, their norms, the mask.
  // Only the prefix of each query travels (row-major nq x dims).
  const size_t qs = in.dims;
  Packing pin;
  const size_t o_q = pin.Add(nq * qs * sizeof(float));
  const size_t o_qsq = pin.Add(nq * sizeof(double));
  const size_t o_mask = pin.Add(in.mask ? rows : 0);
  MRLDB_RETURN_IF_ERROR(h_in_.EnsureCapacity(pin.size()));
  MRLDB_RETURN_IF_ERROR(d_in_.EnsureCapacity(pin.size()));
  char* h = h_in_.get();
  for (size_t q = 0; q < nq; ++q) {
    std::memcpy(h + o_q + q * qs * sizeof(float), in.queries + q * in.query_stride, qs * sizeof(float));
  }
  if (in.q_sq) std::memcpy(h + o_qsq, in.q_sq, nq * sizeof(double));
  if (in.mask) std::memcpy(h + o_mask, in.mask, rows);
  MRLDB_CUDA(cudaMemcpyAsync(d_in_.get(), h, pin.size(), cudaMemcpyHostToDevice, st));
  const float* d_q = reinterpret_cast<const float*>(d_in_.get() + o_q);
  const double* d_qsq = in.q_sq ? reinterpret_cast<const double*>(d_in_.get() + o_qsq) : nullptr;
  const uint8_t* d_mask = in.mask ? reinterpret_cast<const uint8_t*>(d_in_.get() + o_mask) : nullptr;
  out.fused = in.method == ExactMethod::kFused ||
              (in.method == ExactMethod::kAuto && FusedScanPreferred(in.dims, in.k, in.nq));
  if (out.fused) return FusedExact(in, d_q, d_qsq, x_sq, d_mask, t_start, std::move(out));
  const bool half = options_.precision == Precision::kFloat16;
  if (half) {
    // cuBLAS multiplies like types: the queries go to float16 too (float32 accumulation).
    MRLDB_RETURN_IF_ERROR(d_queries_half_.EnsureCapacity(nq * qs * sizeof(__half)));
    FloatToHalfKernel<<<GridFor(nq * qs, 256), 256, 0, st>>>(
        d_q, reinterpret_cast<__half*>(d_queries_half_.get()), nq * qs);
    MRLDB_CUDA(cudaGetLastError());
  }
  const size_t sub = std::max<size_t>(1, std::min<size_t>(nq, kScoreBytes / (rows * sizeof(float))));
  const bool cached = uint64_t{in.k} * 4 <= kCachedTile;
  const uint64_t tile = cached ? kCachedTile : kWideTile;
  const uint32_t tiles = uint32_t((rows + tile - 1) / tile);
  const uint32_t k = in.k;
  MRLDB_RETURN_IF_ERROR(d_scores_.EnsureCapacity(sub * rows));
  MRLDB_RETURN_IF_ERROR(d_sel_id_.EnsureCapacity(sub * size_t{tiles} * k));
  MRLDB_RETURN_IF_ERROR(d_sel_dist_.EnsureCapacity(sub * size_t{tiles} * k));
  MRLDB_RETURN_IF_ERROR(d_sel_count_.EnsureCapacity(sub * size_t{tiles}));
  // Results, packed per sub-batch into one pinned buffer for all queries.
  MRLDB_ASSIGN_OR_RETURN(ExactSlots slots, PrepareExactSlots(nq, k));
  const size_t o_id = slots.o_id, o_dist = slots.o_dist, o_cnt = slots.o_cnt;
  char* dout = d_out_.get();
  for (size_t q0 = 0; q0 < nq; q0 += sub) {
    const size_t m = std::min(sub, nq - q0);
    MRLDB_RETURN_IF_ERROR(e0_.Record(st));
    const float one = 1.0f, zero = 0.0f;
    // Column-major view: the rows are a dim x rows matrix (ld dim), the queries stride x m;
    // scores (rows x m, ld rows) = rows[0:dims)^T * queries[0:dims): one GEMM per sub-batch.
    if (!half) {
      MRLDB_CUBLAS(cublasSgemm(blas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, int(rows), int(m), int(in.dims),
                               &one, reinterpret_cast<const float*>(data_.get()), int(dim_),
                               d_q + q0 * qs, int(qs), &zero,
                               d_scores_.get(), int(rows)));
    } else {
      const __half* qh = reinterpret_cast<const __half*>(d_queries_half_.get());
      MRLDB_CUBLAS(cublasGemmEx(blas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, int(rows), int(m), int(in.dims),
                                &one, data_.get(), CUDA_R_16F, int(dim_),
                                qh + q0 * qs, CUDA_R_16F, int(qs), &zero,
                                d_scores_.get(), CUDA_R_32F, int(rows), CUBLAS_COMPUTE_32F,
                                CUBLAS_GEMM_DEFAULT));
    }
    MRLDB_RETURN_IF_ERROR(e1_.Record(st));
    Segments tiled;
    tiled.qlen = rows;
    tiled.tile = tile;
    tiled.tiles = tiles;
    tiled.from_dot = true;
    tiled.metric = in.metric;
    tiled.q_sq = d_qsq ? d_qsq + q0 : nullptr;
    tiled.x_sq = x_sq;
    uint64_t* id_to = reinterpret_cast<uint64_t*>(dout + o_id) + q0 * k;
    float* dist_to = reinterpret_cast<float*>(dout + o_dist) + q0 * k;
    uint32_t* cnt_to = reinterpret_cast<uint32_t*>(dout + o_cnt) + q0;
    const size_t smem = cached ? std::min<uint64_t>(tile, rows) * sizeof(uint32_t) : 0;
    auto first_pass = cached ? SelectKernel<true> : SelectKernel<false>;
    if (tiles == 1) {
      first_pass<<<unsigned(m), kSelectThreads, smem, st>>>(d_scores_.get(), tiled, d_mask, k,
                                                             id_to, dist_to, cnt_to, nullptr);
      MRLDB_CUDA(cudaGetLastError());
    } else {
      first_pass<<<unsigned(m * tiles), kSelectThreads, smem, st>>>(
          d_scores_.get(), tiled, d_mask, k, d_sel_id_.get(), d_sel_dist_.get(),
          d_sel_count_.get(), nullptr);
      MRLDB_CUDA(cudaGetLastError());
      MRLDB_RETURN_IF_ERROR(SelectAcrossTiles(m, tiles, k, id_to, dist_to, cnt_to));
    }
    if (k <= kSortMax) {
      SortKernel<<<unsigned(m), kSelectThreads, 0, st>>>(k, cnt_to, id_to, dist_to, nullptr, nullptr);
      MRLDB_CUDA(cudaGetLastError());
    }
    MRLDB_RETURN_IF_ERROR(e2_.Record(st));
    MRLDB_RETURN_IF_ERROR(stream_.Sync());
    MRLDB_ASSIGN_OR_RETURN(double g, Elapsed(e0_, e1_));
    MRLDB_ASSIGN_OR_RETURN(double t, Elapsed(e1_, e2_));
    out.gemm_seconds += g;
    out.topk_seconds += t;
  }
  return FinishExact(nq, k, t_start, std::move(out));
}

Result<CudaDeviceBlocks::ExactSlots> CudaDeviceBlocks::PrepareExactSlots(size_t nq, uint32_t k) {
  ExactSlots e;
  e.o_id = e.pack.Add(nq * k * sizeof(uint64_t));
  e.o_dist = e.pack.Add(nq * k * sizeof(float));
  e.o_cnt = e.pack.Add(nq * sizeof(uint32_t));
  MRLDB_RETURN_IF_ERROR(h_out_.EnsureCapacity(e.pack.size()));
  MRLDB_RETURN_IF_ERROR(d_out_.EnsureCapacity(e.pack.size()));
  exact_slots_ = e;
  return e;
}

// Copies Exact's slots back and unpacks them in (distance, row) order. REQUIRES mu_ held.
Result<ExactResult> CudaDeviceBlocks::FinishExact(size_t nq, uint32_t k, double t_start, ExactResult out) {
  const ExactSlots& e = exact_slots_;
  cudaStream_t st = stream_.get();
  MRLDB_CUDA(cudaMemcpyAsync(h_out_.get(), d_out_.get(), e.pack.size(), cudaMemcpyDeviceToHost, st));
  MRLDB_RETURN_IF_ERROR(stream_.Sync());
  const char* ho = h_out_.get();
  UnpackSlots(nq, k, reinterpret_cast<const uint32_t*>(ho + e.o_cnt),
              reinterpret_cast<const uint64_t*>(ho + e.o_id), reinterpret_cast<const float*>(ho + e.o_dist),
              &out);
  if (k > kSortMax) SortSlices(out.offsets, out.rows, out.distance);
  out.total_seconds = WallNow() - t_start;
  return out;
}

// Each of m queries has `tiles` segments of k slots in d_sel_* (counts in d_sel_count_):
// selects each query's best k over its segments into the output slots. REQUIRES mu_ held.
Status CudaDeviceBlocks::SelectAcrossTiles(size_t m, uint32_t tiles, uint32_t k, uint64_t* id_to, float* dist_to,
                         uint32_t* cnt_to) {
  cudaStream_t st = stream_.get();
  // The tiles' unfilled slots must not be eligible: mark them infinite, then select again
  // over each query's tiles.
  MarkEmptyKernel<<<GridFor(m * tiles * k, 256), 256, 0, st>>>(d_sel_count_.get(), k, m * tiles,
                                                               d_sel_dist_.get());
  Segments merged;
  merged.qlen = uint64_t{tiles} * k;
  merged.tile = merged.qlen;
  merged.tiles = 1;
  merged.ids = d_sel_id_.get();
  SelectKernel<false><<<unsigned(m), kSelectThreads, 0, st>>>(d_sel_dist_.get(), merged, nullptr, k,
                                                              id_to, dist_to, cnt_to, nullptr);
  MRLDB_CUDA(cudaGetLastError());
  return Status::Ok();
}

// Exact by the fused scan + top-k: the queries (d_q, nq x dims) are on the device already.
// REQUIRES mu_ held.
Result<ExactResult> CudaDeviceBlocks::FusedExact(const ExactBatch& in, const float* d_q, const double* d_qsq,
                               const float* x_sq, const uint8_t* d_mask, double t_start,
                               ExactResult out) {
  cudaStream_t st = stream_.get();
  const size_t nq = in.nq;
  const uint32_t k = in.k;
  const FusedScanShape shape = ShapeFusedScan(in.rows, uint32_t(nq), k, multiprocessors_);
  MRLDB_ASSIGN_OR_RETURN(ExactSlots e, PrepareExactSlots(nq, k));
  char* dout = d_out_.get();
  uint64_t* id_to = reinterpret_cast<uint64_t*>(dout + e.o_id);
  float* dist_to = reinterpret_cast<float*>(dout + e.o_dist);
  uint32_t* cnt_to = reinterpret_cast<uint32_t*>(dout + e.o_cnt);
  kernels::ScanArgs a;
  a.data = data_.get();
  a.dim = dim_;
  a.dims = in.dims;
  a.queries = d_q;
  a.q_sq = d_qsq;
  a.x_sq = x_sq;
  a.mask = d_mask;
  a.rows = in.rows;
  a.nq = uint32_t(nq);
  a.k = k;
  a.splits = shape.splits;
  a.split_rows = shape.split_rows;
  a.segment = kernels::ScanSegment(k);
  a.metric = in.metric;
  if (shape.splits == 1) {
    a.out_id = id_to;
    a.out_dist = dist_to;
    a.out_count = cnt_to;
  } else {
    const size_t segments = nq * shape.splits;
    MRLDB_RETURN_IF_ERROR(d_sel_id_.EnsureCapacity(segments * k));
    MRLDB_RETURN_IF_ERROR(d_sel_dist_.EnsureCapacity(segments * k));
    MRLDB_RETURN_IF_ERROR(d_sel_count_.EnsureCapacity(segments));
    a.out_id = d_sel_id_.get();
    a.out_dist = d_sel_dist_.get();
    a.out_count = d_sel_count_.get();
  }
  MRLDB_RETURN_IF_ERROR(e0_.Record(st));
  MRLDB_RETURN_IF_ERROR(LaunchFusedScan(a, options_.precision, shape.group, st));
  MRLDB_RETURN_IF_ERROR(e1_.Record(st));
  if (shape.splits > 1) {
    MRLDB_RETURN_IF_ERROR(SelectAcrossTiles(nq, shape.splits, k, id_to, dist_to, cnt_to));
    if (k <= kSortMax) {
      SortKernel<<<unsigned(nq), kSelectThreads, 0, st>>>(k, cnt_to, id_to, dist_to, nullptr, nullptr);
      MRLDB_CUDA(cudaGetLastError());
    }
  }
  MRLDB_RETURN_IF_ERROR(e2_.Record(st));
  MRLDB_RETURN_IF_ERROR(stream_.Sync());
  MRLDB_ASSIGN_OR_RETURN(out.gemm_seconds, Elapsed(e0_, e1_));
  MRLDB_ASSIGN_OR_RETURN(out.topk_seconds, Elapsed(e1_, e2_));
  return FinishExact(nq, k, t_start, std::move(out));
}

}  // namespace mrldb::gpu
