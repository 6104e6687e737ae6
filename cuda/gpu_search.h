// Device-resident column blocks, batched funnel re-ranking and batched exact search on a CUDA
// device. Plain C++ header: no CUDA type leaks out of cuda/ (the engine includes this header and
// links cuda/ without seeing the toolkit). Built from gpu_search.cu with the CUDA toolkit, from
// no_cuda.cc without it (DeviceBlocks::Create then answers NotSupported).
//
// Layout on the device: whole rows, row-major (row r at r * D; float32, or float16 as an
// option), so that the blocks a re-rank stage adds are one contiguous range of each candidate's
// row and exact search at any prefix is one GEMM; per level (granularity) the squared prefix
// norm ||x[0:g)||^2 of every row as float32. (The host keeps its column blocks: there a prefix
// scan must not read the rest of the row; on the device a GEMM over a strided prefix reads only
// the prefix's cache lines, and one call beats one per block.) Rows [0, resident_rows()) are on the device; the memory
// budget decides how many rows that can be, and rows beyond it stay with the caller (the CPU).
//
// Thread safety: every method may be called from any thread; calls are serialized on one CUDA
// stream (one mutex), so concurrent searches queue. No method throws; every CUDA or cuBLAS
// error comes back as a Status (IOError, or NotSupported when no device is usable).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "mrldb/status.h"

namespace mrldb::gpu {

enum class Precision : uint8_t { kFloat32, kFloat16 };
// The collection's metric (mrldb::Metric's values; this header stays C++17 for nvcc).
enum class Metric : uint8_t { kCosine = 1, kInnerProduct = 2, kL2 = 3 };

struct DeviceBlocksOptions {
  // CUDA device index. Default: 0.
  int device = 0;
  // Element type of the device copy. float16 halves the memory and the bytes a re-rank reads;
  // scores are still accumulated in float32 (docs/architecture.md states its accuracy).
  // Default: kFloat32.
  Precision precision = Precision::kFloat32;
  // Most bytes of device memory for resident rows (vector blocks and prefix norms); scratch
  // space for searches comes on top. 0: 80% of the device's free memory at creation.
  // Default: 0.
  size_t budget_bytes = 0;
};

// One re-rank stage for a batch of queries. All pointers are host memory.
struct RerankBatch {
  const float* queries = nullptr;  // nq x query_stride, row-major (at least up to the blocks added)
  size_t nq = 0;
  size_t query_stride = 0;
  const double* q_sq = nullptr;       // nq: ||q[0:end of block b_to)||^2 (cosine only)
  const uint32_t* offsets = nullptr;  // nq + 1: query i's candidates are [offsets[i], offsets[i+1])
  const uint64_t* rows = nullptr;     // offsets[nq] rows, each < resident_rows()
  const double* acc = nullptr;        // per candidate: additive score over the blocks before b_from
  size_t b_from = 0, b_to = 0;        // blocks whose partial scores are added, inclusive
  Metric metric = Metric::kCosine;
  uint32_t keep = 0;                  // per query, >= 1
};

struct RerankResult {
  // Query i's best min(keep, its candidates) are kept[offsets[i], offsets[i+1]), in ascending
  // distance (ties by row); `index` points into the batch's candidates.
  std::vector<uint32_t> offsets;
  std::vector<uint32_t> index;
  std::vector<float> distance;
  std::vector<double> acc;     // the new additive score over [0, end of block b_to)
  double kernel_seconds = 0;   // the gather + dot kernel alone (CUDA events)
  double total_seconds = 0;    // the whole call, transfers included
};

// How Exact computes: kGemm, a cuBLAS GEMM per sub-batch of queries writing the score matrix,
// then a selection over it; kFused, the fused scan + top-k (cuda/scan_kernels.cuh) that keeps
// each block's best k in shared memory and never writes the matrix (prefixes of at most
// kFusedMaxDims, k at most kFusedMaxK); kAuto, kFused for the shapes where it measured faster
// (small k with batches of <= 4 or, at <= 32 dims, >= 256 queries: docs/benchmarks.md, "Fused
// prefix scan"), else kGemm.
enum class ExactMethod : uint8_t { kAuto, kGemm, kFused };
constexpr uint32_t kFusedMaxDims = 256;
constexpr uint32_t kFusedMaxK = 1792;

// Brute force over rows [0, rows) at prefix `dims`. All pointers are host memory.
struct ExactBatch {
  const float* queries = nullptr;  // nq x query_stride (at least dims values each)
  size_t nq = 0;
  size_t query_stride = 0;
  uint32_t dims = 0;               // 1 .. the dimension; any prefix, on the ladder or not
  const double* q_sq = nullptr;    // nq: ||q[0:dims)||^2 (cosine and L2)
  const uint8_t* mask = nullptr;   // rows values: nonzero = eligible (live and matching)
  uint64_t rows = 0;               // <= resident_rows()
  Metric metric = Metric::kCosine;
  uint32_t k = 0;                  // per query, >= 1
  ExactMethod method = ExactMethod::kAuto;
};

struct ExactResult {
  // Query i's best min(k, eligible rows): hits[offsets[i], offsets[i+1]) in ascending distance.
  std::vector<uint32_t> offsets;
  std::vector<uint64_t> rows;
  std::vector<float> distance;
  bool fused = false;       // the fused scan ran (else the GEMM)
  double gemm_seconds = 0;  // cuBLAS, all query sub-batches; the fused scan's kernel when fused
  double topk_seconds = 0;  // distance + selection kernels; the merge of the splits when fused
  double total_seconds = 0;
};

// A fixed-out-degree graph over rows [0, rows) at the prefix of ladder level `level`, built on
// the device (docs/architecture.md, "The GPU graph"): the exact k nearest neighbours of every row
// at that prefix (cuBLAS, as Exact), pruned by rank (an edge u->w at rank i goes when many
// shorter two-hop paths u->v->w exist), then reverse edges added. Slots without an edge hold
// kNoEdge.
constexpr uint32_t kNoEdge = 0xFFFFFFFFu;
// Device memory the budget (DeviceBlocksOptions::budget_bytes) keeps per row for a graph of
// out-degree 32, beside the row's values and prefix norms.
constexpr size_t kGraphBytesPerRow = 32 * sizeof(uint32_t);

struct GraphBuildOptions {
  uint32_t level = 0;    // the ladder level whose prefix the graph is on
  uint32_t degree = 32;  // edges per row (2 .. 256)
  uint32_t knn = 64;     // neighbour list the pruning starts from (degree .. 256)
  Metric metric = Metric::kCosine;
  uint64_t rows = 0;     // rows [0, rows) get nodes (<= resident_rows(), < 2^31)
  // The edges' targets: rows whose byte is nonzero (live). nullptr: all rows.
  const uint8_t* targets = nullptr;
};

struct GraphBuildResult {
  std::vector<uint32_t> edges;  // rows x degree, row-major: what SetGraph takes back
  double knn_seconds = 0, prune_seconds = 0, total_seconds = 0;
};

// A whole funnel for a batch on the device: stage 0 walks the device graph (rows the graph does
// not cover yet are scanned in the same kernel), every re-rank stage then reads the new blocks
// of each query's candidates; candidates, scores and selection stay in device memory, the
// queries go up once and the results come down once. All pointers are host memory.
struct FunnelStageSpec {
  uint32_t level = 0;  // the stage computes distances at the end of this ladder level
  uint32_t keep = 0;   // candidates kept (<= kMaxFunnelKeep)
};
constexpr uint32_t kMaxFunnelKeep = 1024;

struct FunnelBatch {
  const float* queries = nullptr;  // nq x query_stride (the full dimension each)
  size_t nq = 0;
  size_t query_stride = 0;
  Metric metric = Metric::kCosine;
  // Rows [0, rows) are searched (rows <= resident_rows()); a row is returned only when its
  // mask byte is nonzero (live and matching). mask_version != 0 promises that the same version
  // means the same bytes, so the device keeps the mask between calls; 0: uploaded each call.
  const uint8_t* mask = nullptr;
  uint64_t rows = 0;
  uint64_t mask_version = 0;
  // Stage 0 in the graph: keep0 candidates from a buffer of itopk (>= keep0) nodes, expanding
  // `width` nodes per iteration, at most max_iterations (0: as the buffer needs).
  uint32_t keep0 = 0;
  uint32_t itopk = 0;
  uint32_t width = 1;
  uint32_t max_iterations = 0;  // per walking block
  // Thread blocks walking each query (1 .. 16; 0: chosen by the batch size, several for a
  // batch too small to fill the device). Several blocks share the query's buffer size and its
  // visited nodes, start from different entry points and merge their buffers at the end.
  uint32_t blocks_per_query = 0;
  std::vector<FunnelStageSpec> stages;
  // CUDA events around the walk and the re-ranks (FunnelResult::graph_seconds, rerank_seconds,
  // for mrldb-bench); the call then runs launch by launch instead of as its captured graph.
  bool time_stages = false;  // re-ranking, levels increasing; may be empty
};

struct FunnelResult {
  // Query i's hits: [offsets[i], offsets[i+1]) in ascending (distance, row).
  std::vector<uint32_t> offsets;
  std::vector<uint64_t> rows;
  std::vector<float> distance;
  uint64_t scanned_rows = 0;  // rows past the graph, scanned in stage 0 (per query)
  uint32_t blocks_per_query = 0;  // walking each query
  double graph_seconds = 0;   // stage 0 (CUDA events; with FunnelBatch::time_stages only)
  double rerank_seconds = 0;  // the re-rank stages (likewise)
  double total_seconds = 0;   // the whole call, transfers included
};

// The reverse-edge step of the graph build, on the host (cuda/graph_edges.cc, built with or
// without CUDA): each row keeps the first half of its pruned edges, then the rows whose pruned
// lists point at it (lower ranks first, no duplicates), then the rest of its own edges, until
// `degree`. `pruned` is rows x degree (kNoEdge padded).
std::vector<uint32_t> MergeReverseEdges(const std::vector<uint32_t>& pruned, uint64_t rows,
                                        uint32_t degree);

class DeviceBlocks {
 public:
  // `widths`: the block widths of the collection's ladder (their sum is the dimension).
  // Errors: NotSupported (no CUDA in this build, or no device), IOError.
  static Result<std::unique_ptr<DeviceBlocks>> Create(const std::vector<uint32_t>& widths,
                                                      const DeviceBlocksOptions& options);
  virtual ~DeviceBlocks() = default;

  // Rows [0, resident_rows()) are allocated on the device (= min(reserved, capacity)).
  virtual uint64_t resident_rows() const = 0;
  // Device memory allocated for the rows (vector blocks and prefix norms; the graph's is
  // graph_bytes()), and the budget they may grow to (DeviceBlocksOptions::budget_bytes as
  // resolved at creation).
  virtual size_t device_bytes() const = 0;
  virtual size_t budget_bytes() const = 0;
  virtual Precision precision() const = 0;
  virtual std::string device_name() const = 0;

  // Makes rows [0, rows) resident, as far as the budget goes (the arrays grow geometrically, so
  // appends cost amortized O(1) copies). Errors: IOError (device memory short).
  virtual Status Reserve(uint64_t rows) = 0;
  // Copies n rows of block b (n x width(b) floats, row-major) to rows [first, first + n); the
  // part at or above resident_rows() is skipped.
  virtual Status SetRows(size_t b, uint64_t first, size_t n, const float* src) = 0;
  // Copies the squared prefix norms at level `level` of rows [first, first + n), likewise.
  virtual Status SetSqNorms(size_t level, uint64_t first, size_t n, const float* src) = 0;

  // Adds the partial scores of blocks [b_from, b_to] to every candidate (fused gather + dot,
  // one warp per candidate), computes its distance at that level and keeps each query's best
  // `keep` by a selection on the device; only the kept come back.
  // Errors: InvalidArgument (a row not resident, bad blocks), IOError.
  virtual Result<RerankResult> Rerank(const RerankBatch& batch) = 0;
  // Exact search at a prefix (ExactBatch, ExactMethod): distances and top-k on the device.
  // Errors: InvalidArgument (the batch; kFused outside its dims and k), IOError.
  virtual Result<ExactResult> Exact(const ExactBatch& batch) = 0;

  // Builds the graph (GraphBuildOptions) and keeps it on the device, replacing any other; the
  // edges also come back for the caller to persist. The device lock is taken per step, so
  // searches run between them. Errors: InvalidArgument (options), IOError.
  virtual Result<GraphBuildResult> BuildGraph(const GraphBuildOptions& options) = 0;
  // Installs a graph made earlier (rows x degree edges, each < rows or kNoEdge).
  // Errors: InvalidArgument (shape, an edge out of range), IOError.
  virtual Status SetGraph(const std::vector<uint32_t>& edges, uint64_t rows, uint32_t degree,
                          uint32_t level) = 0;
  virtual uint64_t graph_rows() const = 0;  // 0: no graph
  virtual size_t graph_bytes() const = 0;
  // Runs the funnel of `batch` (FunnelBatch). Errors: NotSupported (no graph),
  // InvalidArgument (the batch), IOError.
  virtual Result<FunnelResult> Funnel(const FunnelBatch& batch) = 0;

  // The alternative Rerank does not use, kept to measure the choice (mrldb-bench gpu): gathers
  // the union of the batch's candidate rows into a dense matrix, multiplies every query by every
  // gathered row in one cuBLAS GEMM, and picks each candidate's own score into `acc` (the
  // batch's acc plus its dot product over the blocks; keep and metric are ignored). Returns the
  // device time of gather + GEMM + pick (CUDA events), to compare with
  // RerankResult::kernel_seconds. float32 copies only.
  // Errors: NotSupported (float16, or a score matrix over 2 GiB), IOError.
  virtual Result<double> UnionGemmSeconds(const RerankBatch& batch, std::vector<double>* acc) = 0;
};

// Device memory bandwidth, measured: a device-to-device cudaMemcpy (bytes read + written per
// second) and a read-only kernel (bytes read per second), each the median of `repeat` runs over
// buffers of `bytes`.
struct Bandwidth {
  double copy_bytes_per_s = 0;
  double read_bytes_per_s = 0;
};
Result<Bandwidth> MeasureBandwidth(int device, size_t bytes, int repeat);

}  // namespace mrldb::gpu
