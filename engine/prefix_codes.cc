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

void PrefixCodes::Encode(const float* x, uint32_t dims, uint8_t* out) {
  float max_abs = 0;
  for (uint32_t i = 0; i < dims; ++i) max_abs = std::max(max_abs, std::fabs(x[i]));
  const float scale = max_abs > 0 ? max_abs / 127.0f : 0.0f;
  const float inv = max_abs > 0 ? 127.0f / max_abs : 0.0f;
  auto* c = reinterpret_cast<int8_t*>(out + kHeaderBytes);
  int32_t sum = 0;
  int64_t sq = 0;
  for (uint32_t i = 0; i < dims; ++i) {
    const int v = std::clamp(static_cast<int>(std::lround(x[i] * inv)), -127, 127);
    c[i] = static_cast<int8_t>(v);
    sum += v;
    sq += int64_t{v} * v;
  }
  std::memset(c + dims, 0, Padded(dims) - dims);
  const float sq_norm = static_cast<float>(double(scale) * scale * double(sq));
  std::memcpy(out, &scale, 4);
  std::memcpy(out + 4, &sq_norm, 4);
  std::memcpy(out + 8, &sum, 4);
}

float PrefixCodes::Decode(const uint8_t* code, uint32_t i) {
  float scale;
  std::memcpy(&scale, code, 4);
  return scale * static_cast<float>(reinterpret_cast<const int8_t*>(code + kHeaderBytes)[i]);
}

namespace {

struct Header {
  float scale, sq_norm;
  int32_t sum;
};

inline Header HeaderOf(const void* p) {
  Header h;
  std::memcpy(&h, p, sizeof h);
  return h;
}

inline const int8_t* CodesOf(const void* p) {
  return reinterpret_cast<const int8_t*>(static_cast<const uint8_t*>(p) + PrefixCodes::kHeaderBytes);
}

int32_t DotScalar(const void* a, const void* b, size_t len) {
  const int8_t* x = CodesOf(a);
  const int8_t* y = CodesOf(b);
  int32_t s = 0;
  for (size_t i = 0; i < len; ++i) s += int32_t{x[i]} * y[i];
  return s;
}

// 1 - <a, b> and ||a - b||^2 of the decoded vectors, from the integer dot product.
template <int32_t (*Dot)(const void*, const void*, size_t)>
float IpOf(const void* a, const void* b, const void* param) {
  const Header ha = HeaderOf(a), hb = HeaderOf(b);
  return 1.0f - ha.scale * hb.scale * static_cast<float>(Dot(a, b, *static_cast<const size_t*>(param)));
}
template <int32_t (*Dot)(const void*, const void*, size_t)>
float L2Of(const void* a, const void* b, const void* param) {
  const Header ha = HeaderOf(a), hb = HeaderOf(b);
  const float dot = ha.scale * hb.scale * static_cast<float>(Dot(a, b, *static_cast<const size_t*>(param)));
  return std::max(0.0f, ha.sq_norm + hb.sq_norm - 2.0f * dot);
}

constexpr CodeKernels kScalar = {"scalar", IpOf<DotScalar>, L2Of<DotScalar>};

#if defined(__x86_64__)

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
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// AVX-512 VNNI: dpbusd multiplies unsigned bytes by signed ones; x + 128 (x xor 0x80) is
// unsigned, and sum((x + 128) * y) - 128 * sum(y) = sum(x * y).
__attribute__((target("avx512f,avx512bw,avx512vnni"))) int32_t DotVnni(const void* a, const void* b,
                                                                       size_t len) {
  const int8_t* x = CodesOf(a);
  const int8_t* y = CodesOf(b);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512i acc = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= len; i += 64) {
    const __m512i vx = _mm512_loadu_si512(x + i);
    const __m512i vy = _mm512_loadu_si512(y + i);
    acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(vx, flip), vy);
  }
  if (i < len) {  // 32 bytes left (lengths are multiples of 32)
    const __mmask64 m = 0xffffffffull;
    const __m512i vx = _mm512_maskz_loadu_epi8(m, x + i);
    const __m512i vy = _mm512_maskz_loadu_epi8(m, y + i);
    // Masked-off lanes are 0 in both: (0 ^ 0x80) * 0 adds nothing.
    acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(vx, flip), vy);
  }
  return _mm512_reduce_add_epi32(acc) - 128 * HeaderOf(b).sum;
}

constexpr CodeKernels kAvx2 = {"avx2", IpOf<DotAvx2>, L2Of<DotAvx2>};
constexpr CodeKernels kVnni = {"avx512vnni", IpOf<DotVnni>, L2Of<DotVnni>};

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
