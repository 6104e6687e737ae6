#include "engine/distance.h"

#if defined(__x86_64__)
// GCC 12's AVX-512 intrinsics start from an "undefined" register and trip -W(maybe-)uninitialized
// inside its own header, depending on optimization level; the warnings are false.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace mrldb {
namespace {

float DotScalar(const float* a, const float* b, size_t len) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= len; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < len; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

float L2Scalar(const float* a, const float* b, size_t len) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= len; i += 4) {
    float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1], d2 = a[i + 2] - b[i + 2],
          d3 = a[i + 3] - b[i + 3];
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; i < len; ++i) {
    float d = a[i] - b[i];
    s0 += d * d;
  }
  return (s0 + s1) + (s2 + s3);
}

template <float (*F)(const float*, const float*, size_t)>
void RowsOf(const float* q, const float* x, size_t n, size_t stride, size_t len, float* out) {
  for (size_t r = 0; r < n; ++r) out[r] += F(q, x + r * stride, len);
}

template <float (*F)(const float*, const float*, size_t)>
float IpDistanceOf(const void* a, const void* b, const void* param) {
  return 1.0f - F(static_cast<const float*>(a), static_cast<const float*>(b),
                  *static_cast<const size_t*>(param));
}
template <float (*F)(const float*, const float*, size_t)>
float L2DistanceOf(const void* a, const void* b, const void* param) {
  return F(static_cast<const float*>(a), static_cast<const float*>(b),
           *static_cast<const size_t*>(param));
}

constexpr DistanceKernels kScalar = {"scalar",          DotScalar,
                                     L2Scalar,          RowsOf<DotScalar>,
                                     RowsOf<L2Scalar>,  IpDistanceOf<DotScalar>,
                                     L2DistanceOf<L2Scalar>};

#if defined(__x86_64__)

__attribute__((target("avx2,fma"))) inline float HSum256(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma"))) float DotAvx2(const float* a, const float* b, size_t len) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= len; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= len; i += 8) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  }
  float s = HSum256(_mm256_add_ps(s0, s1));
  for (; i < len; ++i) s += a[i] * b[i];
  return s;
}

__attribute__((target("avx2,fma"))) float L2Avx2(const float* a, const float* b, size_t len) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= len; i += 16) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    s0 = _mm256_fmadd_ps(d0, d0, s0);
    s1 = _mm256_fmadd_ps(d1, d1, s1);
  }
  for (; i + 8 <= len; i += 8) {
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    s0 = _mm256_fmadd_ps(d, d, s0);
  }
  float s = HSum256(_mm256_add_ps(s0, s1));
  for (; i < len; ++i) {
    float d = a[i] - b[i];
    s += d * d;
  }
  return s;
}

__attribute__((target("avx2,fma"))) void DotRowsAvx2(const float* q, const float* x, size_t n,
                                                     size_t stride, size_t len, float* out) {
  for (size_t r = 0; r < n; ++r) out[r] += DotAvx2(q, x + r * stride, len);
}
__attribute__((target("avx2,fma"))) void L2RowsAvx2(const float* q, const float* x, size_t n,
                                                    size_t stride, size_t len, float* out) {
  for (size_t r = 0; r < n; ++r) out[r] += L2Avx2(q, x + r * stride, len);
}

__attribute__((target("avx2,fma"))) float IpDistanceAvx2(const void* a, const void* b,
                                                          const void* p) {
  return 1.0f - DotAvx2(static_cast<const float*>(a), static_cast<const float*>(b),
                        *static_cast<const size_t*>(p));
}
__attribute__((target("avx2,fma"))) float L2DistanceAvx2(const void* a, const void* b,
                                                          const void* p) {
  return L2Avx2(static_cast<const float*>(a), static_cast<const float*>(b),
                *static_cast<const size_t*>(p));
}

constexpr DistanceKernels kAvx2 = {"avx2",      DotAvx2,        L2Avx2,        DotRowsAvx2,
                                   L2RowsAvx2,  IpDistanceAvx2, L2DistanceAvx2};

__attribute__((target("avx512f"))) float DotAvx512(const float* a, const float* b, size_t len) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= len; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i + 16 <= len; i += 16) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  }
  if (i < len) {
    __mmask16 m = static_cast<__mmask16>((1u << (len - i)) - 1);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f"))) float L2Avx512(const float* a, const float* b, size_t len) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= len; i += 32) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    s0 = _mm512_fmadd_ps(d0, d0, s0);
    s1 = _mm512_fmadd_ps(d1, d1, s1);
  }
  for (; i + 16 <= len; i += 16) {
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    s0 = _mm512_fmadd_ps(d, d, s0);
  }
  if (i < len) {
    __mmask16 m = static_cast<__mmask16>((1u << (len - i)) - 1);
    __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
    s1 = _mm512_fmadd_ps(d, d, s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f"))) void DotRowsAvx512(const float* q, const float* x, size_t n,
                                                      size_t stride, size_t len, float* out) {
  for (size_t r = 0; r < n; ++r) out[r] += DotAvx512(q, x + r * stride, len);
}
__attribute__((target("avx512f"))) void L2RowsAvx512(const float* q, const float* x, size_t n,
                                                     size_t stride, size_t len, float* out) {
  for (size_t r = 0; r < n; ++r) out[r] += L2Avx512(q, x + r * stride, len);
}

__attribute__((target("avx512f"))) float IpDistanceAvx512(const void* a, const void* b,
                                                           const void* p) {
  return 1.0f - DotAvx512(static_cast<const float*>(a), static_cast<const float*>(b),
                          *static_cast<const size_t*>(p));
}
__attribute__((target("avx512f"))) float L2DistanceAvx512(const void* a, const void* b,
                                                           const void* p) {
  return L2Avx512(static_cast<const float*>(a), static_cast<const float*>(b),
                  *static_cast<const size_t*>(p));
}

constexpr DistanceKernels kAvx512 = {"avx512",     DotAvx512,        L2Avx512,
                                     DotRowsAvx512, L2RowsAvx512,    IpDistanceAvx512,
                                     L2DistanceAvx512};

const DistanceKernels& Choose() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return kAvx2;
  return kScalar;
}

#else
const DistanceKernels& Choose() { return kScalar; }
#endif

}  // namespace

const DistanceKernels& Kernels() {
  static const DistanceKernels& chosen = Choose();
  return chosen;
}

const DistanceKernels& ScalarKernels() { return kScalar; }

}  // namespace mrldb
