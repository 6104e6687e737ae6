// Ladder: the Matryoshka granularities g1 < ... < gk = D of a collection, seen as column
// blocks. Block b covers dims [begin(b), end(b)) with begin(0) = 0 and end(b) = g(b+1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mrldb::storage {

class Ladder {
 public:
  Ladder() = default;
  // REQUIRES: granularities strictly increasing, non-empty (CollectionSpec::Validate checks).
  explicit Ladder(std::vector<uint32_t> granularities) : g_(std::move(granularities)) {}

  size_t blocks() const { return g_.size(); }
  uint32_t dim() const { return g_.empty() ? 0 : g_.back(); }
  uint32_t begin(size_t b) const { return b == 0 ? 0 : g_[b - 1]; }
  uint32_t end(size_t b) const { return g_[b]; }
  uint32_t width(size_t b) const { return end(b) - begin(b); }
  uint32_t widest() const {
    uint32_t w = 0;
    for (size_t b = 0; b < blocks(); ++b) w = w > width(b) ? w : width(b);
    return w;
  }
  // Number of leading blocks needed to cover dims [0, dims). REQUIRES: 1 <= dims <= dim().
  size_t BlocksCovering(uint32_t dims) const {
    size_t b = 0;
    while (end(b) < dims) ++b;
    return b + 1;
  }
  // True when `dims` is a granularity of the ladder.
  bool IsGranularity(uint32_t dims) const {
    for (uint32_t g : g_) {
      if (g == dims) return true;
    }
    return false;
  }
  const std::vector<uint32_t>& granularities() const { return g_; }

 private:
  std::vector<uint32_t> g_;
};

}  // namespace mrldb::storage
