// The kernels of gpu_search.cu: re-rank (fused gather + dot), radix-select top-k, bitonic sort
// of the kept, exact-search helpers, the union-GEMM measurement and the bandwidth probe.
// Internal to cuda/: included by gpu_search.cu and gpu_exact.cu.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "cuda/device_math.cuh"

namespace mrldb::gpu::kernels {
// Internal linkage: each .cu file that includes this header has its own copies.
namespace {

// 256 threads (kRerankThreads), 4 blocks per SM: at most 64 registers, 32 warps resident.
template <typename T, bool kL2>
__global__ void __launch_bounds__(256, 4)
    RerankKernel(const T* data, uint32_t dim, uint32_t lo, uint32_t hi, bool vec,
                             const float* queries, size_t query_stride, const uint32_t* cand_query,
                             const uint64_t* rows, const double* acc_in, const double* q_sq,
                             const float* level_norms, Metric metric, size_t n, double* acc_out,
                             float* dist_out) {
  constexpr int kLanes = RowLanes<T>(), kGroups = kWarp / kLanes;
  const int lane = threadIdx.x % kLanes, group = (threadIdx.x % kWarp) / kLanes;
  const size_t warps = size_t{gridDim.x} * (blockDim.x / kWarp);
  // The loop is uniform per warp (the group sums are shuffles); each group takes a candidate.
  for (size_t w = size_t{blockIdx.x} * (blockDim.x / kWarp) + threadIdx.x / kWarp; w * kGroups < n;
       w += warps) {
    const size_t i = w * kGroups + group;
    const bool active = i < n;
    const uint32_t qi = active ? cand_query[i] : 0;
    const uint64_t row = active ? rows[i] : 0;
    const float* q = queries + qi * query_stride;
    float s = active ? WarpRowDot<T, kL2, kLanes>(data + row * dim + lo, q, hi - lo, vec, lane) : 0.0f;
    s = WarpSum<kLanes>(s);
    if (active && lane == 0) {
      const double acc = acc_in[i] + double{s};
      acc_out[i] = acc;
      dist_out[i] = FinalDistance(metric, acc, q_sq ? q_sq[qi] : 0.0,
                                  level_norms ? double{level_norms[row]} : 0.0);
    }
  }
}

// Where the elements of selection segment s lie. CSR mode (offsets): [offsets[s], offsets[s+1]),
// id = element index. Tiled mode: segment s is tile s % tiles of query s / tiles over a row of
// qlen elements per query; id = ids[element] or the element's position in its query's row.
struct Segments {
  const uint32_t* offsets = nullptr;
  uint64_t qlen = 0, tile = 0;
  uint32_t tiles = 1;
  const uint64_t* ids = nullptr;
  // Tiled mode over a GEMM's dot products: the distance of element e is computed where it is
  // read (metric, the query's ||q||^2, the row's ||x||^2), so the score matrix is never
  // rewritten. nullptr/false: the values are distances already.
  bool from_dot = false;
  Metric metric = Metric::kCosine;
  const double* q_sq = nullptr;
  const float* x_sq = nullptr;
  // CSR mode: a value per element carried to the output (the re-rank's scores).
  const double* payload = nullptr;
};

__device__ __forceinline__ void SegmentRange(const Segments& sg, uint32_t s, uint64_t* begin,
                                             uint64_t* end, uint64_t* base) {
  if (sg.offsets) {
    *begin = sg.offsets[s];
    *end = sg.offsets[s + 1];
    *base = 0;
    return;
  }
  const uint64_t q = s / sg.tiles, t = s % sg.tiles;
  *base = q * sg.qlen;
  *begin = *base + t * sg.tile;
  *end = *base + min(sg.qlen, (t + 1) * sg.tile);
}

// Keeps the `keep` smallest distances of each segment: a block-wide radix select on the ordered
// keys (up to 4 passes of 8 bits, warp-aggregated shared histograms, a warp-parallel scan of the
// bins; it stops early once the bin holding the k-th key is taken whole), then one pass that
// writes the elements below the k-th key and as many as needed equal to it. With kCached the
// segment's keys are read (and computed) once into shared memory and every pass runs there
// (segments of at most kCachedTile elements). Infinite distances (empty slots) and rows whose
// mask byte is 0 are not eligible. Output slots [s*keep, s*keep + count) hold ids and distances
// unordered; count[s] = min(keep, eligible).
constexpr uint32_t kCachedTile = 8192;
constexpr uint32_t kNoKey = 0xFFFFFFFFu;  // not eligible (no finite distance maps to it)

template <bool kCached>
__global__ void SelectKernel(const float* dist, Segments sg, const uint8_t* mask, uint32_t keep,
                             uint64_t* out_id, float* out_dist, uint32_t* out_count,
                             double* out_payload) {
  __shared__ uint32_t hist[256];
  __shared__ uint32_t prefix, prefix_mask, remaining, eligible, n_lt, n_eq, stop;
  extern __shared__ uint32_t cached[];
  const uint32_t s = blockIdx.x;
  uint64_t begin, end, base;
  SegmentRange(sg, s, &begin, &end, &base);
  const int lane = threadIdx.x % kWarp;
  auto id_of = [&](uint64_t e) { return sg.ids ? sg.ids[e] : e - base; };
  const float q_sq = sg.q_sq ? float(sg.q_sq[s / sg.tiles]) : 0.0f;
  // The key of element e from its value d (a distance, or a dot product when from_dot) and, for
  // from_dot, the row's squared norm. Float math: this runs for every row of every query.
  auto key_from = [&](float d, float x_sq, bool allowed) -> uint32_t {
    if (sg.from_dot) d = DistanceFromDot(sg.metric, d, q_sq, x_sq);
    if (!isfinite(d) || !allowed) return kNoKey;
    return OrderedKey(d);
  };
  auto key_of = [&](uint64_t e) -> uint32_t {
    return key_from(dist[e], sg.from_dot && sg.x_sq ? sg.x_sq[e - base] : 0.0f,
                    mask == nullptr || mask[id_of(e)] != 0);
  };
  const uint64_t len = end - begin;
  if (threadIdx.x == 0) {
    prefix = 0;
    prefix_mask = 0;
    eligible = 0;
    n_lt = 0;
    n_eq = 0;
    stop = 0;
  }
  if constexpr (kCached) {
    // Loads issued kLoadBatch at a time: one at a time, each thread would wait out the memory
    // latency for every element of the tile.
    constexpr int kLoadBatch = 8;
    const bool with_xsq = sg.from_dot && sg.x_sq != nullptr;
    for (uint64_t i0 = threadIdx.x; i0 < len; i0 += uint64_t{blockDim.x} * kLoadBatch) {
      float v[kLoadBatch], xs[kLoadBatch];
      bool ok[kLoadBatch];
#pragma unroll
      for (int u = 0; u < kLoadBatch; ++u) {
        const uint64_t i = i0 + static_cast<uint64_t>(u) * blockDim.x;
        v[u] = i < len ? dist[begin + i] : 0.0f;
        xs[u] = i < len && with_xsq ? sg.x_sq[begin + i - base] : 0.0f;
        ok[u] = i < len && (mask == nullptr || mask[id_of(begin + i)] != 0);
      }
#pragma unroll
      for (int u = 0; u < kLoadBatch; ++u) {
        const uint64_t i = i0 + static_cast<uint64_t>(u) * blockDim.x;
        if (i < len) cached[i] = key_from(v[u], xs[u], ok[u]);
      }
    }
  }
  auto key_at = [&](uint64_t i) -> uint32_t {
    if constexpr (kCached) return cached[i];
    return key_of(begin + i);
  };
  const uint64_t rounds = (len + blockDim.x - 1) / blockDim.x;
  for (int pass = 0; pass < 4; ++pass) {
    const int shift = 24 - 8 * pass;
    for (int i = threadIdx.x; i < 256; i += blockDim.x) hist[i] = 0;
    __syncthreads();
    const uint32_t pfx = prefix, pmask = prefix_mask;
    uint32_t counted = 0;
    for (uint64_t r = 0; r < rounds; ++r) {
      const uint64_t i = r * blockDim.x + threadIdx.x;
      uint32_t bin = 256;  // not counted
      if (i < len) {
        const uint32_t key = key_at(i);
        if (key != kNoKey && (key & pmask) == pfx) bin = (key >> shift) & 255u;
      }
      // Distances cluster in few bins: aggregate equal bins within the warp first.
      const uint32_t peers = __match_any_sync(0xffffffffu, bin);
      if (bin < 256 && lane == __ffs(peers) - 1) atomicAdd(&hist[bin], __popc(peers));
      if (pass == 0 && bin < 256) ++counted;
    }
    if (pass == 0) atomicAdd(&eligible, counted);
    __syncthreads();
    if (threadIdx.x < kWarp) {
      // Warp 0 finds the bin holding the remaining-th key: lane l sums bins [8l, 8l + 8).
      if (pass == 0 && lane == 0) remaining = min(keep, eligible);
      __syncwarp();
      const uint32_t want = remaining;
      uint32_t mine = 0;
      for (int b = 0; b < 8; ++b) mine += hist[lane * 8 + b];
      uint32_t incl = mine;
      for (int o = 1; o < kWarp; o *= 2) {
        const uint32_t v = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += v;
      }
      const uint32_t excl = incl - mine;
      if (want > 0 && excl < want && want <= incl) {
        uint32_t cum = excl, bin = lane * 8;
        while (cum + hist[bin] < want) cum += hist[bin++];
        remaining = want - cum;
        prefix |= bin << shift;
        prefix_mask |= 255u << shift;
        // The bin is taken whole: no need to look inside it.
        stop = hist[bin] == remaining;
      }
    }
    __syncthreads();
    if (remaining == 0 || stop) break;  // nothing eligible, or the threshold is decided
  }
  const uint32_t want = min(keep, eligible);
  const uint32_t threshold = prefix, tmask = prefix_mask;
  const uint32_t take_eq = remaining;        // keys in the threshold's bin to take
  const uint32_t lt_total = want - take_eq;  // keys below it (all taken)
  uint64_t* ids = out_id + size_t{s} * keep;
  float* ds = out_dist + size_t{s} * keep;
  if (want > 0) {
    double* pay = out_payload ? out_payload + size_t{s} * keep : nullptr;
    for (uint64_t i = threadIdx.x; i < len; i += blockDim.x) {
      const uint32_t key = key_at(i);
      if (key == kNoKey) continue;
      const uint32_t top = key & tmask;
      uint32_t at = keep;
      if (top < threshold) {
        at = atomicAdd(&n_lt, 1u);
      } else if (top == threshold) {
        const uint32_t eq = atomicAdd(&n_eq, 1u);
        if (eq < take_eq) at = lt_total + eq;
      }
      if (at < keep) {
        ids[at] = id_of(begin + i);
        ds[at] = FromOrderedKey(key);
        if (pay) pay[at] = sg.payload[begin + i];
      }
    }
  }
  if (threadIdx.x == 0) out_count[s] = want;
}

// Sorts each segment's kept slots [s*keep, s*keep + count[s]) by (distance, tie) in shared
// memory (bitonic; count <= kSortMax), carrying ids and payloads. tie = tie_rows[id] when given
// (the re-rank's candidate index -> row), else the id: the CPU's (distance, row) order.
constexpr uint32_t kSortMax = 1024;

__global__ void SortKernel(uint32_t keep, const uint32_t* count, uint64_t* ids, float* dist,
                           double* payload, const uint64_t* tie_rows) {
  __shared__ float d[kSortMax];
  __shared__ uint64_t id[kSortMax];
  __shared__ uint64_t tie[kSortMax];
  __shared__ uint32_t from[kSortMax];
  const size_t base = size_t{blockIdx.x} * keep;
  const uint32_t n = count[blockIdx.x];
  uint32_t p = 1;
  while (p < n) p *= 2;
  for (uint32_t i = threadIdx.x; i < p; i += blockDim.x) {
    const bool real = i < n;
    d[i] = real ? dist[base + i] : INFINITY;
    id[i] = real ? ids[base + i] : ~uint64_t{0};
    tie[i] = real ? (tie_rows ? tie_rows[id[i]] : id[i]) : ~uint64_t{0};
    from[i] = i;
  }
  __syncthreads();
  for (uint32_t size = 2; size <= p; size *= 2) {
    for (uint32_t stride = size / 2; stride > 0; stride /= 2) {
      for (uint32_t i = threadIdx.x; i < p; i += blockDim.x) {
        const uint32_t j = i ^ stride;
        if (j > i) {
          const bool up = (i & size) == 0;
          const bool greater = d[i] > d[j] || (d[i] == d[j] && tie[i] > tie[j]);
          if (greater == up) {
            const float td = d[i]; d[i] = d[j]; d[j] = td;
            const uint64_t ti = id[i]; id[i] = id[j]; id[j] = ti;
            const uint64_t tt = tie[i]; tie[i] = tie[j]; tie[j] = tt;
            const uint32_t tf = from[i]; from[i] = from[j]; from[j] = tf;
          }
        }
      }
      __syncthreads();
    }
  }
  for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) {
    dist[base + i] = d[i];
    ids[base + i] = id[i];
  }
  if (payload) {
    // Payloads move by the permutation: all read before any is written.
    __shared__ double pay[kSortMax];
    for (uint32_t j = threadIdx.x; j < n; j += blockDim.x) pay[j] = payload[base + from[j]];
    __syncthreads();
    for (uint32_t j = threadIdx.x; j < n; j += blockDim.x) payload[base + j] = pay[j];
  }
}

// Squared norms of the prefix [0, dims) of every row: the ladder level below (`below`, which
// covers [0, from)) plus the values [from, dims) (exact search off the ladder).
template <typename T>
__global__ void PartialNormKernel(const T* data, uint32_t dim, uint32_t from, uint32_t dims,
                                  const float* below, uint64_t rows, float* out) {
  for (uint64_t r = size_t{blockIdx.x} * blockDim.x + threadIdx.x; r < rows;
       r += size_t{gridDim.x} * blockDim.x) {
    float s = below ? below[r] : 0.0f;
    const T* x = data + r * dim;
    for (uint32_t j = from; j < dims; ++j) {
      const float v = Load(x + j);
      s += v * v;
    }
    out[r] = s;
  }
}

// Writes n rows of `width` float32 values into the float16 rows at dst (row pitch `dim`).
__global__ void ScatterHalfKernel(const float* in, size_t n, uint32_t width, __half* dst,
                                  uint32_t dim) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n * width;
       i += size_t{gridDim.x} * blockDim.x) {
    dst[(i / width) * dim + i % width] = __float2half(in[i]);
  }
}

__global__ void FloatToHalfKernel(const float* in, __half* out, size_t n) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    out[i] = __float2half(in[i]);
  }
}

__global__ void ReadKernel(const float4* in, size_t n, float* out) {
  float s = 0;
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    const float4 v = __ldg(in + i);
    s += v.x + v.y + v.z + v.w;
  }
  // Written only when impossible in practice, so the loads cannot be optimized away.
  if (s == 1.2345678e-30f) out[0] = s;
}

// Union GEMM (measurement only): copies values [lo, hi) of each union row into a dense
// matrix, union x (hi - lo), row-major.
__global__ void GatherKernel(const float* data, uint32_t dim, uint32_t lo, uint32_t len,
                             const uint64_t* rows, size_t n, float* out) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n * len;
       i += size_t{gridDim.x} * blockDim.x) {
    out[i] = data[rows[i / len] * dim + lo + i % len];
  }
}

// Candidate i's score: scores[cand_u[i] + cand_query[i] * union_rows], added to its own.
__global__ void PickKernel(const float* scores, size_t union_rows, const uint32_t* cand_u,
                           const uint32_t* cand_query, const double* acc_in, size_t n,
                           double* acc_out) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    acc_out[i] = acc_in[i] + scores[cand_u[i] + cand_query[i] * union_rows];
  }
}

__global__ void MarkEmptyKernel(const uint32_t* count, uint32_t k, size_t segments, float* dist) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < segments * k;
       i += size_t{gridDim.x} * blockDim.x) {
    if (i % k >= count[i / k]) dist[i] = INFINITY;
  }
}

}  // namespace
}  // namespace mrldb::gpu::kernels
