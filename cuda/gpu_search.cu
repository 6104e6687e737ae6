// DeviceBlocks on a CUDA device: the resident rows, batched re-ranking, the device graph's entry
// points and the union-GEMM measurement, around the kernels of gpu_kernels.cuh (exact search is
// gpu_exact.cu's). See gpu_search.h for the contracts.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "cuda/device_blocks.cuh"
#include "cuda/gpu_kernels.cuh"
#include "cuda/gpu_module.h"

namespace mrldb::gpu {

using namespace kernels;  // NOLINT: the kernels are this file's, split out for size

Status CudaDeviceBlocks::Init() {
  if (widths_.empty()) return Status::InvalidArgument("a ladder has at least one block");
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
  multiprocessors_ = p.multiProcessorCount;
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
  capacity_ = budget_ / RowBytes();
  norms_.resize(widths_.size());
  MRLDB_RETURN_IF_ERROR(stream_.Create());
  MRLDB_RETURN_IF_ERROR(blas_.Create(stream_.get()));
  MRLDB_RETURN_IF_ERROR(e0_.Create());
  MRLDB_RETURN_IF_ERROR(e1_.Create());
  MRLDB_RETURN_IF_ERROR(e2_.Create());
  return graph_.Init();
}

Status CudaDeviceBlocks::Reserve(uint64_t rows) {
  std::lock_guard lock(mu_);
  rows = std::min(rows, capacity_);
  if (rows <= allocated_) {
    resident_ = std::max(resident_, rows);
    return Status::Ok();
  }
  DeviceScope scope(options_.device);
  MRLDB_RETURN_IF_ERROR(scope.status());
  // Grow geometrically (appends come one batch at a time), one array at a time so that the
  // transient peak is one array, not the whole copy.
  const uint64_t target = std::min<uint64_t>(capacity_, std::max<uint64_t>(rows, allocated_ + allocated_ / 2));
  MRLDB_RETURN_IF_ERROR(Grow(&data_, allocated_ * dim_ * elem(), target * dim_ * elem()));
  for (auto& n : norms_) {
    MRLDB_RETURN_IF_ERROR(Grow(&n, allocated_ * sizeof(float), target * sizeof(float)));
  }
  allocated_ = target;
  resident_ = rows;
  return Status::Ok();
}

Status CudaDeviceBlocks::SetRows(size_t b, uint64_t first, size_t n, const float* src) {
  std::lock_guard lock(mu_);
  if (b >= widths_.size()) return Status::InvalidArgument("no block " + std::to_string(b));
  if (first >= resident_ || n == 0) return Status::Ok();
  n = std::min<uint64_t>(n, resident_ - first);
  DeviceScope scope(options_.device);
  MRLDB_RETURN_IF_ERROR(scope.status());
  const uint32_t w = widths_[b];
  char* dst = data_.get() + (first * dim_ + begin_[b]) * elem();
  if (options_.precision == Precision::kFloat32) {
    MRLDB_CUDA(cudaMemcpy2DAsync(dst, dim_ * sizeof(float), src, w * sizeof(float),
                                 w * sizeof(float), n, cudaMemcpyHostToDevice, stream_.get()));
  } else {
    MRLDB_RETURN_IF_ERROR(staging_.Upload(src, n * w, stream_.get()));
    ScatterHalfKernel<<<GridFor(n * w, 256), 256, 0, stream_.get()>>>(
        staging_.get(), n, w, reinterpret_cast<__half*>(dst), dim_);
    MRLDB_CUDA(cudaGetLastError());
  }
  // Synchronous: the caller's buffer may change once we return.
  return stream_.Sync();
}

Status CudaDeviceBlocks::SetSqNorms(size_t level, uint64_t first, size_t n, const float* src) {
  std::lock_guard lock(mu_);
  if (level >= widths_.size()) return Status::InvalidArgument("no level " + std::to_string(level));
  if (first >= resident_ || n == 0) return Status::Ok();
  n = std::min<uint64_t>(n, resident_ - first);
  DeviceScope scope(options_.device);
  MRLDB_RETURN_IF_ERROR(scope.status());
  MRLDB_CUDA(cudaMemcpyAsync(norms_[level].get() + first * sizeof(float), src, n * sizeof(float),
                             cudaMemcpyHostToDevice, stream_.get()));
  return stream_.Sync();
}

Result<RerankResult> CudaDeviceBlocks::Rerank(const RerankBatch& in) {
  const double t_start = WallNow();
  std::lock_guard lock(mu_);
  if (in.b_from > in.b_to || in.b_to >= widths_.size()) {
    return Status::InvalidArgument("re-rank blocks out of range");
  }
  if (in.keep == 0) return Status::InvalidArgument("re-rank keep must be >= 1");
  const size_t nq = in.nq;
  const size_t n = nq ? in.offsets[nq] : 0;
  RerankResult out;
  out.offsets.assign(nq + 1, 0);
  if (n == 0) return out;
  for (size_t i = 0; i < n; ++i) {
    if (in.rows[i] >= resident_) {
      return Status::InvalidArgument("re-rank candidate row " + std::to_string(in.rows[i]) +
                                     " is not resident on the device");
    }
  }
  DeviceScope scope(options_.device);
  MRLDB_RETURN_IF_ERROR(scope.status());
  cudaStream_t st = stream_.get();
  const bool cosine = in.metric == Metric::kCosine;
  const uint32_t keep = in.keep;
  // Inputs, packed.
  // Only the dims this stage reads of each query travel: [lo, hi).
  const uint32_t lo = begin_[in.b_from], hi = begin_[in.b_to] + widths_[in.b_to];
  const size_t qs = hi - lo;
  Packing pin;
  const size_t o_q = pin.Add(nq * qs * sizeof(float));
  const size_t o_cq = pin.Add(n * sizeof(uint32_t));
  const size_t o_rows = pin.Add(n * sizeof(uint64_t));
  const size_t o_acc = pin.Add(n * sizeof(double));
  const size_t o_off = pin.Add((nq + 1) * sizeof(uint32_t));
  const size_t o_qsq = pin.Add(nq * sizeof(double));
  MRLDB_RETURN_IF_ERROR(h_in_.EnsureCapacity(pin.size()));
  MRLDB_RETURN_IF_ERROR(d_in_.EnsureCapacity(pin.size()));
  char* h = h_in_.get();
  for (size_t q = 0; q < nq; ++q) {
    std::memcpy(h + o_q + q * qs * sizeof(float), in.queries + q * in.query_stride + lo, qs * sizeof(float));
  }
  uint32_t* cq = reinterpret_cast<uint32_t*>(h + o_cq);
  for (size_t q = 0; q < nq; ++q) {
    if (in.offsets[q + 1] < in.offsets[q]) return Status::InvalidArgument("offsets decrease");
    for (uint32_t i = in.offsets[q]; i < in.offsets[q + 1]; ++i) cq[i] = uint32_t(q);
  }
  std::memcpy(h + o_rows, in.rows, n * sizeof(uint64_t));
  std::memcpy(h + o_acc, in.acc, n * sizeof(double));
  std::memcpy(h + o_off, in.offsets, (nq + 1) * sizeof(uint32_t));
  if (cosine) std::memcpy(h + o_qsq, in.q_sq, nq * sizeof(double));
  MRLDB_CUDA(cudaMemcpyAsync(d_in_.get(), h, pin.size(), cudaMemcpyHostToDevice, st));
  char* d = d_in_.get();
  // Outputs, packed.
  Packing pout;
  const size_t o_id = pout.Add(nq * keep * sizeof(uint64_t));
  const size_t o_dist = pout.Add(nq * keep * sizeof(float));
  const size_t o_pay = pout.Add(nq * keep * sizeof(double));
  const size_t o_cnt = pout.Add(nq * sizeof(uint32_t));
  MRLDB_RETURN_IF_ERROR(h_out_.EnsureCapacity(pout.size()));
  MRLDB_RETURN_IF_ERROR(d_out_.EnsureCapacity(pout.size()));
  char* dout = d_out_.get();
  MRLDB_RETURN_IF_ERROR(d_acc_out_.EnsureCapacity(n));
  MRLDB_RETURN_IF_ERROR(d_dist_.EnsureCapacity(n));

  const uint32_t per_load = options_.precision == Precision::kFloat32 ? 4 : 8;
  const bool vec = lo % per_load == 0 && hi % per_load == 0 && dim_ % per_load == 0;
  const int rows_per_warp = per_load == 8 ? kWarp / RowLanes<__half>() : 1;  // float16: several
  const unsigned grid = GridFor(n, kRerankThreads / kWarp * rows_per_warp);
  const float* level_norms = cosine ? reinterpret_cast<const float*>(norms_[in.b_to].get()) : nullptr;
  const double* q_sq = cosine ? reinterpret_cast<const double*>(d + o_qsq) : nullptr;
  MRLDB_RETURN_IF_ERROR(e0_.Record(st));
  auto launch = [&](auto kernel, const auto* data) {
    kernel<<<grid, kRerankThreads, 0, st>>>(
        data, dim_, lo, hi, vec, reinterpret_cast<const float*>(d + o_q), qs,
        reinterpret_cast<const uint32_t*>(d + o_cq), reinterpret_cast<const uint64_t*>(d + o_rows),
        reinterpret_cast<const double*>(d + o_acc), q_sq, level_norms, in.metric, n,
        d_acc_out_.get(), d_dist_.get());
  };
  const bool l2 = in.metric == Metric::kL2;
  if (options_.precision == Precision::kFloat32) {
    const float* data = reinterpret_cast<const float*>(data_.get());
    l2 ? launch(RerankKernel<float, true>, data) : launch(RerankKernel<float, false>, data);
  } else {
    const __half* data = reinterpret_cast<const __half*>(data_.get());
    l2 ? launch(RerankKernel<__half, true>, data) : launch(RerankKernel<__half, false>, data);
  }
  MRLDB_CUDA(cudaGetLastError());
  MRLDB_RETURN_IF_ERROR(e1_.Record(st));
  Segments sg;
  sg.offsets = reinterpret_cast<const uint32_t*>(d + o_off);
  sg.payload = d_acc_out_.get();
  SelectKernel<false><<<unsigned(nq), kSelectThreads, 0, st>>>(
      d_dist_.get(), sg, nullptr, keep, reinterpret_cast<uint64_t*>(dout + o_id),
      reinterpret_cast<float*>(dout + o_dist), reinterpret_cast<uint32_t*>(dout + o_cnt),
      reinterpret_cast<double*>(dout + o_pay));
  MRLDB_CUDA(cudaGetLastError());
  const bool sorted = keep <= kSortMax;
  if (sorted) {
    SortKernel<<<unsigned(nq), kSelectThreads, 0, st>>>(
        keep, reinterpret_cast<const uint32_t*>(dout + o_cnt), reinterpret_cast<uint64_t*>(dout + o_id),
        reinterpret_cast<float*>(dout + o_dist), reinterpret_cast<double*>(dout + o_pay),
        reinterpret_cast<const uint64_t*>(d + o_rows));
    MRLDB_CUDA(cudaGetLastError());
  }
  MRLDB_CUDA(cudaMemcpyAsync(h_out_.get(), dout, pout.size(), cudaMemcpyDeviceToHost, st));
  MRLDB_RETURN_IF_ERROR(stream_.Sync());
  MRLDB_ASSIGN_OR_RETURN(out.kernel_seconds, Elapsed(e0_, e1_));
  const char* ho = h_out_.get();
  const uint64_t* sel_id = reinterpret_cast<const uint64_t*>(ho + o_id);
  const float* sel_dist = reinterpret_cast<const float*>(ho + o_dist);
  const double* sel_acc = reinterpret_cast<const double*>(ho + o_pay);
  const uint32_t* count = reinterpret_cast<const uint32_t*>(ho + o_cnt);
  for (size_t q = 0; q < nq; ++q) out.offsets[q + 1] = out.offsets[q] + count[q];
  out.index.resize(out.offsets[nq]);
  out.distance.resize(out.offsets[nq]);
  out.acc.resize(out.offsets[nq]);
  // Each query's kept few, ordered by (distance, row) like the CPU (on the device unless
  // keep is beyond the sort kernel's size).
  std::vector<uint32_t> perm;
  for (size_t q = 0; q < nq; ++q) {
    const size_t from = q * size_t{keep};
    perm.resize(count[q]);
    std::iota(perm.begin(), perm.end(), 0u);
    if (!sorted) std::sort(perm.begin(), perm.end(), [&](uint32_t x, uint32_t y) {
      const float dx = sel_dist[from + x], dy = sel_dist[from + y];
      return dx < dy || (dx == dy && in.rows[sel_id[from + x]] < in.rows[sel_id[from + y]]);
    });
    for (uint32_t j = 0; j < count[q]; ++j) {
      const size_t at = out.offsets[q] + j, src = from + perm[j];
      out.index[at] = uint32_t(sel_id[src]);
      out.distance[at] = sel_dist[src];
      out.acc[at] = sel_acc[src];
    }
  }
  out.total_seconds = WallNow() - t_start;
  return out;
}

Result<GraphBuildResult> CudaDeviceBlocks::BuildGraph(const GraphBuildOptions& o) {
  const double t_start = WallNow();
  if (o.level >= widths_.size()) return Status::InvalidArgument("no level " + std::to_string(o.level));
  if (o.degree < 2 || o.degree > 256) return Status::InvalidArgument("graph degree must be 2 .. 256");
  if (o.knn < o.degree || o.knn > 256) return Status::InvalidArgument("graph knn must be degree .. 256");
  if (o.rows == 0 || o.rows > resident_rows() || o.rows >= (uint64_t{1} << 31)) {
    return Status::InvalidArgument("graph rows must be 1 .. the resident rows, below 2^31");
  }
  const uint32_t prefix = begin_[o.level] + widths_[o.level];
  const uint64_t rows = o.rows;
  GraphBuildResult res;
  // The exact neighbours at the prefix: each chunk of rows is a batch of queries for Exact
  // (which takes the device lock itself), its own row left out.
  std::vector<uint32_t> knn(rows * o.knn, kNoEdge);
  constexpr size_t kChunk = 8192;
  std::vector<float> q;
  std::vector<double> q_sq;
  for (uint64_t first = 0; first < rows; first += kChunk) {
    const size_t m = std::min<uint64_t>(kChunk, rows - first);
    MRLDB_RETURN_IF_ERROR(DownloadPrefix(first, m, prefix, &q));
    q_sq.assign(m, 0.0);
    for (size_t i = 0; i < m; ++i) {
      for (uint32_t d = 0; d < prefix; ++d) q_sq[i] += double{q[i * prefix + d]} * q[i * prefix + d];
    }
    ExactBatch b;
    b.queries = q.data();
    b.nq = m;
    b.query_stride = prefix;
    b.dims = prefix;
    b.q_sq = q_sq.data();
    b.mask = o.targets;
    b.rows = rows;
    b.metric = o.metric;
    b.k = o.knn + 1;
    MRLDB_ASSIGN_OR_RETURN(ExactResult r, Exact(b));
    for (size_t i = 0; i < m; ++i) {
      uint32_t n = 0;
      for (uint32_t j = r.offsets[i]; j < r.offsets[i + 1] && n < o.knn; ++j) {
        if (r.rows[j] != first + i) knn[(first + i) * o.knn + n++] = uint32_t(r.rows[j]);
      }
    }
  }
  res.knn_seconds = WallNow() - t_start;
  {
    std::lock_guard lock(mu_);
    DeviceScope scope(options_.device);
    MRLDB_RETURN_IF_ERROR(scope.status());
    MRLDB_ASSIGN_OR_RETURN(res.edges, graph_.FromNeighbours(View(), knn, rows, o.knn, o.degree,
                                                            o.level, &res.prune_seconds));
  }
  res.total_seconds = WallNow() - t_start;
  return res;
}

Status CudaDeviceBlocks::SetGraph(const std::vector<uint32_t>& edges, uint64_t rows, uint32_t degree,
                uint32_t level) {
  std::lock_guard lock(mu_);
  DeviceScope scope(options_.device);
  MRLDB_RETURN_IF_ERROR(scope.status());
  return graph_.Set(View(), edges, rows, degree, level);
}

Result<double> CudaDeviceBlocks::UnionGemmSeconds(const RerankBatch& in, std::vector<double>* acc) {
  std::lock_guard lock(mu_);
  if (options_.precision != Precision::kFloat32) {
    return Status::NotSupported("the union GEMM is measured on float32 copies only");
  }
  if (in.b_from > in.b_to || in.b_to >= widths_.size()) {
    return Status::InvalidArgument("re-rank blocks out of range");
  }
  const size_t nq = in.nq, n = nq ? in.offsets[nq] : 0;
  std::vector<uint64_t> uni(in.rows, in.rows + n);
  std::sort(uni.begin(), uni.end());
  uni.erase(std::unique(uni.begin(), uni.end()), uni.end());
  acc->assign(in.acc, in.acc + n);
  if (uni.empty()) return 0.0;
  if (uni.back() >= resident_) return Status::InvalidArgument("a candidate row is not resident");
  if (uni.size() * nq * sizeof(float) > (size_t{2} << 30)) {
    return Status::NotSupported("the union GEMM's score matrix would exceed 2 GiB");
  }
  std::vector<uint32_t> cand_u(n), cand_q(n);
  for (size_t q = 0; q < nq; ++q) {
    for (uint32_t i = in.offsets[q]; i < in.offsets[q + 1]; ++i) {
      cand_q[i] = uint32_t(q);
      cand_u[i] = uint32_t(std::lower_bound(uni.begin(), uni.end(), in.rows[i]) - uni.begin());
    }
  }
  const uint32_t lo = begin_[in.b_from], len = begin_[in.b_to] + widths_[in.b_to] - lo;
  std::vector<float> q(nq * len);
  for (size_t i = 0; i < nq; ++i) {
    std::memcpy(q.data() + i * len, in.queries + i * in.query_stride + lo, len * sizeof(float));
  }
  DeviceScope scope(options_.device);
  MRLDB_RETURN_IF_ERROR(scope.status());
  cudaStream_t st = stream_.get();
  DeviceBuffer<float> d_q, d_g, d_s;
  DeviceBuffer<uint64_t> d_u;
  DeviceBuffer<uint32_t> d_cu, d_cq;
  DeviceBuffer<double> d_ai, d_ao;
  MRLDB_RETURN_IF_ERROR(d_q.Upload(q.data(), q.size(), st));
  MRLDB_RETURN_IF_ERROR(d_u.Upload(uni.data(), uni.size(), st));
  MRLDB_RETURN_IF_ERROR(d_cu.Upload(cand_u.data(), n, st));
  MRLDB_RETURN_IF_ERROR(d_cq.Upload(cand_q.data(), n, st));
  MRLDB_RETURN_IF_ERROR(d_ai.Upload(in.acc, n, st));
  MRLDB_RETURN_IF_ERROR(d_g.EnsureCapacity(uni.size() * len));
  MRLDB_RETURN_IF_ERROR(d_s.EnsureCapacity(uni.size() * nq));
  MRLDB_RETURN_IF_ERROR(d_ao.EnsureCapacity(n));
  MRLDB_RETURN_IF_ERROR(e0_.Record(st));
  GatherKernel<<<GridFor(uni.size() * len, 256), 256, 0, st>>>(
      reinterpret_cast<const float*>(data_.get()), dim_, lo, len, d_u.get(), uni.size(), d_g.get());
  MRLDB_CUDA(cudaGetLastError());
  const float one = 1.0f, zero = 0.0f;
  // Column-major: gathered rows len x U (ld len), queries len x nq; scores U x nq (ld U).
  MRLDB_CUBLAS(cublasSgemm(blas_.get(), CUBLAS_OP_T, CUBLAS_OP_N, int(uni.size()), int(nq), int(len),
                           &one, d_g.get(), int(len), d_q.get(), int(len), &zero, d_s.get(),
                           int(uni.size())));
  PickKernel<<<GridFor(n, 256), 256, 0, st>>>(d_s.get(), uni.size(), d_cu.get(), d_cq.get(),
                                              d_ai.get(), n, d_ao.get());
  MRLDB_CUDA(cudaGetLastError());
  MRLDB_RETURN_IF_ERROR(e1_.Record(st));
  MRLDB_CUDA(cudaMemcpyAsync(acc->data(), d_ao.get(), n * sizeof(double), cudaMemcpyDeviceToHost, st));
  MRLDB_RETURN_IF_ERROR(stream_.Sync());
  return Elapsed(e0_, e1_);
}

// Rows [first, first + n) at [0, prefix) as float32 into `out` (n x prefix).
Status CudaDeviceBlocks::DownloadPrefix(uint64_t first, size_t n, uint32_t prefix, std::vector<float>* out) {
  std::lock_guard lock(mu_);
  DeviceScope scope(options_.device);
  MRLDB_RETURN_IF_ERROR(scope.status());
  out->resize(n * prefix);
  const char* src = data_.get() + first * dim_ * elem();
  if (options_.precision == Precision::kFloat32) {
    MRLDB_CUDA(cudaMemcpy2DAsync(out->data(), prefix * sizeof(float), src, dim_ * sizeof(float),
                                 prefix * sizeof(float), n, cudaMemcpyDeviceToHost, stream_.get()));
    return stream_.Sync();
  }
  std::vector<__half> h(n * prefix);
  MRLDB_CUDA(cudaMemcpy2DAsync(h.data(), prefix * sizeof(__half), src, dim_ * sizeof(__half),
                               prefix * sizeof(__half), n, cudaMemcpyDeviceToHost, stream_.get()));
  MRLDB_RETURN_IF_ERROR(stream_.Sync());
  for (size_t i = 0; i < h.size(); ++i) (*out)[i] = __half2float(h[i]);
  return Status::Ok();
}

// Replaces `buf` by one of `new_bytes` holding its first `old_bytes`.
Status CudaDeviceBlocks::Grow(DeviceBuffer<char>* buf, size_t old_bytes, size_t new_bytes) {
  DeviceBuffer<char> bigger;
  MRLDB_RETURN_IF_ERROR(bigger.EnsureCapacity(new_bytes));
  if (old_bytes) {
    MRLDB_CUDA(cudaMemcpyAsync(bigger.get(), buf->get(), old_bytes, cudaMemcpyDeviceToDevice, stream_.get()));
    MRLDB_RETURN_IF_ERROR(stream_.Sync());
  }
  *buf = std::move(bigger);
  return Status::Ok();
}

Result<std::unique_ptr<DeviceBlocks>> CreateCudaDeviceBlocks(const std::vector<uint32_t>& widths,
                                                             const DeviceBlocksOptions& options) {
  auto blocks = std::make_unique<CudaDeviceBlocks>(widths, options);
  MRLDB_RETURN_IF_ERROR(blocks->Init());
  return std::unique_ptr<DeviceBlocks>(std::move(blocks));
}

Result<Bandwidth> MeasureDeviceBandwidth(int device, size_t bytes, int repeat) {
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

// The module's one exported symbol (cuda/gpu_module.h).
extern "C" __attribute__((visibility("default"))) const mrldb::gpu::ModuleApi* mrldb_cuda_module_v1() {
  static const mrldb::gpu::ModuleApi api{MRLDB_GPU_ABI, &mrldb::gpu::CreateCudaDeviceBlocks,
                                         &mrldb::gpu::MeasureDeviceBandwidth};
  return &api;
}
