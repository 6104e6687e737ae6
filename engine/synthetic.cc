#include "mrldb/synthetic.h"

#include <algorithm>
#include <cmath>

namespace mrldb {
namespace {

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A small deterministic normal generator (Box-Muller over SplitMix64), identical on every
// platform, unlike std::normal_distribution.
class Normal {
 public:
  explicit Normal(uint64_t seed) : state_(seed) {}
  float Next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = (static_cast<double>(SplitMix64(state_) >> 11) + 0.5) * 0x1.0p-53;
    double u2 = (static_cast<double>(SplitMix64(state_) >> 11) + 0.5) * 0x1.0p-53;
    double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = static_cast<float>(r * std::sin(2 * M_PI * u2));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(2 * M_PI * u2));
  }
  uint64_t NextU64() { return SplitMix64(state_); }

 private:
  uint64_t state_;
  bool has_spare_ = false;
  float spare_ = 0;
};

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t s = a ^ (b * 0xd1b54a32d192ed03ull);
  return SplitMix64(s);
}

std::vector<float> Scales(uint32_t dim, SyntheticOptions::Mode mode, double decay) {
  std::vector<float> scale(dim);
  for (uint32_t d = 0; d < dim; ++d) {
    scale[d] = mode == SyntheticOptions::Mode::kFlat ? 1.0f
                                                     : static_cast<float>(std::pow(1.0 + d / 8.0, -decay));
  }
  return scale;
}

}  // namespace

SyntheticGenerator::SyntheticGenerator(const SyntheticOptions& options) : options_(options) {
  const uint32_t dim = options_.dim;
  scale_ = Scales(dim, options_.mode, options_.decay);
  const uint32_t clusters = options_.clusters == 0 ? 1 : options_.clusters;
  centers_.resize(size_t{clusters} * dim);
  Normal rng(Mix(options_.seed, 0xc3a5c85c97cb3127ull));
  for (uint32_t c = 0; c < clusters; ++c) {
    for (uint32_t d = 0; d < dim; ++d) centers_[size_t{c} * dim + d] = rng.Next() * scale_[d];
  }
}

void SyntheticGenerator::FillStream(uint64_t stream, uint64_t first, size_t n, float* out) const {
  const uint32_t dim = options_.dim;
  const uint32_t clusters = options_.clusters == 0 ? 1 : options_.clusters;
  const float noise = static_cast<float>(options_.noise);
  for (size_t i = 0; i < n; ++i) {
    Normal rng(Mix(Mix(options_.seed, stream), first + i));
    const uint64_t c = rng.NextU64() % clusters;
    const float* center = centers_.data() + c * dim;
    float* row = out + i * dim;
    for (uint32_t d = 0; d < dim; ++d) row[d] = center[d] + noise * scale_[d] * rng.Next();
  }
}

void SyntheticGenerator::Fill(uint64_t first, size_t n, float* out) const {
  FillStream(1, first, n, out);
}

std::vector<float> SyntheticGenerator::Rows(uint64_t first, size_t n) const {
  std::vector<float> v(n * options_.dim);
  Fill(first, n, v.data());
  return v;
}

std::vector<float> SyntheticGenerator::Queries(uint64_t first, size_t n) const {
  std::vector<float> v(n * options_.dim);
  FillStream(2, first, n, v.data());
  return v;
}

LabelledSyntheticGenerator::LabelledSyntheticGenerator(const LabelledSyntheticOptions& options)
    : options_(options) {
  const uint32_t dim = options_.dim;
  options_.classes = std::max(1u, options_.classes);
  options_.modes = std::max(1u, options_.modes);
  options_.hard_classes = std::min(options_.hard_classes, options_.classes) / 2 * 2;
  scale_ = Scales(dim, options_.mode, options_.decay);
  const uint32_t modes = options_.modes;
  centers_.resize(size_t{options_.classes} * modes * dim);
  Normal rng(Mix(options_.seed, 0x9fb21c651e98df25ull));
  for (uint32_t c = 0; c < options_.classes; ++c) {
    for (uint32_t m = 0; m < modes; ++m) {
      float* center = centers_.data() + (size_t{c} * modes + m) * dim;
      // The second class of a hard pair copies its partner's prefix.
      const bool shares = c < options_.hard_classes && c % 2 == 1;
      const float* partner = centers_.data() + (size_t{c - 1} * modes + m) * dim;
      for (uint32_t d = 0; d < dim; ++d) {
        const float fresh = rng.Next() * scale_[d];
        center[d] = shares && d < options_.shared_dims ? partner[d] : fresh;
      }
    }
  }
}

void LabelledSyntheticGenerator::FillStream(uint64_t stream, uint64_t first, size_t n, float* out,
                                            int64_t* labels) const {
  const uint32_t dim = options_.dim;
  for (size_t i = 0; i < n; ++i) {
    Normal rng(Mix(Mix(options_.seed, stream), first + i));
    const uint64_t c = rng.NextU64() % options_.classes;
    const uint64_t m = rng.NextU64() % options_.modes;
    const double u = 0.5 + static_cast<double>(rng.NextU64() >> 11) * 0x1.0p-53;
    const float noise = static_cast<float>(options_.noise * u);
    const float* center = centers_.data() + (c * options_.modes + m) * dim;
    float* row = out + i * dim;
    for (uint32_t d = 0; d < dim; ++d) row[d] = center[d] + noise * scale_[d] * rng.Next();
    labels[i] = static_cast<int64_t>(c);
  }
}

void LabelledSyntheticGenerator::Fill(uint64_t first, size_t n, float* out, int64_t* labels) const {
  FillStream(1, first, n, out, labels);
}

void LabelledSyntheticGenerator::Queries(uint64_t first, size_t n, float* out,
                                         int64_t* labels) const {
  FillStream(2, first, n, out, labels);
}

}  // namespace mrldb
