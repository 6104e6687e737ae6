// Device helpers shared by the kernels of cuda/ (inline device functions only, so that more
// than one .cu file may include it): 16-byte loads as floats, dot and L2 terms, warp sums, the
// CPU's distance formula and the order-preserving float keys of the selections.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/gpu_search.h"

namespace mrldb::gpu::kernels {

constexpr int kWarp = 32;

__device__ __forceinline__ float Load(const float* p) { return *p; }
__device__ __forceinline__ float Load(const __half* p) { return __half2float(*p); }

template <bool kL2>
__device__ __forceinline__ float Term(float q, float x) {
  if constexpr (kL2) {
    const float d = q - x;
    return d * d;
  } else {
    return q * x;
  }
}

template <bool kL2>
__device__ __forceinline__ float Terms(float4 a, float4 b) {
  return Term<kL2>(a.x, b.x) + Term<kL2>(a.y, b.y) + Term<kL2>(a.z, b.z) + Term<kL2>(a.w, b.w);
}

// 16 bytes of row values as 4 (float32) or 8 (float16) floats.
template <typename T> struct Vec;
template <> struct Vec<float> {
  static constexpr uint32_t kValues = 4;
  using Raw = float4;
};
template <> struct Vec<__half> {
  static constexpr uint32_t kValues = 8;
  using Raw = uint4;
};

template <bool kL2>
__device__ __forceinline__ float Dot16(const float* q, float4 raw) {
  return Terms<kL2>(*reinterpret_cast<const float4*>(q), raw);
}
template <bool kL2>
__device__ __forceinline__ float Dot16(const float* q, uint4 raw) {
  const __half2* h = reinterpret_cast<const __half2*>(&raw);
  const float2 x0 = __half22float2(h[0]), x1 = __half22float2(h[1]);
  const float2 x2 = __half22float2(h[2]), x3 = __half22float2(h[3]);
  const float4* q4 = reinterpret_cast<const float4*>(q);
  return Terms<kL2>(q4[0], make_float4(x0.x, x0.y, x1.x, x1.y)) +
         Terms<kL2>(q4[1], make_float4(x2.x, x2.y, x3.x, x3.y));
}

// The sum over each group of kLanes lanes (a power of two <= 32); every lane of the warp calls it.
template <int kLanes = kWarp>
__device__ __forceinline__ float WarpSum(float v) {
  for (int o = kLanes / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float FinalDistance(Metric metric, double acc, double q_sq, double x_sq) {
  // As the CPU's FinalDistance (engine/reranker.cc), in double.
  if (metric == Metric::kL2) return static_cast<float>(sqrt(fmax(0.0, acc)));
  if (metric == Metric::kInnerProduct) return static_cast<float>(-acc);
  return x_sq > 0 ? static_cast<float>(fmin(2.0, fmax(0.0, 1.0 - acc / sqrt(q_sq * x_sq)))) : 1.0f;
}

// Loads in flight per lane: a warp reads up to 32 * kUnroll * 16 bytes of a row at once
// (768 float32 values are 192 loads: one round), which is what keeps enough bytes in flight
// to approach the device's bandwidth on a random gather.
constexpr int kUnroll = 8;

// One warp per candidate: reads the candidate's values [lo, hi) of its row once, in 16-byte
// loads issued together, adds the partial score to its accumulated one and computes its
// distance at the level whose norms are `level_norms`. `queries` hold only [lo, hi) of each
// query (query_stride apart). `vec`: lo, hi, the row length and the query stride keep 16-byte
// alignment; otherwise a scalar loop.
// This lane's part of the dot product (or squared L2) of q[0, n) with x[0, n), for a group of
// kLanes lanes reading one row (`lane` is the lane within the group): 16-byte loads (when
// `vec`: x, q and n keep 16-byte alignment), up to kUnroll issued together; the caller sums
// the group (WarpSum<kLanes>).
template <typename T, bool kL2, int kLanes = kWarp>
__device__ __forceinline__ float WarpRowDot(const T* x, const float* q, uint32_t n, bool vec, int lane) {
  using Raw = typename Vec<T>::Raw;
  constexpr uint32_t kV = Vec<T>::kValues;
  float s = 0;
  if (vec) {
    const Raw* xr = reinterpret_cast<const Raw*>(x);
    const uint32_t loads = n / kV;
    for (uint32_t base = lane; base < loads; base += kLanes * kUnroll) {
      Raw v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const uint32_t j = base + u * kLanes;
        if (j < loads) v[u] = __ldg(xr + j);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const uint32_t j = base + u * kLanes;
        if (j < loads) s += Dot16<kL2>(q + j * kV, v[u]);
      }
    }
  } else {
    for (uint32_t j = lane; j < n; j += kLanes) s += Term<kL2>(q[j], Load(x + j));
  }
  return s;
}

// Lanes reading one candidate's row in the re-rank kernels: a float16 row holds half the bytes
// of a float32 one, so several candidates share a warp and each lane keeps more bytes in
// flight. Measured on the H200 (docs/benchmarks.md, "Float16 re-rank"): 8 lanes (4 rows a
// warp) reached 64% of copy bandwidth at 1024 x 400, 16 lanes 51%, 32 lanes 38%. The macro
// exists to measure other values (-DMRLDB_F16_ROW_LANES=16 in CMAKE_CUDA_FLAGS).
#ifndef MRLDB_F16_ROW_LANES
#define MRLDB_F16_ROW_LANES 8
#endif
template <typename T>
constexpr int RowLanes() { return sizeof(T) == 2 ? MRLDB_F16_ROW_LANES : kWarp; }

// The distance at a prefix from the dot product q.x, ||q||^2 and ||x||^2, in float (it runs
// for every row of every query): cosine clamped to [0, 2] (1 for a zero row), L2, or -q.x.
__device__ __forceinline__ float DistanceFromDot(Metric metric, float dot, float q_sq, float x_sq) {
  if (metric == Metric::kL2) return sqrtf(fmaxf(0.0f, x_sq - 2 * dot + q_sq));
  if (metric == Metric::kInnerProduct) return -dot;
  return x_sq > 0 ? fminf(2.0f, fmaxf(0.0f, 1.0f - dot * rsqrtf(q_sq * x_sq))) : 1.0f;
}

// Order-preserving map of a float to uint32 (smaller float, smaller key).
__device__ __forceinline__ uint32_t OrderedKey(float f) {
  const uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float FromOrderedKey(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k);
}

}  // namespace mrldb::gpu::kernels
