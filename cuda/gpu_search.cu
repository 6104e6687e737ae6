// DeviceBlocks on a CUDA device: the resident column blocks, the fused gather + dot re-rank
// kernel, cuBLAS exact search, and the per-query selection (radix select) that keeps the top-k
// on the device. See gpu_search.h for the contracts.
#include <cuda_fp16.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include "cuda/cuda_raii.cuh"
#include "cuda/gpu_search.h"

namespace mrldb::gpu {
namespace {

constexpr int kMaxBlocks = 64;
constexpr int kWarp = 32;
constexpr int kRerankThreads = 256;  // 8 warps, one candidate each at a time
constexpr int kSelectThreads = 256;
// Exact search tiles each query's rows for the first selection pass, then selects again over
// the tiles' survivors: a tile is several thousand rows per thread block.
constexpr uint64_t kSelectTile = 1u << 16;
// Score matrix of one GEMM (query sub-batch x rows), float32.
constexpr size_t kScoreBytes = size_t{1} << 30;

double WallNow() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The block pointers and shapes a kernel needs, passed by value.
struct BlockTable {
  const void* data[kMaxBlocks];
  uint32_t begin[kMaxBlocks];
  uint32_t width[kMaxBlocks];
  bool vec[kMaxBlocks];  // 16-byte loads are aligned for rows and queries of this block
};

__device__ __forceinline__ float Load(const float* p) { return *p; }
__device__ __forceinline__ float Load(const __half* p) { return __half2float(*p); }

template <bool kL2>
__device__ __forceinline__ float Term(float q, float x) {
  if constexpr (kL2) {
    const float d = q - x;
    return d * d;
  } else {
    return q * x;
  }
}

// Lane-partial dot (or squared L2) of len values; vectorized when `vec`.
template <bool kL2>
__device__ __forceinline__ float LaneDot(const float* q, const float* x, uint32_t len, bool vec,
                                         int lane) {
  float s = 0;
  if (vec) {
    const float4* q4 = reinterpret_cast<const float4*>(q);
    const float4* x4 = reinterpret_cast<const float4*>(x);
    for (uint32_t i = lane; i < len / 4; i += kWarp) {
      const float4 a = q4[i], b = __ldg(x4 + i);
      s += Term<kL2>(a.x, b.x) + Term<kL2>(a.y, b.y) + Term<kL2>(a.z, b.z) + Term<kL2>(a.w, b.w);
    }
  } else {
    for (uint32_t i = lane; i < len; i += kWarp) s += Term<kL2>(q[i], __ldg(x + i));
  }
  return s;
}

template <bool kL2>
__device__ __forceinline__ float LaneDot(const float* q, const __half* x, uint32_t len, bool vec,
                                         int lane) {
  float s = 0;
  if (vec) {
    // 8 halves (16 bytes) per load.
    const float4* q4 = reinterpret_cast<const float4*>(q);
    const uint4* x8 = reinterpret_cast<const uint4*>(x);
    for (uint32_t i = lane; i < len / 8; i += kWarp) {
      const uint4 raw = __ldg(x8 + i);
      const __half2* h = reinterpret_cast<const __half2*>(&raw);
      const float4 a = q4[2 * i], b = q4[2 * i + 1];
      const float2 x0 = __half22float2(h[0]), x1 = __half22float2(h[1]);
      const float2 x2 = __half22float2(h[2]), x3 = __half22float2(h[3]);
      s += Term<kL2>(a.x, x0.x) + Term<kL2>(a.y, x0.y) + Term<kL2>(a.z, x1.x) + Term<kL2>(a.w, x1.y) +
           Term<kL2>(b.x, x2.x) + Term<kL2>(b.y, x2.y) + Term<kL2>(b.z, x3.x) + Term<kL2>(b.w, x3.y);
    }
  } else {
    for (uint32_t i = lane; i < len; i += kWarp) s += Term<kL2>(q[i], Load(x + i));
  }
  return s;
}

__device__ __forceinline__ float WarpSum(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float FinalDistance(Metric metric, double acc, double q_sq, double x_sq) {
  // As the CPU's Collection::FinalDistance, in double.
  if (metric == Metric::kL2) return static_cast<float>(sqrt(fmax(0.0, acc)));
  if (metric == Metric::kInnerProduct) return static_cast<float>(-acc);
  return x_sq > 0 ? static_cast<float>(1.0 - acc / sqrt(q_sq * x_sq)) : 1.0f;
}

// One warp per candidate: reads each candidate's blocks [b_from, b_to] once (16-byte loads),
// adds them to its score and computes its distance at level b_to.
template <typename T, bool kL2>
__global__ void RerankKernel(BlockTable table, int b_from, int b_to, const float* queries,
                             size_t query_stride, const uint32_t* cand_query, const uint64_t* rows,
                             const double* acc_in, const double* q_sq, const float* level_norms,
                             Metric metric, size_t n, double* acc_out, float* dist_out) {
  const int lane = threadIdx.x % kWarp;
  const size_t warps = size_t{gridDim.x} * (blockDim.x / kWarp);
  for (size_t i = size_t{blockIdx.x} * (blockDim.x / kWarp) + threadIdx.x / kWarp; i < n;
       i += warps) {
    const uint32_t qi = cand_query[i];
    const uint64_t row = rows[i];
    const float* q = queries + qi * query_stride;
    float s = 0;
    for (int b = b_from; b <= b_to; ++b) {
      const uint32_t w = table.width[b];
      const T* x = static_cast<const T*>(table.data[b]) + row * w;
      s += LaneDot<kL2>(q + table.begin[b], x, w, table.vec[b], lane);
    }
    s = WarpSum(s);
    if (lane == 0) {
      const double acc = acc_in[i] + double{s};
      acc_out[i] = acc;
      dist_out[i] = FinalDistance(metric, acc, q_sq ? q_sq[qi] : 0.0,
                                  level_norms ? double{level_norms[row]} : 0.0);
    }
  }
}

// Order-preserving map of a float to uint32 (smaller float, smaller key).
__device__ __forceinline__ uint32_t OrderedKey(float f) {
  const uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Where the elements of selection segment s lie. CSR mode (offsets): [offsets[s], offsets[s+1]),
// id = element index. Tiled mode: segment s is tile s % tiles of query s / tiles over a row of
// qlen elements per query; id = ids[element] or the element's position in its query's row.
struct Segments {
  const uint32_t* offsets = nullptr;
  uint64_t qlen = 0, tile = 0;
  uint32_t tiles = 1;
  const uint64_t* ids = nullptr;
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
// keys (4 passes of 8 bits, warp-aggregated shared histograms), then one pass that writes the
// elements below the k-th key and as many as needed equal to it. Infinite distances (empty
// slots) and rows whose mask byte is 0 are not eligible. Output slots [s*keep, s*keep + count)
// hold ids and distances, unordered; count[s] = min(keep, eligible).
__global__ void SelectKernel(const float* dist, Segments sg, const uint8_t* mask, uint32_t keep,
                             uint64_t* out_id, float* out_dist, uint32_t* out_count) {
  __shared__ uint32_t hist[256];
  __shared__ uint32_t prefix, prefix_mask, remaining, eligible, n_lt, n_eq;
  const uint32_t s = blockIdx.x;
  uint64_t begin, end, base;
  SegmentRange(sg, s, &begin, &end, &base);
  const int lane = threadIdx.x % kWarp;
  auto id_of = [&](uint64_t e) { return sg.ids ? sg.ids[e] : e - base; };
  auto valid = [&](uint64_t e, float d) {
    return isfinite(d) && (mask == nullptr || mask[id_of(e)] != 0);
  };
  if (threadIdx.x == 0) {
    prefix = 0;
    prefix_mask = 0;
    eligible = 0;
    n_lt = 0;
    n_eq = 0;
  }
  const uint64_t len = end - begin;
  const uint64_t rounds = (len + blockDim.x - 1) / blockDim.x;
  for (int pass = 0; pass < 4; ++pass) {
    const int shift = 24 - 8 * pass;
    for (int i = threadIdx.x; i < 256; i += blockDim.x) hist[i] = 0;
    __syncthreads();
    const uint32_t pfx = prefix, pmask = prefix_mask;
    uint32_t counted = 0;
    for (uint64_t r = 0; r < rounds; ++r) {
      const uint64_t e = begin + r * blockDim.x + threadIdx.x;
      uint32_t bin = 256;  // not counted
      if (e < end) {
        const float d = dist[e];
        if (valid(e, d)) {
          const uint32_t key = OrderedKey(d);
          if ((key & pmask) == pfx) bin = (key >> shift) & 255u;
        }
      }
      // Distances cluster in few bins: aggregate equal bins within the warp first.
      const uint32_t peers = __match_any_sync(0xffffffffu, bin);
      if (bin < 256 && lane == __ffs(peers) - 1) atomicAdd(&hist[bin], __popc(peers));
      if (pass == 0 && bin < 256) ++counted;
    }
    if (pass == 0) atomicAdd(&eligible, counted);
    __syncthreads();
    if (threadIdx.x == 0) {
      if (pass == 0) remaining = min(keep, eligible);
      uint32_t cum = 0, bin = 0;
      for (; bin < 255 && cum + hist[bin] < remaining; ++bin) cum += hist[bin];
      remaining -= cum;
      prefix |= bin << shift;
      prefix_mask |= 255u << shift;
    }
    __syncthreads();
    if (remaining == 0) break;  // nothing eligible
  }
  const uint32_t want = min(keep, eligible);
  const uint32_t threshold = prefix;
  const uint32_t take_eq = remaining;       // keys equal to the threshold to take
  const uint32_t lt_total = want - take_eq;  // keys below the threshold (all taken)
  uint64_t* ids = out_id + size_t{s} * keep;
  float* ds = out_dist + size_t{s} * keep;
  if (want > 0) {
    for (uint64_t e = begin + threadIdx.x; e < end; e += blockDim.x) {
      const float d = dist[e];
      if (!valid(e, d)) continue;
      const uint32_t key = OrderedKey(d);
      if (key < threshold) {
        const uint32_t at = atomicAdd(&n_lt, 1u);
        ids[at] = id_of(e);
        ds[at] = d;
      } else if (key == threshold) {
        const uint32_t at = atomicAdd(&n_eq, 1u);
        if (at < take_eq) {
          ids[lt_total + at] = id_of(e);
          ds[lt_total + at] = d;
        }
      }
    }
  }
  if (threadIdx.x == 0) out_count[s] = want;
}

// Squared norms of the prefix [0, begin + len) of every row: the ladder level below plus the
// first len values of block b (exact search at a prefix that is not a granularity).
template <typename T>
__global__ void PartialNormKernel(const T* block, uint32_t width, uint32_t len,
                                  const float* below, uint64_t rows, float* out) {
  for (uint64_t r = size_t{blockIdx.x} * blockDim.x + threadIdx.x; r < rows;
       r += size_t{gridDim.x} * blockDim.x) {
    float s = below ? below[r] : 0.0f;
    const T* x = block + r * width;
    for (uint32_t j = 0; j < len; ++j) {
      const float v = Load(x + j);
      s += v * v;
    }
    out[r] = s;
  }
}

// Turns the GEMM's dot products (column q holds query q's scores over `rows`) into distances.
__global__ void ExactDistanceKernel(float* scores, uint64_t rows, size_t nq, const double* q_sq,
                                    const float* x_sq, Metric metric) {
  const uint64_t total = rows * nq;
  for (uint64_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total;
       i += size_t{gridDim.x} * blockDim.x) {
    const uint64_t q = i / rows, r = i % rows;
    const double dot = scores[i];
    double acc = dot;
    if (metric == Metric::kL2) acc = double{x_sq[r]} - 2 * dot + q_sq[q];
    scores[i] = FinalDistance(metric, acc, q_sq ? q_sq[q] : 0.0, x_sq ? double{x_sq[r]} : 0.0);
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

unsigned GridFor(size_t work, int threads) {
  const size_t blocks = (work + threads - 1) / threads;
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(blocks, 65535u * 32u)));
}

// Sorts each query's kept slice by (distance, id): the device selects, the host orders the few.
template <typename Id>
void SortSlices(std::vector<uint32_t>& offsets, std::vector<Id>& ids, std::vector<float>& dist,
                std::vector<double>* acc) {
  std::vector<size_t> order;
  for (size_t q = 0; q + 1 < offsets.size(); ++q) {
    const size_t a = offsets[q], b = offsets[q + 1];
    order.resize(b - a);
    std::iota(order.begin(), order.end(), a);
    std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      return dist[x] < dist[y] || (dist[x] == dist[y] && ids[x] < ids[y]);
    });
    std::vector<Id> i2(b - a);
    std::vector<float> d2(b - a);
    std::vector<double> a2(acc ? b - a : 0);
    for (size_t j = 0; j < order.size(); ++j) {
      i2[j] = ids[order[j]];
      d2[j] = dist[order[j]];
      if (acc) a2[j] = (*acc)[order[j]];
    }
    std::copy(i2.begin(), i2.end(), ids.begin() + a);
    std::copy(d2.begin(), d2.end(), dist.begin() + a);
    if (acc) std::copy(a2.begin(), a2.end(), acc->begin() + a);
  }
}

class CudaDeviceBlocks final : public DeviceBlocks {
 public:
  CudaDeviceBlocks(std::vector<uint32_t> widths, const DeviceBlocksOptions& o)
      : widths_(std::move(widths)), options_(o) {}

  Status Init() {
    if (widths_.empty() || widths_.size() > kMaxBlocks) {
      return Status::NotSupported("the GPU path handles ladders of 1 to 64 blocks, not " +
                                  std::to_string(widths_.size()));
    }
    int count = 0;
    MRLDB_CUDA(cudaGetDeviceCount(&count));
    if (options_.device < 0 || options_.device >= count) {
      return Status::NotSupported("no CUDA device with index " + std::to_string(options_.device));
    }
    DeviceScope scope(options_.device);
    MRLDB_RETURN_IF_ERROR(scope.status());
    cudaDeviceProp p{};
    MRLDB_CUDA(cudaGetDeviceProperties(&p, options_.device));
    name_ = p.name;
    size_t free_bytes = 0, total = 0;
    MRLDB_CUDA(cudaMemGetInfo(&free_bytes, &total));
    budget_ = options_.budget_bytes ? options_.budget_bytes : free_bytes / 10 * 8;
    budget_ = std::min(budget_, free_bytes);
    begin_.resize(widths_.size());
    uint32_t dim = 0;
    for (size_t b = 0; b < widths_.size(); ++b) {
      begin_[b] = dim;
      dim += widths_[b];
    }
    dim_ = dim;
    const size_t row_bytes = size_t{dim_} * elem() + widths_.size() * sizeof(float);
    capacity_ = budget_ / row_bytes;
    blocks_.resize(widths_.size());
    norms_.resize(widths_.size());
    MRLDB_RETURN_IF_ERROR(stream_.Create());
    MRLDB_RETURN_IF_ERROR(blas_.Create(stream_.get()));
    MRLDB_RETURN_IF_ERROR(e0_.Create());
    MRLDB_RETURN_IF_ERROR(e1_.Create());
    MRLDB_RETURN_IF_ERROR(e2_.Create());
    return Status::Ok();
  }

  uint64_t capacity_rows() const override { return capacity_; }
  uint64_t resident_rows() const override {
    std::lock_guard lock(mu_);
    return resident_;
  }
  size_t device_bytes() const override {
    std::lock_guard lock(mu_);
    return allocated_ * (size_t{dim_} * elem() + widths_.size() * sizeof(float));
  }
  Precision precision() const override { return options_.precision; }
  std::string device_name() const override { return name_; }

  Status Reserve(uint64_t rows) override {
    std::lock_guard lock(mu_);
    rows = std::min(rows, capacity_);
    if (rows <= allocated_) {
      resident_ = std::max(resident_, rows);
      return Status::Ok();
    }
    DeviceScope scope(options_.device);
    MRLDB_RETURN_IF_ERROR(scope.status());
    // Grow geometrically (appends come one batch at a time), one array at a time so that the
    // transient peak is one block, not the whole copy.
    const uint64_t target = std::min<uint64_t>(capacity_, std::max<uint64_t>(rows, allocated_ + allocated_ / 2));
    for (size_t b = 0; b < widths_.size(); ++b) {
      MRLDB_RETURN_IF_ERROR(Grow(&blocks_[b], allocated_ * widths_[b] * elem(), target * widths_[b] * elem()));
      MRLDB_RETURN_IF_ERROR(Grow(&norms_[b], allocated_ * sizeof(float), target * sizeof(float)));
    }
    MRLDB_RETURN_IF_ERROR(stream_.Sync());
    allocated_ = target;
    resident_ = rows;
    return Status::Ok();
  }

  Status SetRows(size_t b, uint64_t first, size_t n, const float* src) override {
    std::lock_guard lock(mu_);
    if (b >= widths_.size()) return Status::InvalidArgument("no block " + std::to_string(b));
    if (first >= resident_) return Status::Ok();
    n = std::min<uint64_t>(n, resident_ - first);
    DeviceScope scope(options_.device);
    MRLDB_RETURN_IF_ERROR(scope.status());
    const size_t values = n * widths_[b];
    char* dst = blocks_[b].get() + first * widths_[b] * elem();
    if (options_.precision == Precision::kFloat32) {
      MRLDB_CUDA(cudaMemcpyAsync(dst, src, values * sizeof(float), cudaMemcpyHostToDevice, stream_.get()));
    } else {
      MRLDB_RETURN_IF_ERROR(staging_.Upload(src, values, stream_.get()));
      FloatToHalfKernel<<<GridFor(values, 256), 256, 0, stream_.get()>>>(
          staging_.get(), reinterpret_cast<__half*>(dst), values);
      MRLDB_CUDA(cudaGetLastError());
    }
    // Synchronous: the caller's buffer may change once we return.
    return stream_.Sync();
  }

  Status SetSqNorms(size_t level, uint64_t first, size_t n, const float* src) override {
    std::lock_guard lock(mu_);
    if (level >= widths_.size()) return Status::InvalidArgument("no level " + std::to_string(level));
    if (first >= resident_) return Status::Ok();
    n = std::min<uint64_t>(n, resident_ - first);
    DeviceScope scope(options_.device);
    MRLDB_RETURN_IF_ERROR(scope.status());
    MRLDB_CUDA(cudaMemcpyAsync(norms_[level].get() + first * sizeof(float), src, n * sizeof(float),
                               cudaMemcpyHostToDevice, stream_.get()));
    return stream_.Sync();
  }

  Result<RerankResult> Rerank(const RerankBatch& in) override {
    const double t_start = WallNow();
    std::lock_guard lock(mu_);
    if (in.b_from > in.b_to || in.b_to >= widths_.size()) {
      return Status::InvalidArgument("re-rank blocks out of range");
    }
    if (in.keep == 0) return Status::InvalidArgument("re-rank keep must be >= 1");
    const size_t nq = in.nq;
    const size_t n = nq ? in.offsets[nq] : 0;
    std::vector<uint32_t> cand_query(n);
    for (size_t q = 0; q < nq; ++q) {
      if (in.offsets[q + 1] < in.offsets[q]) return Status::InvalidArgument("offsets decrease");
      for (uint32_t i = in.offsets[q]; i < in.offsets[q + 1]; ++i) cand_query[i] = uint32_t(q);
    }
    for (size_t i = 0; i < n; ++i) {
      if (in.rows[i] >= resident_) {
        return Status::InvalidArgument("re-rank candidate row " + std::to_string(in.rows[i]) +
                                       " is not resident on the device");
      }
    }
    RerankResult out;
    out.offsets.assign(nq + 1, 0);
    if (n == 0) return out;
    DeviceScope scope(options_.device);
    MRLDB_RETURN_IF_ERROR(scope.status());
    cudaStream_t st = stream_.get();
    const size_t qvalues = nq * in.query_stride;
    MRLDB_RETURN_IF_ERROR(d_queries_.Upload(in.queries, qvalues, st));
    MRLDB_RETURN_IF_ERROR(d_cand_query_.Upload(cand_query.data(), n, st));
    MRLDB_RETURN_IF_ERROR(d_rows_.Upload(in.rows, n, st));
    MRLDB_RETURN_IF_ERROR(d_acc_in_.Upload(in.acc, n, st));
    MRLDB_RETURN_IF_ERROR(d_offsets_.Upload(in.offsets, nq + 1, st));
    const bool cosine = in.metric == Metric::kCosine;
    if (cosine) MRLDB_RETURN_IF_ERROR(d_qsq_.Upload(in.q_sq, nq, st));
    MRLDB_RETURN_IF_ERROR(d_acc_out_.EnsureCapacity(n));
    MRLDB_RETURN_IF_ERROR(d_dist_.EnsureCapacity(n));
    const BlockTable table = Table(in.query_stride);
    const int warps_per_block = kRerankThreads / kWarp;
    const unsigned grid = GridFor(n, warps_per_block);
    const float* level_norms = cosine ? reinterpret_cast<const float*>(norms_[in.b_to].get()) : nullptr;
    const double* q_sq = cosine ? d_qsq_.get() : nullptr;
    MRLDB_RETURN_IF_ERROR(e0_.Record(st));
    auto launch = [&](auto kernel) {
      kernel<<<grid, kRerankThreads, 0, st>>>(table, int(in.b_from), int(in.b_to), d_queries_.get(),
                                              in.query_stride, d_cand_query_.get(), d_rows_.get(),
                                              d_acc_in_.get(), q_sq, level_norms, in.metric, n,
                                              d_acc_out_.get(), d_dist_.get());
    };
    const bool l2 = in.metric == Metric::kL2;
    if (options_.precision == Precision::kFloat32) {
      l2 ? launch(RerankKernel<float, true>) : launch(RerankKernel<float, false>);
    } else {
      l2 ? launch(RerankKernel<__half, true>) : launch(RerankKernel<__half, false>);
    }
    MRLDB_CUDA(cudaGetLastError());
    MRLDB_RETURN_IF_ERROR(e1_.Record(st));
    Segments sg;
    sg.offsets = d_offsets_.get();
    MRLDB_RETURN_IF_ERROR(d_sel_id_.EnsureCapacity(nq * size_t{in.keep}));
    MRLDB_RETURN_IF_ERROR(d_sel_dist_.EnsureCapacity(nq * size_t{in.keep}));
    MRLDB_RETURN_IF_ERROR(d_sel_count_.EnsureCapacity(nq));
    SelectKernel<<<unsigned(nq), kSelectThreads, 0, st>>>(d_dist_.get(), sg, nullptr, in.keep,
                                                          d_sel_id_.get(), d_sel_dist_.get(),
                                                          d_sel_count_.get());
    MRLDB_CUDA(cudaGetLastError());
    std::vector<uint64_t> sel_id(nq * size_t{in.keep});
    std::vector<float> sel_dist(sel_id.size());
    std::vector<uint32_t> count(nq);
    std::vector<double> acc_all(n);
    MRLDB_CUDA(cudaMemcpyAsync(sel_id.data(), d_sel_id_.get(), sel_id.size() * sizeof(uint64_t), cudaMemcpyDeviceToHost, st));
    MRLDB_CUDA(cudaMemcpyAsync(sel_dist.data(), d_sel_dist_.get(), sel_dist.size() * sizeof(float), cudaMemcpyDeviceToHost, st));
    MRLDB_CUDA(cudaMemcpyAsync(count.data(), d_sel_count_.get(), nq * sizeof(uint32_t), cudaMemcpyDeviceToHost, st));
    MRLDB_CUDA(cudaMemcpyAsync(acc_all.data(), d_acc_out_.get(), n * sizeof(double), cudaMemcpyDeviceToHost, st));
    MRLDB_RETURN_IF_ERROR(stream_.Sync());
    MRLDB_ASSIGN_OR_RETURN(out.kernel_seconds, Elapsed(e0_, e1_));
    for (size_t q = 0; q < nq; ++q) out.offsets[q + 1] = out.offsets[q] + count[q];
    out.index.resize(out.offsets[nq]);
    out.distance.resize(out.offsets[nq]);
    out.acc.resize(out.offsets[nq]);
    std::vector<uint64_t> rows(out.offsets[nq]);  // for the tie order
    for (size_t q = 0; q < nq; ++q) {
      for (uint32_t j = 0; j < count[q]; ++j) {
        const size_t at = out.offsets[q] + j, from = q * size_t{in.keep} + j;
        out.index[at] = uint32_t(sel_id[from]);
        out.distance[at] = sel_dist[from];
        out.acc[at] = acc_all[sel_id[from]];
        rows[at] = in.rows[sel_id[from]];
      }
    }
    // Order by (distance, row) like the CPU; carry index and acc along.
    std::vector<uint64_t> order_rows = rows;
    std::vector<float> d2 = out.distance;
    {
      std::vector<size_t> perm(out.index.size());
      std::iota(perm.begin(), perm.end(), size_t{0});
      for (size_t q = 0; q < nq; ++q) {
        std::sort(perm.begin() + out.offsets[q], perm.begin() + out.offsets[q + 1],
                  [&](size_t x, size_t y) {
                    return d2[x] < d2[y] || (d2[x] == d2[y] && order_rows[x] < order_rows[y]);
                  });
      }
      std::vector<uint32_t> i2(perm.size());
      std::vector<double> a2(perm.size());
      for (size_t j = 0; j < perm.size(); ++j) {
        i2[j] = out.index[perm[j]];
        a2[j] = out.acc[perm[j]];
        out.distance[j] = d2[perm[j]];
      }
      out.index.swap(i2);
      out.acc.swap(a2);
    }
    out.total_seconds = WallNow() - t_start;
    return out;
  }

  Result<ExactResult> Exact(const ExactBatch& in) override {
    const double t_start = WallNow();
    std::lock_guard lock(mu_);
    if (in.dims < 1 || in.dims > dim_) return Status::InvalidArgument("exact dims out of range");
    if (in.rows > resident_) return Status::InvalidArgument("exact search beyond the resident rows");
    if (in.k == 0) return Status::InvalidArgument("exact k must be >= 1");
    const size_t nq = in.nq;
    const uint64_t rows = in.rows;
    ExactResult out;
    out.offsets.assign(nq + 1, 0);
    if (nq == 0 || rows == 0) return out;
    if (rows > uint64_t{INT32_MAX}) return Status::NotSupported("exact search over more than 2^31 rows");
    DeviceScope scope(options_.device);
    MRLDB_RETURN_IF_ERROR(scope.status());
    cudaStream_t st = stream_.get();
    // Blocks covering the prefix; the last may be covered in part.
    size_t nblocks = 0;
    while (begin_[nblocks] + widths_[nblocks] < in.dims) ++nblocks;
    ++nblocks;
    const uint32_t last_len = in.dims - begin_[nblocks - 1];
    const bool on_ladder = last_len == widths_[nblocks - 1];
    const bool need_xsq = in.metric != Metric::kInnerProduct;
    const float* x_sq = nullptr;
    if (need_xsq) {
      if (on_ladder) {
        x_sq = reinterpret_cast<const float*>(norms_[nblocks - 1].get());
      } else {
        MRLDB_RETURN_IF_ERROR(d_xsq_.EnsureCapacity(rows));
        const float* below = nblocks >= 2 ? reinterpret_cast<const float*>(norms_[nblocks - 2].get()) : nullptr;
        const size_t b = nblocks - 1;
        if (options_.precision == Precision::kFloat32) {
          PartialNormKernel<<<GridFor(rows, 256), 256, 0, st>>>(
              reinterpret_cast<const float*>(blocks_[b].get()), widths_[b], last_len, below, rows, d_xsq_.get());
        } else {
          PartialNormKernel<<<GridFor(rows, 256), 256, 0, st>>>(
              reinterpret_cast<const __half*>(blocks_[b].get()), widths_[b], last_len, below, rows, d_xsq_.get());
        }
        MRLDB_CUDA(cudaGetLastError());
        x_sq = d_xsq_.get();
      }
    }
    MRLDB_RETURN_IF_ERROR(d_queries_.Upload(in.queries, nq * in.query_stride, st));
    if (in.q_sq) MRLDB_RETURN_IF_ERROR(d_qsq_.Upload(in.q_sq, nq, st));
    if (in.mask) MRLDB_RETURN_IF_ERROR(d_mask_.Upload(in.mask, rows, st));
    const bool half = options_.precision == Precision::kFloat16;
    if (half) {
      // cuBLAS multiplies like types: the queries go to float16 too (float32 accumulation).
      MRLDB_RETURN_IF_ERROR(d_queries_half_.EnsureCapacity(nq * in.query_stride * sizeof(__half)));
      FloatToHalfKernel<<<GridFor(nq * in.query_stride, 256), 256, 0, st>>>(
          d_queries_.get(), reinterpret_cast<__half*>(d_queries_half_.get()), nq * in.query_stride);
      MRLDB_CUDA(cudaGetLastError());
    }
    const size_t sub = std::max<size_t>(1, std::min<size_t>(nq, kScoreBytes / (rows * sizeof(float))));
    const uint32_t tiles = uint32_t((rows + kSelectTile - 1) / kSelectTile);
    const uint32_t k = in.k;
    MRLDB_RETURN_IF_ERROR(d_scores_.EnsureCapacity(sub * rows));
    MRLDB_RETURN_IF_ERROR(d_sel_id_.EnsureCapacity(sub * size_t{tiles} * k));
    MRLDB_RETURN_IF_ERROR(d_sel_dist_.EnsureCapacity(sub * size_t{tiles} * k));
    MRLDB_RETURN_IF_ERROR(d_sel_count_.EnsureCapacity(sub * size_t{tiles}));
    MRLDB_RETURN_IF_ERROR(d_sel2_id_.EnsureCapacity(sub * size_t{k}));
    MRLDB_RETURN_IF_ERROR(d_sel2_dist_.EnsureCapacity(sub * size_t{k}));
    MRLDB_RETURN_IF_ERROR(d_sel2_count_.EnsureCapacity(sub));
    std::vector<uint64_t> ids(nq * size_t{k});
    std::vector<float> dist(ids.size());
    std::vector<uint32_t> count(nq);
    for (size_t q0 = 0; q0 < nq; q0 += sub) {
      const size_t m = std::min(sub, nq - q0);
      MRLDB_RETURN_IF_ERROR(e0_.Record(st));
      const float one = 1.0f, zero = 0.0f;
      for (size_t b = 0; b < nblocks; ++b) {
        const int len = int(b + 1 == nblocks ? last_len : widths_[b]);
        // Column-major view: the block is width x rows (ld width); the queries stride x m; the
        // scores rows x m (ld rows): scores = block^T * queries, accumulated over blocks.
        const float* beta = b == 0 ? &zero : &one;
        if (!half) {
          MRLDB_CUBLAS(cublasSgemm(blas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, int(rows), int(m), len, &one,
                                   reinterpret_cast<const float*>(blocks_[b].get()), int(widths_[b]),
                                   d_queries_.get() + q0 * in.query_stride + begin_[b], int(in.query_stride),
                                   beta, d_scores_.get(), int(rows)));
        } else {
          const __half* qh = reinterpret_cast<const __half*>(d_queries_half_.get());
          MRLDB_CUBLAS(cublasGemmEx(blas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, int(rows), int(m), len, &one,
                                    blocks_[b].get(), CUDA_R_16F, int(widths_[b]),
                                    qh + q0 * in.query_stride + begin_[b], CUDA_R_16F, int(in.query_stride),
                                    beta, d_scores_.get(), CUDA_R_32F, int(rows), CUBLAS_COMPUTE_32F,
                                    CUBLAS_GEMM_DEFAULT));
        }
      }
      MRLDB_RETURN_IF_ERROR(e1_.Record(st));
      ExactDistanceKernel<<<GridFor(m * rows, 256), 256, 0, st>>>(
          d_scores_.get(), rows, m, in.q_sq ? d_qsq_.get() + q0 : nullptr, x_sq, in.metric);
      MRLDB_CUDA(cudaGetLastError());
      Segments tiled;
      tiled.qlen = rows;
      tiled.tile = kSelectTile;
      tiled.tiles = tiles;
      SelectKernel<<<unsigned(m * tiles), kSelectThreads, 0, st>>>(
          d_scores_.get(), tiled, in.mask ? d_mask_.get() : nullptr, k, d_sel_id_.get(),
          d_sel_dist_.get(), d_sel_count_.get());
      MRLDB_CUDA(cudaGetLastError());
      const float* final_dist = d_sel_dist_.get();
      const uint64_t* final_id = d_sel_id_.get();
      const uint32_t* final_count = d_sel_count_.get();
      if (tiles > 1) {
        // The tiles' unfilled slots must not be eligible: mark them infinite first.
        MarkEmpty(m * tiles, k, st);
        Segments merged;
        merged.qlen = uint64_t{tiles} * k;
        merged.tile = merged.qlen;
        merged.tiles = 1;
        merged.ids = d_sel_id_.get();
        SelectKernel<<<unsigned(m), kSelectThreads, 0, st>>>(d_sel_dist_.get(), merged, nullptr, k,
                                                              d_sel2_id_.get(), d_sel2_dist_.get(),
                                                              d_sel2_count_.get());
        MRLDB_CUDA(cudaGetLastError());
        final_dist = d_sel2_dist_.get();
        final_id = d_sel2_id_.get();
        final_count = d_sel2_count_.get();
      }
      MRLDB_RETURN_IF_ERROR(e2_.Record(st));
      MRLDB_CUDA(cudaMemcpyAsync(ids.data() + q0 * k, final_id, m * k * sizeof(uint64_t), cudaMemcpyDeviceToHost, st));
      MRLDB_CUDA(cudaMemcpyAsync(dist.data() + q0 * k, final_dist, m * k * sizeof(float), cudaMemcpyDeviceToHost, st));
      MRLDB_CUDA(cudaMemcpyAsync(count.data() + q0, final_count, m * sizeof(uint32_t), cudaMemcpyDeviceToHost, st));
      MRLDB_RETURN_IF_ERROR(stream_.Sync());
      MRLDB_ASSIGN_OR_RETURN(double g, Elapsed(e0_, e1_));
      MRLDB_ASSIGN_OR_RETURN(double t, Elapsed(e1_, e2_));
      out.gemm_seconds += g;
      out.topk_seconds += t;
    }
    for (size_t q = 0; q < nq; ++q) out.offsets[q + 1] = out.offsets[q] + count[q];
    out.rows.resize(out.offsets[nq]);
    out.distance.resize(out.offsets[nq]);
    for (size_t q = 0; q < nq; ++q) {
      for (uint32_t j = 0; j < count[q]; ++j) {
        out.rows[out.offsets[q] + j] = ids[q * k + j];
        out.distance[out.offsets[q] + j] = dist[q * k + j];
      }
    }
    SortSlices(out.offsets, out.rows, out.distance, nullptr);
    out.total_seconds = WallNow() - t_start;
    return out;
  }

 private:
  size_t elem() const { return options_.precision == Precision::kFloat32 ? sizeof(float) : sizeof(__half); }

  // Replaces `buf` by one of `new_bytes` holding its first `old_bytes`.
  Status Grow(DeviceBuffer<char>* buf, size_t old_bytes, size_t new_bytes) {
    DeviceBuffer<char> bigger;
    MRLDB_RETURN_IF_ERROR(bigger.EnsureCapacity(new_bytes));
    if (old_bytes) {
      MRLDB_CUDA(cudaMemcpyAsync(bigger.get(), buf->get(), old_bytes, cudaMemcpyDeviceToDevice, stream_.get()));
      MRLDB_RETURN_IF_ERROR(stream_.Sync());
    }
    *buf = std::move(bigger);
    return Status::Ok();
  }

  BlockTable Table(size_t query_stride) const {
    BlockTable t{};
    const size_t per_load = options_.precision == Precision::kFloat32 ? 4 : 8;
    for (size_t b = 0; b < widths_.size(); ++b) {
      t.data[b] = blocks_[b].get();
      t.begin[b] = begin_[b];
      t.width[b] = widths_[b];
      t.vec[b] = widths_[b] % per_load == 0 && begin_[b] % 4 == 0 && query_stride % 4 == 0;
    }
    return t;
  }

  void MarkEmpty(size_t segments, uint32_t k, cudaStream_t st);

  const std::vector<uint32_t> widths_;
  const DeviceBlocksOptions options_;
  std::vector<uint32_t> begin_;
  uint32_t dim_ = 0;
  std::string name_;
  size_t budget_ = 0;
  uint64_t capacity_ = 0;

  mutable std::mutex mu_;  // serializes every call on the one stream and scratch space
  uint64_t allocated_ = 0, resident_ = 0;
  std::vector<DeviceBuffer<char>> blocks_, norms_;
  Stream stream_;
  CublasHandle blas_;
  Event e0_, e1_, e2_;
  DeviceBuffer<float> d_queries_, staging_, d_dist_, d_scores_, d_sel_dist_, d_sel2_dist_, d_xsq_;
  DeviceBuffer<char> d_queries_half_;
  DeviceBuffer<uint32_t> d_cand_query_, d_offsets_, d_sel_count_, d_sel2_count_;
  DeviceBuffer<uint64_t> d_rows_, d_sel_id_, d_sel2_id_;
  DeviceBuffer<double> d_acc_in_, d_acc_out_, d_qsq_;
  DeviceBuffer<uint8_t> d_mask_;
};

__global__ void MarkEmptyKernel(const uint32_t* count, uint32_t k, size_t segments, float* dist) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < segments * k;
       i += size_t{gridDim.x} * blockDim.x) {
    if (i % k >= count[i / k]) dist[i] = INFINITY;
  }
}

void CudaDeviceBlocks::MarkEmpty(size_t segments, uint32_t k, cudaStream_t st) {
  MarkEmptyKernel<<<GridFor(segments * k, 256), 256, 0, st>>>(d_sel_count_.get(), k, segments,
                                                               d_sel_dist_.get());
}

}  // namespace

Result<std::unique_ptr<DeviceBlocks>> DeviceBlocks::Create(const std::vector<uint32_t>& widths,
                                                           const DeviceBlocksOptions& options) {
  auto blocks = std::make_unique<CudaDeviceBlocks>(widths, options);
  MRLDB_RETURN_IF_ERROR(blocks->Init());
  return std::unique_ptr<DeviceBlocks>(std::move(blocks));
}

Result<Bandwidth> MeasureBandwidth(int device, size_t bytes, int repeat) {
  DeviceScope scope(device);
  MRLDB_RETURN_IF_ERROR(scope.status());
  bytes = bytes / 16 * 16;
  DeviceBuffer<char> a, b;
  DeviceBuffer<float> sink;
  MRLDB_RETURN_IF_ERROR(a.EnsureCapacity(bytes));
  MRLDB_RETURN_IF_ERROR(b.EnsureCapacity(bytes));
  MRLDB_RETURN_IF_ERROR(sink.EnsureCapacity(1));
  MRLDB_CUDA(cudaMemset(a.get(), 0, bytes));
  Stream stream;
  MRLDB_RETURN_IF_ERROR(stream.Create());
  Event e0, e1;
  MRLDB_RETURN_IF_ERROR(e0.Create());
  MRLDB_RETURN_IF_ERROR(e1.Create());
  cudaDeviceProp p{};
  MRLDB_CUDA(cudaGetDeviceProperties(&p, device));
  std::vector<double> copy, read;
  for (int r = 0; r < repeat + 1; ++r) {  // the first run warms up
    MRLDB_RETURN_IF_ERROR(e0.Record(stream.get()));
    MRLDB_CUDA(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, stream.get()));
    MRLDB_RETURN_IF_ERROR(e1.Record(stream.get()));
    MRLDB_RETURN_IF_ERROR(stream.Sync());
    MRLDB_ASSIGN_OR_RETURN(double tc, Elapsed(e0, e1));
    MRLDB_RETURN_IF_ERROR(e0.Record(stream.get()));
    ReadKernel<<<unsigned(p.multiProcessorCount * 8), 512, 0, stream.get()>>>(
        reinterpret_cast<const float4*>(a.get()), bytes / 16, sink.get());
    MRLDB_CUDA(cudaGetLastError());
    MRLDB_RETURN_IF_ERROR(e1.Record(stream.get()));
    MRLDB_RETURN_IF_ERROR(stream.Sync());
    MRLDB_ASSIGN_OR_RETURN(double tr, Elapsed(e0, e1));
    if (r > 0) {
      copy.push_back(2.0 * double(bytes) / tc);
      read.push_back(double(bytes) / tr);
    }
  }
  std::sort(copy.begin(), copy.end());
  std::sort(read.begin(), read.end());
  return Bandwidth{copy[copy.size() / 2], read[read.size() / 2]};
}

}  // namespace mrldb::gpu
