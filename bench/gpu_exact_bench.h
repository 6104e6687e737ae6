// `mrldb-bench gpu`'s exact-search shapes: the cuBLAS GEMM + selection against the fused scan +
// top-k (gpu::ExactMethod) on the same device copy, per prefix, k and batch size.
#pragma once

#include <string>

#include "cuda/gpu_search.h"
#include "mrldb/synthetic.h"

namespace mrldb::bench {

// Runs every shape `repeat` times (after a warm-up call) over rows [0, rows) of `dev` (dimension
// `dim`, queries drawn from `gen`); returns the markdown table, and its rows as JSON objects
// separated by commas in *json.
Result<std::string> ExactMethodTable(gpu::DeviceBlocks* dev, const SyntheticGenerator& gen,
                                     uint64_t rows, uint32_t dim, int repeat, std::string* json);

}  // namespace mrldb::bench
