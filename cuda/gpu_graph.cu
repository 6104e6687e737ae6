// DeviceGraph (gpu_graph.h): the device graph's pruning and installation, and the funnel that
// walks it with the re-rank stages chained on the device. The kernels are graph_kernels.cuh.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <type_traits>

#include "cuda/gpu_graph.h"
#include "cuda/graph_kernels.cuh"

namespace mrldb::gpu {
namespace {

using namespace graph;  // NOLINT: the kernels are this file's, split out for size

constexpr int kRerankThreads = 256;
constexpr int kSelectThreads = 256;
constexpr uint32_t kMaxItopk = 1024;
constexpr uint32_t kMaxHashEntries = 1u << 12;        // in shared memory (one block per query)
constexpr uint32_t kMaxGlobalHashEntries = 1u << 18;  // in global memory (several)
constexpr uint32_t kMaxCtas = 16;                     // blocks per query
// Rows every walk tries as entry points (the best itopk of them start the buffer).
constexpr uint32_t kEntries = 1024;

double WallNow() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

unsigned GridFor(size_t work, int per_block) {
  const size_t blocks = (work + per_block - 1) / per_block;
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(blocks, 65535u * 32u)));
}

uint32_t Pow2AtLeast(uint32_t n) {
  uint32_t p = 1;
  while (p < n) p *= 2;
  return p;
}

// The bytes of every value a captured call depends on (RunGraph's cache key).
struct GraphKey {
  template <typename... T>
  void Add(const T&... v) {
    (Append(v), ...);
  }
  template <typename T>
  void Append(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    bytes.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  std::string bytes;
};

constexpr size_t kMaxGraphs = 16;  // captured calls kept (the least recently used goes)

// Offsets of the parts of one packed transfer (256-byte aligned).
struct Packing {
  size_t Add(size_t bytes) {
    const size_t at = (size + 255) / 256 * 256;
    size = at + bytes;
    return at;
  }
  size_t size = 0;
};

}  // namespace

DeviceGraph::~DeviceGraph() {
  for (CachedGraph& g : graphs_) cudaGraphExecDestroy(g.exec);
}

Status DeviceGraph::RunGraph(const std::string& key, cudaStream_t st,
                             const std::function<Status()>& enqueue) {
  ++clock_;
  for (CachedGraph& g : graphs_) {
    if (g.key == key) {
      g.used = clock_;
      return FromCuda(cudaGraphLaunch(g.exec, st), "cudaGraphLaunch");
    }
  }
  MRLDB_CUDA(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
  const Status queued = enqueue();
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(st, &graph);
  if (!queued.ok() || ended != cudaSuccess) {
    if (graph) cudaGraphDestroy(graph);
    MRLDB_RETURN_IF_ERROR(queued);
    return FromCuda(ended, "cudaStreamEndCapture");
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  MRLDB_CUDA(made);
  if (graphs_.size() >= kMaxGraphs) {
    auto lru = std::min_element(graphs_.begin(), graphs_.end(),
                                [](const CachedGraph& a, const CachedGraph& b) { return a.used < b.used; });
    cudaGraphExecDestroy(lru->exec);
    graphs_.erase(lru);
  }
  graphs_.push_back({key, exec, clock_});
  return FromCuda(cudaGraphLaunch(exec, st), "cudaGraphLaunch");
}

Status DeviceGraph::Init() {
  int device = 0, sms = 0;
  MRLDB_CUDA(cudaGetDevice(&device));
  MRLDB_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  sms_ = uint32_t(std::max(sms, 1));
  MRLDB_RETURN_IF_ERROR(e0_.Create());
  MRLDB_RETURN_IF_ERROR(e1_.Create());
  return e2_.Create();
}

Status DeviceGraph::Set(const RowsView& v, const std::vector<uint32_t>& edges, uint64_t rows,
                        uint32_t degree, uint32_t level) {
  if (degree < 2 || degree > 256) return Status::InvalidArgument("graph degree must be 2 .. 256");
  if (rows == 0 || rows > v.resident || rows >= kExpanded) {
    return Status::InvalidArgument("graph rows must be 1 .. the resident rows (" +
                                   std::to_string(v.resident) + ")");
  }
  if (level >= v.level_end.size()) return Status::InvalidArgument("no level " + std::to_string(level));
  if (edges.size() != rows * degree) return Status::InvalidArgument("graph edges are not rows x degree");
  for (uint32_t e : edges) {
    if (e != kNoEdge && e >= rows) {
      return Status::InvalidArgument("graph edge to row " + std::to_string(e) + " of " + std::to_string(rows));
    }
  }
  rows_ = 0;  // no half-installed graph is ever searched
  MRLDB_RETURN_IF_ERROR(edges_.Upload(edges.data(), edges.size(), v.stream));
  MRLDB_CUDA(cudaStreamSynchronize(v.stream));
  rows_ = rows;
  degree_ = degree;
  level_ = level;
  return Status::Ok();
}

Result<std::vector<uint32_t>> DeviceGraph::FromNeighbours(const RowsView& v,
                                                           const std::vector<uint32_t>& knn,
                                                           uint64_t rows, uint32_t knn_len,
                                                           uint32_t degree, uint32_t level,
                                                           double* seconds) {
  if (knn_len < degree || knn_len > kMaxKnn) {
    return Status::InvalidArgument("the neighbour lists must hold degree .. 256 rows");
  }
  if (knn.size() != rows * knn_len) return Status::InvalidArgument("neighbour lists are not rows x knn");
  DeviceBuffer<uint32_t> d_knn, d_pruned;
  MRLDB_RETURN_IF_ERROR(d_knn.Upload(knn.data(), knn.size(), v.stream));
  MRLDB_RETURN_IF_ERROR(d_pruned.EnsureCapacity(rows * degree));
  MRLDB_RETURN_IF_ERROR(e0_.Record(v.stream));
  PruneKernel<<<unsigned(rows), 128, 0, v.stream>>>(d_knn.get(), knn_len, degree, d_pruned.get());
  MRLDB_CUDA(cudaGetLastError());
  MRLDB_RETURN_IF_ERROR(e1_.Record(v.stream));
  std::vector<uint32_t> pruned(rows * degree);
  MRLDB_CUDA(cudaMemcpyAsync(pruned.data(), d_pruned.get(), pruned.size() * sizeof(uint32_t),
                             cudaMemcpyDeviceToHost, v.stream));
  MRLDB_CUDA(cudaStreamSynchronize(v.stream));
  MRLDB_ASSIGN_OR_RETURN(*seconds, Elapsed(e0_, e1_));
  std::vector<uint32_t> edges = MergeReverseEdges(pruned, rows, degree);
  MRLDB_RETURN_IF_ERROR(Set(v, edges, rows, degree, level));
  return edges;
}

Result<FunnelResult> DeviceGraph::Funnel(const RowsView& v, const FunnelBatch& in) {
  const double t_start = WallNow();
  if (rows_ == 0) return Status::NotSupported("no graph on the device yet");
  const size_t nq = in.nq;
  FunnelResult out;
  out.offsets.assign(nq + 1, 0);
  if (nq == 0) return out;
  if (in.rows < rows_ || in.rows > v.resident) {
    return Status::InvalidArgument("funnel rows " + std::to_string(in.rows) + " outside [graph rows " +
                                   std::to_string(rows_) + ", resident " + std::to_string(v.resident) + "]");
  }
  if (in.query_stride < v.dim) return Status::InvalidArgument("query stride below the dimension");
  if (in.keep0 == 0 || in.keep0 > kMaxFunnelKeep) return Status::InvalidArgument("graph keep must be 1 .. 1024");
  if (in.width == 0 || in.width > kMaxWidth) return Status::InvalidArgument("graph width must be 1 .. 8");
  uint32_t prev = level_;
  for (const FunnelStageSpec& s : in.stages) {
    if (s.level >= v.level_end.size() || (s.level <= prev && &s != &in.stages[0])) {
      return Status::InvalidArgument("funnel stage levels must increase");
    }
    if (s.keep == 0 || s.keep > kMaxFunnelKeep) return Status::InvalidArgument("stage keep must be 1 .. 1024");
    prev = s.level;
  }
  if (v.level_end.size() > kMaxLevels) return Status::NotSupported("more than 64 ladder levels");
  cudaStream_t st = v.stream;
  const uint32_t dim = v.dim, levels = uint32_t(v.level_end.size());
  // Inputs, packed into one upload: the queries (dim floats each) and, unless kept, the mask.
  const bool upload_mask = in.mask && (in.mask_version == 0 || in.mask_version != mask_version_ ||
                                       d_mask_.size() < in.rows);
  Packing pin;
  const size_t o_q = pin.Add(nq * dim * sizeof(float));
  const size_t o_mask = pin.Add(upload_mask ? in.rows : 0);
  MRLDB_RETURN_IF_ERROR(h_in_.EnsureCapacity(pin.size));
  MRLDB_RETURN_IF_ERROR(d_in_.EnsureCapacity(pin.size));
  char* h = h_in_.get();
  for (size_t q = 0; q < nq; ++q) {
    std::memcpy(h + o_q + q * dim * sizeof(float), in.queries + q * in.query_stride, dim * sizeof(float));
  }
  if (upload_mask) std::memcpy(h + o_mask, in.mask, in.rows);
  // Everything is allocated first; the device work is queued by `enqueue` below, captured once
  // per shape into a CUDA graph and replayed (RunGraph).
  if (upload_mask) MRLDB_RETURN_IF_ERROR(d_mask_.EnsureCapacity(in.rows));
  const float* d_q = reinterpret_cast<const float*>(d_in_.get() + o_q);
  const uint8_t* d_mask = in.mask ? d_mask_.get() : nullptr;
  LevelEnds ends{};
  ends.levels = levels;
  for (uint32_t l = 0; l < levels; ++l) ends.end[l] = v.level_end[l];
  MRLDB_RETURN_IF_ERROR(d_qn_.EnsureCapacity(nq * levels));

  // Stage 0: the walk. The last step (the walk's merge or the last selection) writes straight
  // into the packed download.
  const uint32_t keep0 = in.keep0;
  const uint32_t final_slots = in.stages.empty() ? keep0 : in.stages.back().keep;
  Packing pout;
  const size_t o_rows = pout.Add(nq * final_slots * sizeof(uint32_t));
  const size_t o_dist = pout.Add(nq * final_slots * sizeof(float));
  const size_t o_cnt = pout.Add(nq * sizeof(uint32_t));
  MRLDB_RETURN_IF_ERROR(d_out_.EnsureCapacity(pout.size));
  MRLDB_RETURN_IF_ERROR(h_out_.EnsureCapacity(pout.size));
  uint32_t* fin_rows = reinterpret_cast<uint32_t*>(d_out_.get() + o_rows);
  float* fin_dist = reinterpret_cast<float*>(d_out_.get() + o_dist);
  uint32_t* fin_count = reinterpret_cast<uint32_t*>(d_out_.get() + o_cnt);
  size_t max_slots = keep0;
  for (const FunnelStageSpec& s : in.stages) max_slots = std::max<size_t>(max_slots, s.keep);
  for (int b = 0; b < 2; ++b) {
    MRLDB_RETURN_IF_ERROR(d_rows_[b].EnsureCapacity(nq * max_slots));
    MRLDB_RETURN_IF_ERROR(d_count_[b].EnsureCapacity(nq));
    MRLDB_RETURN_IF_ERROR(d_acc_[b].EnsureCapacity(nq * max_slots));
  }
  MRLDB_RETURN_IF_ERROR(d_dist_.EnsureCapacity(nq * max_slots));
  MRLDB_RETURN_IF_ERROR(d_sel_dist_.EnsureCapacity(nq * max_slots));
  const bool no_stages = in.stages.empty();
  uint32_t* walk_rows = no_stages ? fin_rows : d_rows_[0].get();
  float* walk_dist = no_stages ? fin_dist : d_dist_.get();
  uint32_t* walk_count = no_stages ? fin_count : d_count_[0].get();
  WalkParams p;
  std::memset(static_cast<void*>(&p), 0, sizeof p);  // its bytes are the graph's key: no stray padding
  p.data = v.data;
  p.dim = dim;
  p.prefix = v.level_end[level_];
  const uint32_t per_load = v.precision == Precision::kFloat32 ? 4 : 8;
  p.vec = p.prefix % per_load == 0 && dim % per_load == 0;
  p.metric = in.metric;
  p.x_sq = in.metric == Metric::kL2 ? nullptr : v.norms[level_];
  p.edges = edges_.get();
  p.degree = degree_;
  p.graph_rows = uint32_t(rows_);
  p.rows = uint32_t(in.rows);
  p.mask = d_mask;
  p.queries = d_q;
  p.q_stride = dim;
  // The norms table is nq x levels; the walk reads column level_.
  p.q_sq = in.metric == Metric::kL2 ? nullptr : d_qn_.get() + level_;
  p.q_sq_stride = levels;
  const uint32_t itopk = std::min(kMaxItopk, (std::max(in.itopk, keep0) + 31) / 32 * 32);
  if (itopk < keep0) return Status::InvalidArgument("graph keep above the buffer");
  if (in.blocks_per_query > kMaxCtas) return Status::InvalidArgument("graph blocks per query must be 0 .. 16");
  // Blocks per query: several while the batch leaves most of the device idle; each keeps a
  // share of the buffer (at least 32), all of them together at most kMaxFunnelKeep.
  uint32_t ctas = in.blocks_per_query;
  if (ctas == 0) {
    ctas = 1;
    while (ctas < kMaxCtas && nq * ctas * 2 <= sms_) ctas *= 2;
  }
  p.itopk = ctas == 1 ? itopk : std::max<uint32_t>(32, (itopk + ctas - 1) / ctas + 31) / 32 * 32;
  while (ctas > 1 && ctas * p.itopk > kMaxFunnelKeep) ctas /= 2;
  if (ctas == 1) p.itopk = itopk;
  p.ctas = ctas;
  p.width = in.width;
  p.cands = in.width * degree_;
  p.cands_pow2 = Pow2AtLeast(p.cands);
  // Iterations per block: as the whole buffer needs, shared among the blocks. The visited
  // table: twice the nodes the walk may visit, within limits.
  const uint32_t iters = in.max_iterations ? in.max_iterations
                                           : std::max<uint32_t>(8, (itopk / p.width * 2 + 32) / ctas);
  const uint64_t visits = (uint64_t{p.itopk} + uint64_t{iters} * p.cands + p.cands) * ctas;
  p.entries = std::min<uint32_t>(kEntries, Pow2AtLeast(uint32_t(std::max<uint64_t>(rows_, 1))));
  p.entries = std::max(p.entries, Pow2AtLeast(p.itopk));
  const uint64_t table = std::max<uint64_t>(visits * 2, 2 * uint64_t{p.entries});
  const uint64_t max_table = ctas == 1 ? kMaxHashEntries : kMaxGlobalHashEntries;
  p.hash_mask = uint32_t(Pow2AtLeast(uint32_t(std::min<uint64_t>(table, max_table)))) - 1;
  if (ctas == 1 && 2 * p.entries > p.hash_mask + 1) return Status::InvalidArgument("graph buffer too large");
  p.hash_limit = (p.hash_mask + 1) / 2;
  p.max_iter = iters;
  p.keep = ctas == 1 ? keep0 : p.itopk;
  size_t zeroed_after = 0;
  bool clear_tables = false;
  if (ctas == 1) {
    p.out_rows = walk_rows;
    p.out_dist = walk_dist;
    p.out_count = walk_count;
  } else {
    // The tables start zeroed; each walk's merge zeroes them again.
    const size_t tables = nq * (size_t{p.hash_mask} + 1);
    if (d_tables_.size() < tables) tables_zeroed_ = 0;
    MRLDB_RETURN_IF_ERROR(d_tables_.EnsureCapacity(tables));
    clear_tables = tables_zeroed_ < tables;
    zeroed_after = std::max(tables_zeroed_, tables);
    tables_zeroed_ = 0;  // dirty until the call ran
    MRLDB_RETURN_IF_ERROR(d_walk_rows_.EnsureCapacity(nq * ctas * p.itopk));
    MRLDB_RETURN_IF_ERROR(d_walk_dist_.EnsureCapacity(nq * ctas * p.itopk));
    p.tables = d_tables_.get();
    p.out_rows = d_walk_rows_.get();
    p.out_dist = d_walk_dist_.get();
  }
  out.blocks_per_query = ctas;
  const size_t smem = WalkSharedBytes(p);
  if (smem > 200 * 1024) return Status::InvalidArgument("graph search buffer too large for shared memory");
  const bool l2 = in.metric == Metric::kL2;
  void (*walk_kernel)(WalkParams) = nullptr;
  if (v.precision == Precision::kFloat32) {
    walk_kernel = l2 ? WalkKernel<float, true> : WalkKernel<float, false>;
  } else {
    walk_kernel = l2 ? WalkKernel<__half, true> : WalkKernel<__half, false>;
  }
  MRLDB_CUDA(cudaFuncSetAttribute(walk_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));

  // The device work of the call, in stream order: upload, query norms, the walk (and its
  // merge), the re-rank stages (scores restart at dims 0: the walk keeps distances only; each
  // stage adds its new blocks), download.
  auto enqueue = [&]() -> Status {
    MRLDB_CUDA(cudaMemcpyAsync(d_in_.get(), h, pin.size, cudaMemcpyHostToDevice, st));
    if (upload_mask) {
      MRLDB_CUDA(cudaMemcpyAsync(d_mask_.get(), d_in_.get() + o_mask, in.rows, cudaMemcpyDeviceToDevice, st));
    }
    QueryNormsKernel<<<GridFor(nq, 128), 128, 0, st>>>(d_q, dim, nq, ends, d_qn_.get());
    MRLDB_CUDA(cudaGetLastError());
    if (clear_tables) MRLDB_CUDA(cudaMemsetAsync(d_tables_.get(), 0, nq * (size_t{p.hash_mask} + 1) * 4, st));
    if (in.time_stages) MRLDB_RETURN_IF_ERROR(e0_.Record(st));
    walk_kernel<<<unsigned(nq * ctas), kWalkThreads, smem, st>>>(p);
    MRLDB_RETURN_IF_ERROR(FromCuda(cudaGetLastError(), "graph walk kernel"));
    if (ctas > 1) {
      WalkMergeKernel<<<unsigned(nq), kSelectThreads, 0, st>>>(
          d_walk_rows_.get(), d_walk_dist_.get(), ctas * p.itopk, keep0, d_tables_.get(),
          p.hash_mask + 1, walk_rows, walk_dist, walk_count);
      MRLDB_CUDA(cudaGetLastError());
    }
    if (in.time_stages) MRLDB_RETURN_IF_ERROR(e1_.Record(st));
    int cur = 0;
    uint32_t slots = keep0;
    uint32_t done = 0;
    const float* acc_in = nullptr;
    for (const FunnelStageSpec& s : in.stages) {
      const uint32_t lo = done, hi = v.level_end[s.level];
      const bool vec = lo % per_load == 0 && hi % per_load == 0 && dim % per_load == 0;
      const int rows_per_warp = per_load == 8 ? kWarp / RowLanes<__half>() : 1;  // float16: several
      const unsigned grid = GridFor(nq * slots, kRerankThreads / kWarp * rows_per_warp);
      const float* x_sq = in.metric == Metric::kCosine ? v.norms[s.level] : nullptr;
      auto launch = [&](auto kernel, const auto* data) {
        kernel<<<grid, kRerankThreads, 0, st>>>(data, dim, lo, hi, vec, d_q, dim, d_rows_[cur].get(),
                                                d_count_[cur].get(), slots, acc_in, d_acc_[cur].get(),
                                                d_qn_.get(), levels, s.level, x_sq, in.metric, nq,
                                                d_dist_.get());
      };
      if (v.precision == Precision::kFloat32) {
        const float* data = static_cast<const float*>(v.data);
        l2 ? launch(ChainRerankKernel<float, true>, data) : launch(ChainRerankKernel<float, false>, data);
      } else {
        const __half* data = static_cast<const __half*>(v.data);
        l2 ? launch(ChainRerankKernel<__half, true>, data) : launch(ChainRerankKernel<__half, false>, data);
      }
      MRLDB_CUDA(cudaGetLastError());
      const int next = 1 - cur;
      const bool last = &s == &in.stages.back();
      ChainSelectKernel<<<unsigned(nq), kSelectThreads, 0, st>>>(
          d_rows_[cur].get(), d_dist_.get(), d_acc_[cur].get(), d_count_[cur].get(), slots, s.keep,
          last ? fin_rows : d_rows_[next].get(), last ? fin_dist : d_sel_dist_.get(),
          d_acc_[next].get(), last ? fin_count : d_count_[next].get());
      MRLDB_CUDA(cudaGetLastError());
      cur = next;
      slots = s.keep;
      done = hi;
      acc_in = d_acc_[cur].get();
    }
    if (in.time_stages) MRLDB_RETURN_IF_ERROR(e2_.Record(st));
    // Results: one download.
    MRLDB_CUDA(cudaMemcpyAsync(h_out_.get(), d_out_.get(), pout.size, cudaMemcpyDeviceToHost, st));
    return Status::Ok();
  };
  // The graph's key: every value and address the queued work depends on.
  GraphKey key;
  key.Add(p);
  key.Add(nq, upload_mask, clear_tables, pin.size, pout.size, o_mask, keep0, final_slots, walk_kernel,
          smem, in.metric, v.precision, v.data, d_in_.get(), h_in_.get(), d_mask_.get(), d_qn_.get(),
          d_out_.get(), h_out_.get(), d_dist_.get(), d_sel_dist_.get(), d_tables_.get(),
          d_walk_rows_.get(), d_walk_dist_.get());
  for (int b = 0; b < 2; ++b) key.Add(d_rows_[b].get(), d_count_[b].get(), d_acc_[b].get());
  key.Add(levels);
  for (uint32_t l = 0; l < levels; ++l) key.Add(ends.end[l], v.norms[l]);
  for (const FunnelStageSpec& s : in.stages) key.Add(s.level, s.keep);
  // Events cannot be timed inside a graph: a timed call runs launch by launch.
  MRLDB_RETURN_IF_ERROR(in.time_stages ? enqueue() : RunGraph(key.bytes, st, enqueue));
  if (upload_mask) mask_version_ = in.mask_version;
  tables_zeroed_ = zeroed_after;
  MRLDB_CUDA(cudaStreamSynchronize(st));
  if (in.time_stages) {
    MRLDB_ASSIGN_OR_RETURN(out.graph_seconds, Elapsed(e0_, e1_));
    MRLDB_ASSIGN_OR_RETURN(out.rerank_seconds, Elapsed(e1_, e2_));
  }
  const char* ho = h_out_.get();
  UnpackSlots(nq, final_slots, reinterpret_cast<const uint32_t*>(ho + o_cnt),
              reinterpret_cast<const uint32_t*>(ho + o_rows), reinterpret_cast<const float*>(ho + o_dist),
              &out);
  out.scanned_rows = in.rows - rows_;
  out.total_seconds = WallNow() - t_start;
  return out;
}

}  // namespace mrldb::gpu
