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
};

struct ExactResult {
  // Query i's best min(k, eligible rows): hits[offsets[i], offsets[i+1]) in ascending distance.
  std::vector<uint32_t> offsets;
  std::vector<uint64_t> rows;
  std::vector<float> distance;
  double gemm_seconds = 0;  // cuBLAS, all query sub-batches
  double topk_seconds = 0;  // distance + selection kernels
  double total_seconds = 0;
};

class DeviceBlocks {
 public:
  // `widths`: the block widths of the collection's ladder (their sum is the dimension).
  // Errors: NotSupported (no CUDA in this build, or no device), IOError.
  static Result<std::unique_ptr<DeviceBlocks>> Create(const std::vector<uint32_t>& widths,
                                                      const DeviceBlocksOptions& options);
  virtual ~DeviceBlocks() = default;

  // Rows [0, resident_rows()) are allocated on the device (= min(reserved, capacity)).
  virtual uint64_t resident_rows() const = 0;
  virtual size_t device_bytes() const = 0;
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
  // cuBLAS GEMM of the queries against the prefix blocks, distances and top-k on the device.
  virtual Result<ExactResult> Exact(const ExactBatch& batch) = 0;

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
