// The kernels of gpu_graph.cu: the walk of the device graph (a funnel's stage 0), the chained
// re-rank and per-query selection that follow it, the query norms, and the rank-based pruning
// of the graph build. Internal to cuda/: included by gpu_graph.cu only.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "cuda/device_math.cuh"

namespace mrldb::gpu::graph {

using namespace kernels;  // NOLINT: the shared device helpers

constexpr uint32_t kExpanded = 0x80000000u;  // buffer id bit: the node's edges were followed
constexpr uint32_t kEmpty = kNoEdge;         // no node (sorts last: infinite distance)
constexpr int kTeam = 4;                     // lanes computing one distance in the walk
constexpr int kWalkThreads = 128;
constexpr uint32_t kMaxWidth = 8;            // parents expanded per iteration
constexpr uint32_t kMaxLevels = 64;

__device__ __forceinline__ bool Before(float da, uint32_t ia, float db, uint32_t ib) {
  return da < db || (da == db && (ia & ~kExpanded) < (ib & ~kExpanded));
}

__device__ __forceinline__ uint32_t Mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  x *= 0xc2b2ae35u;
  x ^= x >> 16;
  return x;
}

__device__ __forceinline__ float PrefixDistance(Metric metric, float s, float q_sq, float x_sq) {
  if (metric == Metric::kL2) return sqrtf(fmaxf(0.0f, s));
  if (metric == Metric::kInnerProduct) return -s;
  return x_sq > 0 && q_sq > 0 ? fminf(2.0f, fmaxf(0.0f, 1.0f - s * rsqrtf(q_sq * x_sq))) : 1.0f;
}

struct WalkParams {
  const void* data = nullptr;  // resident rows, row-major, `dim` apart
  uint32_t dim = 0;
  uint32_t prefix = 0;  // the graph's prefix dims
  bool vec = false;     // 16-byte loads (prefix and dim keep the alignment)
  const float* x_sq = nullptr;  // per row: ||x[0:prefix)||^2
  const uint32_t* edges = nullptr;
  uint32_t degree = 0;
  uint32_t graph_rows = 0;  // rows [0, graph_rows) are nodes
  uint32_t rows = 0;        // rows [graph_rows, rows) are scanned after the walk
  const uint8_t* mask = nullptr;  // output eligibility per row (nullptr: all)
  const float* queries = nullptr;  // device, `q_stride` apart
  size_t q_stride = 0;
  const float* q_sq = nullptr;  // query q's ||q[0:prefix)||^2 at q_sq[q * q_sq_stride]
  uint32_t q_sq_stride = 1;
  Metric metric = Metric::kCosine;
  uint32_t itopk = 0;       // buffer length, a multiple of 32
  uint32_t width = 1;       // parents per iteration
  uint32_t cands = 0;       // width * degree
  uint32_t cands_pow2 = 0;  // >= cands, a power of two
  uint32_t max_iter = 0;
  uint32_t hash_mask = 0;   // visited table of hash_mask + 1 entries (a power of two)
  uint32_t hash_limit = 0;  // the table restarts before holding more than this
  uint32_t keep = 0;
  uint32_t entries = 0;     // rows tried as entry points, a power of two <= (hash_mask + 1) / 2
  // Blocks per query. Above 1 the query's blocks share one visited table in global memory
  // (`tables`: hash_mask + 1 zeroed entries per query, never restarted), start from different
  // entry points and split the rows past the graph; block b of query q writes its `keep`
  // (= itopk) best eligible rows to slots [(q * ctas + b) * keep, ...), padded with kEmpty at
  // infinite distance, for WalkMergeKernel.
  uint32_t ctas = 1;
  uint32_t* tables = nullptr;
  uint32_t* out_rows = nullptr;  // nq x keep (x ctas)
  float* out_dist = nullptr;
  uint32_t* out_count = nullptr;  // nq (ctas == 1 only)
};

// Bytes of dynamic shared memory the walk needs (the query's prefix, the buffer and its merge
// target, the candidates, the visited table or, with several blocks per query, the entry
// points' scratch only).
inline size_t WalkSharedBytes(const WalkParams& p) {
  const size_t table = p.ctas > 1 ? 2 * size_t{p.entries} : size_t{p.hash_mask} + 1;
  return (size_t{(p.prefix + 3) / 4 * 4} + 4 * size_t{p.itopk} + 2 * size_t{p.cands_pow2} + table) * 4;
}

// Inserts v into the visited table: true when it was not there.
__device__ __forceinline__ bool Visit(uint32_t* table, uint32_t mask, uint32_t v, uint32_t* inserted) {
  uint32_t h = Mix(v) & mask;
  for (uint32_t probe = 0; probe <= mask; ++probe) {
    const uint32_t old = atomicCAS(&table[h], 0u, v + 1);
    if (old == 0) {
      atomicAdd(inserted, 1u);
      return true;
    }
    if (old == v + 1) return false;
    h = (h + 1) & mask;
  }
  return false;  // full (the walk stops long before)
}

// Elements of sorted [0, n) before (x, xi); with or_equal, not after it.
__device__ __forceinline__ uint32_t Rank(const float* d, const uint32_t* id, uint32_t n, float x,
                                         uint32_t xi, bool or_equal) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    const uint32_t mid = (lo + hi) / 2;
    const bool take = or_equal ? !Before(x, xi, d[mid], id[mid]) : Before(d[mid], id[mid], x, xi);
    if (take) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Block-wide bitonic sort of n (a power of two) pairs by (distance, id); `with`, when given,
// moves along.
__device__ __forceinline__ void SortPairs(float* d, uint32_t* id, uint32_t n, uint32_t* with = nullptr) {
  for (uint32_t size = 2; size <= n; size *= 2) {
    for (uint32_t stride = size / 2; stride > 0; stride /= 2) {
      for (uint32_t t = threadIdx.x; t < n / 2; t += blockDim.x) {
        const uint32_t lo = 2 * t - (t & (stride - 1)), hi = lo + stride;
        const bool up = (lo & size) == 0;
        if (Before(d[hi], id[hi], d[lo], id[lo]) == up) {
          const float td = d[lo]; d[lo] = d[hi]; d[hi] = td;
          const uint32_t ti = id[lo]; id[lo] = id[hi]; id[hi] = ti;
          if (with) {
            const uint32_t tw = with[lo]; with[lo] = with[hi]; with[hi] = tw;
          }
        }
      }
      __syncthreads();
    }
  }
}

// Sorts 32 pairs by (distance, id) in one warp's registers (bitonic, shuffles only): the walk's
// candidates of one parent, without the block-wide barriers of SortPairs.
__device__ __forceinline__ void WarpSort32(float* d, uint32_t* id) {
  const int lane = threadIdx.x % kWarp;
  float x = d[lane];
  uint32_t xi = id[lane];
  for (int k = 2; k <= kWarp; k *= 2) {
    for (int j = k / 2; j > 0; j /= 2) {
      const float o = __shfl_xor_sync(0xffffffffu, x, j);
      const uint32_t oi = __shfl_xor_sync(0xffffffffu, xi, j);
      // The pair's lower lane keeps the smaller in an ascending run, the larger otherwise.
      const bool want_min = ((lane & j) == 0) == ((lane & k) == 0);
      const bool take = want_min ? Before(o, oi, x, xi) : Before(x, xi, o, oi);
      if (take) {
        x = o;
        xi = oi;
      }
    }
  }
  d[lane] = x;
  id[lane] = xi;
}

// The team's distance from the query (qf, in shared memory) to row v at the prefix. Every lane
// of the warp calls it (the team sum is a shuffle); inactive teams pass active = false.
template <typename T, bool kL2>
__device__ __forceinline__ float TeamDistance(const WalkParams& p, const float* qf, uint32_t v,
                                              bool active, int tl, float q_sq) {
  float s = 0;
  // The row's norm is loaded with its values, not after the team sum.
  const float x_sq = !kL2 && active ? __ldg(p.x_sq + v) : 0.0f;
  if (active) {
    const T* x = static_cast<const T*>(p.data) + size_t{v} * p.dim;
    if (p.vec) {
      using Raw = typename Vec<T>::Raw;
      constexpr uint32_t kV = Vec<T>::kValues;
      const Raw* xr = reinterpret_cast<const Raw*>(x);
      for (uint32_t j = tl; j < p.prefix / kV; j += kTeam) s += Dot16<kL2>(qf + j * kV, __ldg(xr + j));
    } else {
      for (uint32_t j = tl; j < p.prefix; j += kTeam) s += Term<kL2>(qf[j], Load(x + j));
    }
  }
  for (int o = kTeam / 2; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
  return active ? PrefixDistance(p.metric, s, q_sq, x_sq) : INFINITY;
}

// One query per block (or per `ctas` blocks, WalkParams): a buffer of the itopk best nodes seen, sorted; each iteration follows the
// edges of the `width` best nodes not yet expanded, skips nodes already visited (a hash table
// in shared memory), computes the new nodes' distances (a team of lanes each) and merges them
// into the buffer. It starts from the best of `entries` evenly spread rows and stops when every
// buffered node is expanded or after max_iter iterations; a visited table half full restarts
// with the buffer's nodes. The rows past the graph are then merged in the same way, C at a
// time. Output:
// the first `keep` buffered rows whose mask byte is set.
template <typename T, bool kL2>
__global__ void __launch_bounds__(kWalkThreads) WalkKernel(WalkParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  const uint32_t M = p.itopk, C = p.cands, Cp = p.cands_pow2;
  float* qf = reinterpret_cast<float*>(smem);
  float* a_d = qf + (p.prefix + 3) / 4 * 4;
  uint32_t* a_i = reinterpret_cast<uint32_t*>(a_d + M);
  float* b_d = reinterpret_cast<float*>(a_i + M);
  uint32_t* b_i = reinterpret_cast<uint32_t*>(b_d + M);
  float* c_d = reinterpret_cast<float*>(b_i + M);
  uint32_t* c_i = reinterpret_cast<uint32_t*>(c_d + Cp);
  uint32_t* table = c_i + Cp;
  __shared__ uint32_t parents[kMaxWidth];
  __shared__ uint32_t n_parents, inserted, n_new;
  const uint32_t qi = blockIdx.x / p.ctas, cta = blockIdx.x % p.ctas, tid = threadIdx.x;
  const bool shared_table = p.ctas == 1;
  uint32_t* visited = shared_table ? table : p.tables + size_t{qi} * (p.hash_mask + 1);
  const int lane = tid % kWarp, team = tid / kTeam, tl = tid % kTeam, teams = blockDim.x / kTeam;
  const float* q = p.queries + qi * p.q_stride;
  for (uint32_t i = tid; i < p.prefix; i += blockDim.x) qf[i] = q[i];
  for (uint32_t i = tid; i < M; i += blockDim.x) {
    a_d[i] = INFINITY;
    a_i[i] = kEmpty;
  }
  if (tid == 0) {
    inserted = 0;
    n_new = 0;
  }
  __syncthreads();
  const float q_sq = p.q_sq ? p.q_sq[size_t{qi} * p.q_sq_stride] : 0.0f;

  // Evaluates the C candidate slots (`node(s)` gives slot s's row, or kEmpty) and merges them.
  auto step = [&](auto node, bool visit) {
    // The new nodes, packed to the front (a ballot per warp), so that distances are computed
    // only for them: late in a walk most edges lead to visited nodes.
    for (uint32_t base = tid / kWarp * kWarp; base < Cp; base += blockDim.x) {
      const uint32_t s = base + lane;
      uint32_t v = s < C ? node(s) : kEmpty;
      if (v != kEmpty && visit && !Visit(visited, p.hash_mask, v, &inserted)) v = kEmpty;
      const uint32_t bal = __ballot_sync(0xffffffffu, v != kEmpty);
      uint32_t at = 0;
      if (lane == 0 && bal) at = atomicAdd(&n_new, uint32_t(__popc(bal)));
      at = __shfl_sync(0xffffffffu, at, 0);
      if (v != kEmpty) c_i[at + __popc(bal & ((1u << lane) - 1))] = v;
    }
    __syncthreads();
    const uint32_t n = n_new;
    for (uint32_t s = n + tid; s < Cp; s += blockDim.x) {
      c_i[s] = kEmpty;
      c_d[s] = INFINITY;
    }
    for (uint32_t base = 0; base < n; base += teams) {
      const uint32_t s = base + team;
      const uint32_t v = s < n ? c_i[s] : kEmpty;
      const float d = TeamDistance<T, kL2>(p, qf, v, v != kEmpty, tl, q_sq);
      if (s < n && tl == 0) c_d[s] = d;
    }
    __syncthreads();
    if (tid == 0) n_new = 0;  // every thread read it before the barrier above
    if (Cp == kWarp) {
      if (tid < kWarp) WarpSort32(c_d, c_i);
      __syncthreads();
    } else {
      SortPairs(c_d, c_i, Cp);
    }
    // Merge by rank into b (the first M of buffer + candidates), then b becomes the buffer.
    for (uint32_t i = tid; i < M; i += blockDim.x) {
      const uint32_t at = i + Rank(c_d, c_i, Cp, a_d[i], a_i[i], false);
      if (at < M) {
        b_d[at] = a_d[i];
        b_i[at] = a_i[i];
      }
    }
    for (uint32_t j = tid; j < Cp; j += blockDim.x) {
      const uint32_t at = j + Rank(a_d, a_i, M, c_d[j], c_i[j], true);
      if (at < M) {
        b_d[at] = c_d[j];
        b_i[at] = c_i[j];
      }
    }
    __syncthreads();
    float* td = a_d; a_d = b_d; b_d = td;
    uint32_t* ti = a_i; a_i = b_i; b_i = ti;
  };

  // Entry points: the best M of `entries` rows spread evenly over the graph, the same rows for
  // every query (they stay in L2). A kNN graph of clustered data links clusters poorly, so
  // the walk must start in the query's cluster; the visited table's memory holds them first.
  // With several blocks per query, block b tries only entries b, b + ctas, b + 2 ctas ...
  {
    const uint32_t all = p.entries, E = all / p.ctas;
    float* e_d = reinterpret_cast<float*>(table);
    uint32_t* e_i = table + all;
    for (uint32_t base = 0; base < E; base += teams) {
      const uint32_t s = base + team, g = cta + s * p.ctas;
      uint32_t v = kEmpty;
      if (s < E) v = p.graph_rows >= all ? uint32_t(uint64_t{g} * p.graph_rows / all) : (g < p.graph_rows ? g : kEmpty);
      const float d = TeamDistance<T, kL2>(p, qf, v, v != kEmpty, tl, q_sq);
      if (s < E && tl == 0) {
        e_d[s] = d;
        e_i[s] = v;
      }
    }
    __syncthreads();
    SortPairs(e_d, e_i, E);
    for (uint32_t i = tid; i < M; i += blockDim.x) {
      a_d[i] = i < E ? e_d[i] : INFINITY;
      a_i[i] = i < E ? e_i[i] : kEmpty;
    }
    __syncthreads();
    if (shared_table) {
      for (uint32_t i = tid; i <= p.hash_mask; i += blockDim.x) table[i] = 0;
      __syncthreads();
      for (uint32_t i = tid; i < M; i += blockDim.x) {
        if (a_i[i] != kEmpty) Visit(visited, p.hash_mask, a_i[i], &inserted);
      }
    } else if (tid < kWarp) {
      // Another block of the query may have reached an entry first: only the entries this
      // block visits first stay (in order, through b), so that no row is in two buffers.
      uint32_t n = 0;
      for (uint32_t base = 0; base < M; base += kWarp) {
        const uint32_t id = a_i[base + lane];
        const bool mine = id != kEmpty && Visit(visited, p.hash_mask, id, &inserted);
        const uint32_t bal = __ballot_sync(0xffffffffu, mine);
        const uint32_t at = n + __popc(bal & ((1u << lane) - 1));
        if (mine) {
          b_i[at] = id;
          b_d[at] = a_d[base + lane];
        }
        n += __popc(bal);
      }
      __syncwarp();
      for (uint32_t i = lane; i < M; i += kWarp) {
        a_i[i] = i < n ? b_i[i] : kEmpty;
        a_d[i] = i < n ? b_d[i] : INFINITY;
      }
    }
    __syncthreads();
  }
  for (uint32_t iter = 0; iter < p.max_iter; ++iter) {
    if (shared_table && inserted + C > p.hash_limit) {
      // The table is half full: it restarts holding the buffered nodes only. A node evaluated
      // before and not buffered cannot enter the buffer again (its M nodes only improve), so
      // the buffer still never holds a node twice.
      __syncthreads();  // everyone has read `inserted`
      for (uint32_t i = tid; i <= p.hash_mask; i += blockDim.x) table[i] = 0;
      if (tid == 0) inserted = 0;
      __syncthreads();
      for (uint32_t i = tid; i < M; i += blockDim.x) {
        if (a_i[i] != kEmpty) Visit(table, p.hash_mask, a_i[i] & ~kExpanded, &inserted);
      }
      __syncthreads();
    }
    if (tid < kWarp) {
      uint32_t got = 0;
      for (uint32_t base = 0; base < M && got < p.width; base += kWarp) {
        const uint32_t id = a_i[base + lane];
        uint32_t open = __ballot_sync(0xffffffffu, (id & kExpanded) == 0);  // kEmpty has the bit
        while (open && got < p.width) {
          const int l = __ffs(open) - 1;
          open &= open - 1;
          if (lane == 0) {
            parents[got] = a_i[base + l];
            a_i[base + l] |= kExpanded;
          }
          ++got;
        }
        __syncwarp();
      }
      if (lane == 0) n_parents = got;
    }
    __syncthreads();
    const uint32_t np = n_parents;
    if (np == 0) break;
    step([&](uint32_t s) {
      const uint32_t par = s / p.degree;
      return par < np ? p.edges[size_t{parents[par]} * p.degree + s % p.degree] : kEmpty;
    }, true);
  }
  // Rows not in the graph yet: scanned, C at a time (the query's blocks take turns).
  for (uint32_t first = p.graph_rows + cta * C; first < p.rows; first += C * p.ctas) {
    step([&](uint32_t s) { return first + s < p.rows ? first + s : kEmpty; }, false);
  }
  // Output: the first `keep` eligible buffered rows, in order (with several blocks per query,
  // each block's, padded).
  if (tid < kWarp) {
    const size_t out = size_t{blockIdx.x} * p.keep;
    uint32_t n = 0;
    for (uint32_t base = 0; base < M && n < p.keep; base += kWarp) {
      const uint32_t id = a_i[base + lane];
      const uint32_t row = id & ~kExpanded;
      const bool ok = id != kEmpty && (p.mask == nullptr || p.mask[row] != 0);
      const uint32_t bal = __ballot_sync(0xffffffffu, ok);
      const uint32_t at = n + __popc(bal & ((1u << lane) - 1));
      if (ok && at < p.keep) {
        p.out_rows[out + at] = row;
        p.out_dist[out + at] = a_d[base + lane];
      }
      n += __popc(bal);
    }
    if (shared_table) {
      if (lane == 0) p.out_count[qi] = min(n, p.keep);
    } else {
      for (uint32_t i = min(n, p.keep) + lane; i < p.keep; i += kWarp) {
        p.out_rows[out + i] = kEmpty;
        p.out_dist[out + i] = INFINITY;
      }
    }
  }
}

// Query blockIdx.x's best `keep` rows of the n (<= kMaxFunnelKeep) slots its walk blocks wrote
// (WalkParams::ctas; kEmpty slots are padding), sorted by (distance, row). The blocks shared
// one visited table, so no row is in two of them; the merge zeroes that table (`table_len`
// entries per query) for the next walk.
__global__ void WalkMergeKernel(const uint32_t* rows, const float* dist, uint32_t n, uint32_t keep,
                                uint32_t* tables, uint32_t table_len, uint32_t* out_rows,
                                float* out_dist, uint32_t* out_count) {
  __shared__ float d[kMaxFunnelKeep];
  __shared__ uint32_t r[kMaxFunnelKeep];
  __shared__ uint32_t real;
  const size_t q = blockIdx.x;
  uint32_t p = 1;
  while (p < n) p *= 2;
  if (threadIdx.x == 0) real = 0;
  __syncthreads();
  uint32_t mine = 0;
  for (uint32_t i = threadIdx.x; i < p; i += blockDim.x) {
    r[i] = i < n ? rows[q * n + i] : kEmpty;
    d[i] = r[i] != kEmpty ? dist[q * n + i] : INFINITY;
    mine += r[i] != kEmpty;
  }
  atomicAdd(&real, mine);
  uint4* t = reinterpret_cast<uint4*>(tables + q * table_len);
  for (uint32_t i = threadIdx.x; i < table_len / 4; i += blockDim.x) t[i] = make_uint4(0, 0, 0, 0);
  __syncthreads();
  SortPairs(d, r, p);
  const uint32_t kept = min(real, keep);
  for (uint32_t i = threadIdx.x; i < kept; i += blockDim.x) {
    out_rows[q * keep + i] = r[i];
    out_dist[q * keep + i] = d[i];
  }
  if (threadIdx.x == 0) out_count[q] = kept;
}

// ||q[0:end of level l)||^2 of every query, for every level.
struct LevelEnds {
  uint32_t end[kMaxLevels];
  uint32_t levels;
};

__global__ void QueryNormsKernel(const float* queries, size_t stride, size_t nq, LevelEnds ends,
                                 float* out) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < nq; i += size_t{gridDim.x} * blockDim.x) {
    const float* q = queries + i * stride;
    float s = 0;
    uint32_t d = 0;
    for (uint32_t l = 0; l < ends.levels; ++l) {
      for (; d < ends.end[l]; ++d) s += q[d] * q[d];
      out[i * ends.levels + l] = s;
    }
  }
}

// One re-rank stage over fixed slots: query i's candidates are slots [i*slots, i*slots +
// count[i]). One warp per slot (float16: a quarter of a warp) adds the values [lo, hi) of its row to the slot's score
// (acc_in nullptr: from zero) and computes its distance at hi with the level's norms.
// 256 threads (kRerankThreads), 4 blocks per SM (as RerankKernel).
template <typename T, bool kL2>
__global__ void __launch_bounds__(256, 4)
    ChainRerankKernel(const T* data, uint32_t dim, uint32_t lo, uint32_t hi, bool vec,
                                  const float* queries, size_t q_stride, const uint32_t* rows,
                                  const uint32_t* count, uint32_t slots, const float* acc_in,
                                  float* acc_out, const float* q_sq, uint32_t levels,
                                  uint32_t level, const float* x_sq, Metric metric, size_t nq,
                                  float* dist) {
  constexpr int kLanes = RowLanes<T>(), kGroups = kWarp / kLanes;
  const int lane = threadIdx.x % kLanes, group = (threadIdx.x % kWarp) / kLanes;
  const size_t warps = size_t{gridDim.x} * (blockDim.x / kWarp);
  // The loop is uniform per warp (the group sums are shuffles); each group takes a slot.
  for (size_t w = size_t{blockIdx.x} * (blockDim.x / kWarp) + threadIdx.x / kWarp;
       w * kGroups < nq * slots; w += warps) {
    const size_t i = w * kGroups + group;
    const size_t qi = i / slots;
    const bool active = i < nq * slots && i % slots < count[qi];
    const uint32_t row = active ? rows[i] : 0;
    float s = active ? WarpRowDot<T, kL2, kLanes>(data + size_t{row} * dim + lo,
                                                  queries + qi * q_stride + lo, hi - lo, vec, lane)
                     : 0.0f;
    s = WarpSum<kLanes>(s);
    if (active && lane == 0) {
      const float acc = (acc_in ? acc_in[i] : 0.0f) + s;
      acc_out[i] = acc;
      dist[i] = FinalDistance(metric, acc, q_sq ? q_sq[qi * levels + level] : 0.0,
                              x_sq ? double{x_sq[row]} : 0.0);
    }
  }
}

// Query blockIdx.x's best `keep` of its count[q] slots (<= kMaxFunnelKeep) by (distance, row),
// sorted, into out slots [q*keep, q*keep + out_count[q]), their scores carried along.
__global__ void ChainSelectKernel(const uint32_t* rows, const float* dist, const float* acc,
                                  const uint32_t* count, uint32_t slots, uint32_t keep,
                                  uint32_t* out_rows, float* out_dist, float* out_acc,
                                  uint32_t* out_count) {
  __shared__ float d[kMaxFunnelKeep];
  __shared__ uint32_t r[kMaxFunnelKeep];
  __shared__ float a[kMaxFunnelKeep];
  __shared__ uint32_t from[kMaxFunnelKeep];
  const size_t q = blockIdx.x;
  const uint32_t n = count[q];
  uint32_t p = 1;
  while (p < n) p *= 2;
  for (uint32_t i = threadIdx.x; i < p; i += blockDim.x) {
    d[i] = i < n ? dist[q * slots + i] : INFINITY;
    r[i] = i < n ? rows[q * slots + i] : kEmpty;
  }
  __syncthreads();
  // Sort (distance, row) pairs (rows < 2^31: Before's flag mask is moot); each row's slot
  // before the sort moves along, to find its score again.
  for (uint32_t i = threadIdx.x; i < p; i += blockDim.x) from[i] = i;
  __syncthreads();
  SortPairs(d, r, p, from);
  const uint32_t kept = min(n, keep);
  for (uint32_t i = threadIdx.x; i < kept; i += blockDim.x) a[i] = acc[q * slots + from[i]];
  __syncthreads();
  for (uint32_t i = threadIdx.x; i < kept; i += blockDim.x) {
    out_rows[q * keep + i] = r[i];
    out_dist[q * keep + i] = d[i];
    out_acc[q * keep + i] = a[i];
  }
  if (threadIdx.x == 0) out_count[q] = kept;
}

// Rank-based pruning of node blockIdx.x's neighbour list (knn, K ascending, kEmpty padded): the
// edge to its i-th neighbour w is detourable through its j-th neighbour v when j < i and w is
// among v's first i neighbours; edges are kept by (detours, rank), `degree` of them.
constexpr uint32_t kMaxKnn = 256;

__global__ void PruneKernel(const uint32_t* knn, uint32_t K, uint32_t degree, uint32_t* out) {
  __shared__ uint32_t list[kMaxKnn];
  __shared__ uint32_t tab_key[2 * kMaxKnn], tab_pos[2 * kMaxKnn];
  __shared__ uint32_t detour[kMaxKnn];
  __shared__ float key_d[kMaxKnn];
  __shared__ uint32_t key_i[kMaxKnn];
  const size_t u = blockIdx.x;
  constexpr uint32_t kTab = 2 * kMaxKnn - 1;
  for (uint32_t i = threadIdx.x; i < 2 * kMaxKnn; i += blockDim.x) tab_key[i] = 0;
  for (uint32_t i = threadIdx.x; i < K; i += blockDim.x) {
    list[i] = knn[u * K + i];
    detour[i] = 0;
  }
  __syncthreads();
  for (uint32_t i = threadIdx.x; i < K; i += blockDim.x) {
    const uint32_t v = list[i];
    if (v == kEmpty) continue;
    uint32_t h = Mix(v) & kTab;
    while (true) {
      const uint32_t old = atomicCAS(&tab_key[h], 0u, v + 1);
      if (old == 0 || old == v + 1) {
        tab_pos[h] = i;  // a list holds each row once
        break;
      }
      h = (h + 1) & kTab;
    }
  }
  __syncthreads();
  for (uint32_t pair = threadIdx.x; pair < K * K; pair += blockDim.x) {
    const uint32_t j = pair / K, pos = pair % K;
    const uint32_t v = list[j];
    if (v == kEmpty) continue;
    const uint32_t w = knn[size_t{v} * K + pos];
    if (w == kEmpty) continue;
    uint32_t h = Mix(w) & kTab;
    while (tab_key[h] != 0 && tab_key[h] != w + 1) h = (h + 1) & kTab;
    if (tab_key[h] == 0) continue;
    const uint32_t i = tab_pos[h];
    if (j < i && pos < i) atomicAdd(&detour[i], 1u);
  }
  __syncthreads();
  uint32_t p = 1;
  while (p < K) p *= 2;
  for (uint32_t i = threadIdx.x; i < p; i += blockDim.x) {
    const bool real = i < K && list[i] != kEmpty;
    key_d[i] = real ? float(detour[i]) : INFINITY;  // ties: the rank (the slot index)
    key_i[i] = real ? i : kEmpty;
  }
  __syncthreads();
  SortPairs(key_d, key_i, p);
  for (uint32_t t = threadIdx.x; t < degree; t += blockDim.x) {
    out[u * degree + t] = t < K && key_i[t] != kEmpty ? list[key_i[t]] : kEmpty;
  }
}

}  // namespace mrldb::gpu::graph
