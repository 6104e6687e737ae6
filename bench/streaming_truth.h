// Exact k nearest neighbours at full dimension over rows too many to hold in memory: the rows are
// produced chunk by chunk (regenerated from a deterministic source) and scored against all the
// queries at once (one SGEMM per chunk), keeping each query's best k. Memory: the queries, one
// chunk of rows and one nq x chunk score matrix.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "mrldb/status.h"
#include "mrldb/types.h"

namespace mrldb::bench {

struct StreamingTruthOptions {
  // Neighbours kept per query. Default: 10.
  uint32_t k = 10;
  // Default: kCosine (rows and queries normalized, then inner product).
  Metric metric = Metric::kCosine;
  // Threads for producing the rows and keeping the top-k (the SGEMM uses BLAS's own threads).
  // Default: 1.
  unsigned threads = 1;
  // Rows per chunk. Default: 8192.
  size_t chunk_rows = 8192;
  // Called after each chunk with the rows done so far. Default: none.
  std::function<void(uint64_t rows_done)> progress;
};

// fill(first, n, out) writes rows [first, first + n) row-major (n x dim) into out; it is called
// from `threads` threads at once on disjoint ranges.
using RowSource = std::function<void(uint64_t first, size_t n, float* out)>;

// The ids (row indexes) of the k rows of [0, rows) nearest to each of the nq queries (row-major
// nq x dim), closest first, ties by the lower row: nq x k entries, -1 past the last row.
// Distances as the engine's: cosine 1 - cos, inner product -<q, x>, L2 squared.
// Errors: InvalidArgument (k or dim 0, a zero query under cosine).
Result<std::vector<int64_t>> StreamingExactTopK(const RowSource& fill, uint64_t rows,
                                                uint32_t dim, const float* queries, size_t nq,
                                                const StreamingTruthOptions& options);

}  // namespace mrldb::bench
