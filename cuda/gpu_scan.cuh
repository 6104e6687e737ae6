// The host side of the fused prefix scan + top-k (scan_kernels.cuh): how a batch is split over
// blocks and the launch. Internal to cuda/ (gpu_search.cu's Exact calls it).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/gpu_search.h"
#include "cuda/scan_kernels.cuh"
#include "mrldb/status.h"

namespace mrldb::gpu {

// Whether the fused scan takes a prefix of `dims` and `k` per query.
inline bool FusedScanFits(uint32_t dims, uint32_t k) {
  return dims >= 1 && dims <= kFusedMaxDims && k >= 1 && k <= kFusedMaxK;
}

// Whether ExactMethod::kAuto takes the fused scan: where it measured faster than the GEMM +
// selection on the H200 at 1M rows (docs/benchmarks.md, "Fused prefix scan"): small k, and a
// batch of at most 4 queries up to 64 dims or of at least 256 up to 32 dims. Elsewhere the
// GEMM's reuse of each row over many queries wins, and for k of 100 or more so does its radix
// selection over the fused scan's sorts.
inline bool FusedScanPreferred(uint32_t dims, uint32_t k, size_t nq) {
  if (!FusedScanFits(dims, k) || k > 16) return false;
  return (nq <= 4 && dims <= 64) || (nq >= 256 && dims <= 32);
}

// How a batch spreads over blocks: queries per block, splits of the rows, rows per split.
struct FusedScanShape {
  uint32_t group = 0;
  uint32_t splits = 1;
  uint64_t split_rows = 0;
};
FusedScanShape ShapeFusedScan(uint64_t rows, uint32_t nq, uint32_t k, int multiprocessors);

// Launches the scan of `a` (a.splits, a.split_rows and a.segment from ShapeFusedScan and
// kernels::ScanSegment; a.out_* sized nq * splits * k) on `stream`, rows of `precision`.
Status LaunchFusedScan(const kernels::ScanArgs& a, Precision precision, uint32_t group,
                       cudaStream_t stream);

}  // namespace mrldb::gpu
