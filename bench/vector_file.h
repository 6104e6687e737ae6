// Vector files for mrldb-bench: NumPy .npy and the .fvecs format of the ANN benchmarks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mrldb/status.h"

namespace mrldb::bench {

// Row-major n x d float32 values.
struct Matrix {
  size_t n = 0;
  uint32_t d = 0;
  std::vector<float> v;
  const float* Row(size_t i) const { return v.data() + i * d; }
  float* Row(size_t i) { return v.data() + i * d; }
};

// Reads `path` by its extension:
//   .npy    format version 1-3, descr '<f4' (float32) or '<f2' (float16, widened to float32),
//           fortran_order False, shape (n, d);
//   .fvecs  records of an int32 dimension d followed by d float32 values, every d equal.
// Errors: IOError (cannot open); InvalidArgument naming the file and the problem (unknown
// extension, wrong magic, unsupported version or dtype, Fortran order, shape not 2-D, d outside
// 1..65536, truncated data, ragged .fvecs records).
Result<Matrix> ReadVectorFile(const std::string& path);

}  // namespace mrldb::bench
