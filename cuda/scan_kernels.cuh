// The fused prefix scan + top-k of exact search (DeviceBlocks::Exact, ExactMethod::kFused): the
// distances of a group of queries to a range of rows are computed and selected in one kernel, so
// the score matrix (queries x rows) is never written. Included by gpu_scan.cu only.
//
// A block takes Q queries (4, 8 or 16: gpu_scan.cu) and one split of the rows, and walks the
// split in tiles of kScanThreads rows, a row per thread: the thread reads its row's prefix once
// (16-byte loads when the row and the prefix are aligned) and keeps the Q dot products in
// registers against the queries in shared memory. Each query has a segment of P packed keys in
// shared memory ((ordered distance << 32) | row, so that ties order by row as on the CPU):
// [0, k) its best so far, sorted, the rest (at least a tile) a staging area. A distance below
// the query's k-th best is appended to the staging area; when a staging area could overflow on
// the next tile, the segments are sorted (bitonic) and the k-th keys become the new thresholds.
// Few keys pass once a threshold is set, so sorting is rare. The split's best k per query go
// out; a second selection merges the splits (gpu_exact.cu).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/device_math.cuh"

namespace mrldb::gpu::kernels {

constexpr int kScanThreads = 128;          // rows per tile, a row per thread
constexpr int kScanLoads = 8;              // loads of a row in flight per thread
// kFusedMaxDims (gpu_search.h): the prefix the queries' shared copy takes; kFusedMaxK: k plus
// a tile fill at most the largest segment (2048 keys).
static_assert(kFusedMaxK + kScanThreads <= 2048);
constexpr uint64_t kScanSentinel = ~0ull;  // an empty slot: after every real key

// P: the smallest power of two holding k best keys and a tile of staging (smaller segments let
// more blocks share a multiprocessor; measured on the H200, docs/benchmarks.md).
__host__ __device__ inline uint32_t ScanSegment(uint32_t k) {
  uint32_t p = 1;
  while (p < k + kScanThreads) p *= 2;
  return p;
}

struct ScanArgs {
  const void* data = nullptr;  // resident rows, row-major (T), row r at r * dim
  uint32_t dim = 0;
  uint32_t dims = 0;               // the prefix
  const float* queries = nullptr;  // nq x dims, device
  const double* q_sq = nullptr;    // nq (cosine, L2)
  const float* x_sq = nullptr;     // rows: ||x[0:dims)||^2 (cosine, L2)
  const uint8_t* mask = nullptr;   // rows: nonzero = eligible; nullptr: all
  uint64_t rows = 0;
  uint32_t nq = 0;
  uint32_t k = 0;
  uint32_t splits = 1;
  uint64_t split_rows = 0;  // a multiple of kScanThreads
  uint32_t segment = 0;     // ScanSegment(k)
  Metric metric = Metric::kCosine;
  // Segment s = query * splits + split: slots [s*k, s*k + count[s]) in ascending (distance, row).
  uint64_t* out_id = nullptr;
  float* out_dist = nullptr;
  uint32_t* out_count = nullptr;
};

// Sorts segments [0, used) of `buf` (segment elements each, a power of two) ascending.
__device__ inline void SortSegments(unsigned long long* buf, uint32_t segment, uint32_t used) {
  const uint32_t pairs = used * segment / 2, half = segment / 2;
  for (uint32_t size = 2; size <= segment; size *= 2) {
    for (uint32_t stride = size / 2; stride > 0; stride /= 2) {
      for (uint32_t i = threadIdx.x; i < pairs; i += blockDim.x) {
        const uint32_t seg = i / half, j = i % half;
        const uint32_t lo = 2 * stride * (j / stride) + (j % stride), hi = lo + stride;
        unsigned long long* s = buf + size_t{seg} * segment;
        const unsigned long long a = s[lo], b = s[hi];
        if ((a > b) == ((lo & size) == 0)) {
          s[lo] = b;
          s[hi] = a;
        }
      }
      __syncthreads();
    }
  }
}

template <typename T, int Q, bool kVec>
__global__ void __launch_bounds__(kScanThreads) FusedScanKernel(ScanArgs a) {
  extern __shared__ unsigned long long scan_smem[];
  unsigned long long* buf = scan_smem;                                        // Q x segment
  float* qs = reinterpret_cast<float*>(scan_smem + size_t{Q} * a.segment);    // Q x dims
  __shared__ unsigned long long thr[Q];
  __shared__ uint32_t staged[Q], kept[Q];
  __shared__ float qsq[Q];
  __shared__ int must_sort;
  const uint32_t group = blockIdx.x / a.splits, split = blockIdx.x % a.splits;
  const uint32_t q0 = group * Q;
  const uint32_t nqg = min(uint32_t(Q), a.nq - q0);
  const uint32_t k = a.k, P = a.segment, cap = P - k;
  for (uint32_t i = threadIdx.x; i < Q * a.dims; i += blockDim.x) {
    const uint32_t q = i / a.dims;
    qs[i] = q < nqg ? a.queries[size_t{q0 + q} * a.dims + i % a.dims] : 0.0f;
  }
  for (uint32_t i = threadIdx.x; i < Q * P; i += blockDim.x) buf[i] = kScanSentinel;
  if (threadIdx.x < Q) {
    thr[threadIdx.x] = kScanSentinel;
    staged[threadIdx.x] = 0;
    kept[threadIdx.x] = 0;
    qsq[threadIdx.x] = threadIdx.x < nqg && a.q_sq ? float(a.q_sq[q0 + threadIdx.x]) : 0.0f;
  }
  if (threadIdx.x == 0) must_sort = 0;
  __syncthreads();
  // Sorts the segments: the staged keys join the best, the k-th becomes the threshold.
  auto merge = [&]() {
    for (uint32_t i = threadIdx.x; i < nqg * P; i += blockDim.x) {
      const uint32_t q = i / P, j = i % P;
      if (j >= k + staged[q]) buf[i] = kScanSentinel;  // leftovers of earlier sorts
    }
    __syncthreads();
    SortSegments(buf, P, nqg);
    if (threadIdx.x < Q) {
      const uint32_t q = threadIdx.x;
      kept[q] = min(k, kept[q] + staged[q]);
      staged[q] = 0;
      thr[q] = kept[q] == k ? buf[size_t{q} * P + k - 1] : kScanSentinel;
    }
    if (threadIdx.x == 0) must_sort = 0;
    __syncthreads();
  };
  const uint64_t begin = uint64_t{split} * a.split_rows;
  const uint64_t end = min(a.rows, begin + a.split_rows);
  const T* data = static_cast<const T*>(a.data);
  for (uint64_t t0 = begin; t0 < end; t0 += kScanThreads) {
    const uint64_t row = t0 + threadIdx.x;
    if (row < end && (a.mask == nullptr || a.mask[row] != 0)) {
      float acc[Q];
#pragma unroll
      for (int q = 0; q < Q; ++q) acc[q] = 0.0f;
      const T* x = data + row * a.dim;
      // Loads go out kScanLoads at a time: one at a time, each would wait out the memory
      // latency before the next is issued.
      if constexpr (kVec) {
        using Raw = typename Vec<T>::Raw;
        constexpr uint32_t kV = Vec<T>::kValues;
        for (uint32_t j0 = 0; j0 < a.dims; j0 += kV * kScanLoads) {
          Raw raw[kScanLoads];
#pragma unroll
          for (int u = 0; u < kScanLoads; ++u) {
            const uint32_t j = j0 + u * kV;
            if (j < a.dims) raw[u] = *reinterpret_cast<const Raw*>(x + j);
          }
#pragma unroll
          for (int u = 0; u < kScanLoads; ++u) {
            const uint32_t j = j0 + u * kV;
            if (j < a.dims) {
#pragma unroll
              for (int q = 0; q < Q; ++q) acc[q] += Dot16<false>(qs + q * a.dims + j, raw[u]);
            }
          }
        }
      } else {
        for (uint32_t j0 = 0; j0 < a.dims; j0 += kScanLoads) {
          float v[kScanLoads];
#pragma unroll
          for (int u = 0; u < kScanLoads; ++u) v[u] = j0 + u < a.dims ? Load(x + j0 + u) : 0.0f;
#pragma unroll
          for (int u = 0; u < kScanLoads; ++u) {
            if (j0 + u < a.dims) {
#pragma unroll
              for (int q = 0; q < Q; ++q) acc[q] += v[u] * qs[q * a.dims + j0 + u];
            }
          }
        }
      }
      const float xsq = a.x_sq ? a.x_sq[row] : 0.0f;
#pragma unroll
      for (int q = 0; q < Q; ++q) {
        if (uint32_t(q) < nqg) {
          const float d = DistanceFromDot(a.metric, acc[q], qsq[q], xsq);
          if (isfinite(d)) {
            const unsigned long long key =
                (static_cast<unsigned long long>(OrderedKey(d)) << 32) | static_cast<uint32_t>(row);
            if (key < thr[q]) buf[size_t(q) * P + k + atomicAdd(&staged[q], 1u)] = key;
          }
        }
      }
    }
    __syncthreads();
    // A tile adds at most kScanThreads keys per query: sort before one could overflow.
    if (threadIdx.x < Q && staged[threadIdx.x] + kScanThreads > cap) must_sort = 1;
    __syncthreads();
    if (must_sort) merge();
  }
  if (threadIdx.x < Q && staged[threadIdx.x] > 0) must_sort = 1;
  __syncthreads();
  if (must_sort) merge();
  for (uint32_t q = 0; q < nqg; ++q) {
    const size_t s = size_t{q0 + q} * a.splits + split;
    for (uint32_t i = threadIdx.x; i < kept[q]; i += blockDim.x) {
      const unsigned long long key = buf[size_t{q} * P + i];
      a.out_id[s * k + i] = static_cast<uint32_t>(key);
      a.out_dist[s * k + i] = FromOrderedKey(static_cast<uint32_t>(key >> 32));
    }
    if (threadIdx.x == 0) a.out_count[s] = kept[q];
  }
}

}  // namespace mrldb::gpu::kernels
