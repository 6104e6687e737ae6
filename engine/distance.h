// Distance kernels, chosen once per process from the CPU's features (AVX-512, AVX2+FMA, or
// portable scalar code): hot loops call through these function pointers, never re-dispatch.
#pragma once

#include <cstddef>

namespace mrldb {

struct DistanceKernels {
  const char* name;  // "avx512", "avx2", "scalar"
  float (*dot)(const float* a, const float* b, size_t len);
  float (*l2sqr)(const float* a, const float* b, size_t len);
  // out[r] += <q, x + r*stride> over `len` values, for r in [0, n).
  void (*dot_rows)(const float* q, const float* x, size_t n, size_t stride, size_t len, float* out);
  // out[r] += ||q - (x + r*stride)||^2 over `len` values.
  void (*l2_rows)(const float* q, const float* x, size_t n, size_t stride, size_t len, float* out);
  // hnswlib DISTFUNC signatures (param points at a size_t length): 1 - <a, b> and ||a - b||^2.
  float (*ip_distance)(const void* a, const void* b, const void* param);
  float (*l2_distance)(const void* a, const void* b, const void* param);
};

// The best kernels this CPU runs. Thread-safe; decided at the first call.
const DistanceKernels& Kernels();
// The portable reference kernels (tests compare the SIMD ones against them).
const DistanceKernels& ScalarKernels();

}  // namespace mrldb
