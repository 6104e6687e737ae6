// Int8 codes for the graph's prefixes: the HNSW graph stores and compares these instead of
// float32 prefixes, so one node's vector is Padded(dims) bytes (64 at 64 dims: one cache line,
// where float32 takes four) and a distance is one integer dot product.
//
// One scale per graph, trained on the collection (PrefixIndex::Train): a value x is coded as
// c = round(x / s) clipped to [-127, 127], s = 1.1 * max |x| / 127 over the training rows (the
// unit-normalized prefixes for cosine). A code is only its bytes, zero past dims up to a
// multiple of 32; no per-vector header, so a code of up to 64 values fits one cache line and
// PrefixIndex keeps them in a 64-byte-aligned array. One shared scale (not one per vector or per
// dimension) is what makes the distance a plain integer dot product:
//   cosine, inner product   1 - s^2 <c_a, c_b>
//   L2                      s^2 ||c_a - c_b||^2
// The error of a dot product is at most about dims * s^2 / 2 and typically far less. Graph
// distances only choose stage 0's candidates: every later stage, and every result, is exact float.
// Values beyond the trained range are clipped (counted: PrefixIndex rebuilds on drift).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mrldb/types.h"

namespace mrldb {

struct PrefixCodes {
  // Bytes of one code of a `dims`-value prefix.
  static size_t Bytes(uint32_t dims) { return (size_t{dims} + 31) / 32 * 32; }
  // The scale for values of magnitude up to `max_abs` (with headroom); 1 for zero.
  static float ScaleFor(float max_abs) { return max_abs > 0 ? 1.1f * max_abs / 127.0f : 1.0f; }

  // Writes the code of x[0, dims) at scale `scale` to out[0, Bytes(dims)). Returns whether a
  // value had to be clipped.
  static bool Encode(const float* x, uint32_t dims, float scale, uint8_t* out);
  // The decoded value i of a code (for tests).
  static float Decode(const uint8_t* code, uint32_t i, float scale) {
    return scale * static_cast<float>(reinterpret_cast<const int8_t*>(code)[i]);
  }
};

// What hnswlib's distance functions receive as `param`.
struct CodeParam {
  size_t bytes;    // PrefixCodes::Bytes(dims)
  float scale_sq;  // s^2
};

// hnswlib distance functions over codes; `param` points at a CodeParam.
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
