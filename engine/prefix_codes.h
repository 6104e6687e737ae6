// Int8 codes for the graph's prefixes: the HNSW graph stores and compares these instead of
// float32 prefixes, so one node's vector is 12 + dims bytes (76 bytes at 64 dims: a little over
// one cache line) instead of 4 * dims (256 bytes: four lines), and a distance is one integer dot
// product.
//
// A code of a vector x of `dims` values (unit-normalized by the caller for cosine):
//   float scale        s = max_i |x_i| / 127 (0 for a zero vector)
//   float sq_norm      ||s * c||^2, the squared norm of the decoded vector
//   int32 sum          sum_i c_i (the AVX-512 VNNI kernel needs it: it multiplies unsigned
//                      bytes, so it adds 128 to one side and subtracts 128 * sum afterwards)
//   int8  c[padded]    c_i = round(x_i / s) in [-127, 127], zero past dims up to a multiple of 32
// Per-vector scaling keeps each vector's relative precision (a Matryoshka prefix's first values
// are larger than its last ones, and vectors differ in magnitude for inner product); the error of
// a dot product is at most about dims * s_a * s_b / 2 and typically far less. Graph distances are
// only used to choose stage 0's candidates: every later stage, and every result, is exact float.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mrldb/types.h"

namespace mrldb {

struct PrefixCodes {
  static constexpr size_t kHeaderBytes = 12;
  // Bytes of one code of a `dims`-value prefix.
  static size_t Bytes(uint32_t dims) { return kHeaderBytes + Padded(dims); }
  static size_t Padded(uint32_t dims) { return (size_t{dims} + 31) / 32 * 32; }

  // Writes the code of x[0, dims) to out[0, Bytes(dims)).
  static void Encode(const float* x, uint32_t dims, uint8_t* out);
  // The decoded value i of a code (for tests).
  static float Decode(const uint8_t* code, uint32_t i);
};

// hnswlib distance functions over codes; `param` points at the padded code length (size_t).
// Cosine and inner product: 1 - <a, b>; L2: ||a - b||^2; of the decoded vectors.
struct CodeKernels {
  const char* name;  // "avx512vnni", "avx2", "scalar"
  float (*ip_distance)(const void* a, const void* b, const void* param);
  float (*l2_distance)(const void* a, const void* b, const void* param);
};

// The best kernels this CPU runs, chosen once. Thread-safe.
const CodeKernels& CodeKernelsForCpu();
// The portable reference (tests compare the SIMD kernels against it).
const CodeKernels& ScalarCodeKernels();
// Every kernel set this CPU can run, the scalar one first (for tests).
std::vector<const CodeKernels*> AvailableCodeKernels();

}  // namespace mrldb
