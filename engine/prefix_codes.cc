#include "engine/prefix_codes.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__x86_64__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace mrldb {

bool PrefixCodes::Encode(const float* x, uint32_t dims, float scale, uint8_t* out) {
  const float inv = 1.0f / scale;
  auto* c = reinterpret_cast<int8_t*>(out);
  bool clipped = false;
  for (uint32_t i = 0; i < dims; ++i) {
    const long v = std::lround(x[i] * inv);
    clipped |= v > 127 || v < -127;
    c[i] = static_cast<int8_t>(std::clamp<long>(v, -127, 127));
  }
  std::memset(c + dims, 0, Bytes(dims) - dims);
  return clipped;
}

namespace {

inline const int8_t* CodesOf(const void* p) { return static_cast<const int8_t*>(p); }
inline const CodeParam& ParamOf(const void* p) { return *static_cast<const CodeParam*>(p); }

int32_t DotScalar(const void* a, const void* b, size_t len) {
  const int8_t* x = CodesOf(a);
  const int8_t* y = CodesOf(b);
  int32_t s = 0;
  for (size_t i = 0; i < len; ++i) s += int32_t{x[i]} * y[i];
  return s;
}

int32_t L2Scalar(const void* a, const void* b, size_t len) {
  const int8_t* x = CodesOf(a);
  const int8_t* y = CodesOf(b);
  int32_t s = 0;
  for (size_t i = 0; i < len; ++i) {
    const int32_t d = int32_t{x[i]} - y[i];
    s += d * d;
  }
  return s;
}

template <int32_t (*Dot)(const void*, const void*, size_t)>
float IpOf(const void* a, const void* b, const void* param) {
  const CodeParam& p = ParamOf(param);
  return 1.0f - p.scale_sq * static_cast<float>(Dot(a, b, p.bytes));
}
template <int32_t (*L2)(const void*, const void*, size_t)>
float L2Of(const void* a, const void* b, const void* param) {
  const CodeParam& p = ParamOf(param);
  return p.scale_sq * static_cast<float>(L2(a, b, p.bytes));
}

constexpr CodeKernels kScalar = {"scalar", IpOf<DotScalar>, L2Of<L2Scalar>};

#if defined(__x86_64__)

__attribute__((target("avx2"))) inline int32_t Sum8(__m256i acc) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// AVX2: the sign trick makes one side unsigned (|x|) and moves x's sign onto y, so that
// maddubs (u8 x s8 -> s16 pairs) computes x*y; |x|, |y| <= 127 keeps each pair sum below 2^15.
__attribute__((target("avx2"))) int32_t DotAvx2(const void* a, const void* b, size_t len) {
  const int8_t* x = CodesOf(a);
  const int8_t* y = CodesOf(b);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256();
  for (size_t i = 0; i < len; i += 32) {
    const __m256i vx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    const __m256i vy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y + i));
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(vx, vx), _mm256_sign_epi8(vy, vx));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, ones));
  }
  return Sum8(acc);
}

// Differences widened to 16 bits (|x - y| <= 254), squared and pair-summed by madd.
__attribute__((target("avx2"))) int32_t L2Avx2(const void* a, const void* b, size_t len) {
  const int8_t* x = CodesOf(a);
  const int8_t* y = CodesOf(b);
  __m256i acc = _mm256_setzero_si256();
  for (size_t i = 0; i < len; i += 16) {
    const __m256i vx = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    const __m256i vy = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(y + i)));
    const __m256i d = _mm256_sub_epi16(vx, vy);
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(d, d));
  }
  return Sum8(acc);
}

// AVX-512 VNNI: dpbusd multiplies unsigned bytes by signed ones: |x| times y with x's sign.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) int32_t DotVnni(const void* a, const void* b,
                                                                       size_t len) {
  const int8_t* x = CodesOf(a);
  const int8_t* y = CodesOf(b);
  const __m512i zero = _mm512_setzero_si512();
  __m512i acc = _mm512_setzero_si512();
  for (size_t i = 0; i < len; i += 64) {
    // Lengths are multiples of 32: the last step may load 32 bytes only (the rest zero).
    const __mmask64 m = len - i >= 64 ? ~0ull : 0xffffffffull;
    const __m512i vx = _mm512_maskz_loadu_epi8(m, x + i);
    const __m512i vy = _mm512_maskz_loadu_epi8(m, y + i);
    const __m512i sy = _mm512_mask_sub_epi8(vy, _mm512_movepi8_mask(vx), zero, vy);
    acc = _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(vx), sy);
  }
  return _mm512_reduce_add_epi32(acc);
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) int32_t L2Vnni(const void* a, const void* b,
                                                                      size_t len) {
  const int8_t* x = CodesOf(a);
  const int8_t* y = CodesOf(b);
  __m512i acc = _mm512_setzero_si512();
  for (size_t i = 0; i < len; i += 32) {
    const __m512i vx = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)));
    const __m512i vy = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y + i)));
    const __m512i d = _mm512_sub_epi16(vx, vy);
    acc = _mm512_dpwssd_epi32(acc, d, d);
  }
  return _mm512_reduce_add_epi32(acc);
}

constexpr CodeKernels kAvx2 = {"avx2", IpOf<DotAvx2>, L2Of<L2Avx2>};
constexpr CodeKernels kVnni = {"avx512vnni", IpOf<DotVnni>, L2Of<L2Vnni>};

std::vector<const CodeKernels*> Available() {
  __builtin_cpu_init();
  std::vector<const CodeKernels*> out = {&kScalar};
  if (__builtin_cpu_supports("avx2")) out.push_back(&kAvx2);
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) out.push_back(&kVnni);
  return out;
}

#else

std::vector<const CodeKernels*> Available() { return {&kScalar}; }

#endif

const CodeKernels& Choose() { return *Available().back(); }

}  // namespace

const CodeKernels& CodeKernelsForCpu() {
  static const CodeKernels& chosen = Choose();
  return chosen;
}

const CodeKernels& ScalarCodeKernels() { return kScalar; }

std::vector<const CodeKernels*> AvailableCodeKernels() { return Available(); }

}  // namespace mrldb
