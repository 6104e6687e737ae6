#include "engine/column_cache.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "engine/distance.h"

namespace mrldb {

void ColumnCache::AlignedFree::operator()(float* p) const { std::free(p); }

void ColumnCache::Reserve(uint64_t rows) {
  const size_t need = (rows + kChunkRows - 1) / kChunkRows;
  if (need <= chunks_) return;
  for (size_t b = 0; b < ladder_.blocks(); ++b) {
    const size_t bytes = kChunkRows * ladder_.width(b) * sizeof(float);
    for (size_t c = chunks_; c < need; ++c) {
      void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
      if (p == nullptr) throw std::bad_alloc();
      // Not zeroed: rows past the allocator are never read, and each row is written before
      // the allocator moves past it.
      blocks_[b].emplace_back(static_cast<float*>(p));
    }
  }
  chunks_ = need;
  for (auto& n : norms_) n.resize(chunks_ * kChunkRows, 0.0f);
}

void ColumnCache::SetRow(uint64_t row, const float* v) {
  for (size_t b = 0; b < ladder_.blocks(); ++b) {
    std::memcpy(const_cast<float*>(Row(b, row)), v + ladder_.begin(b),
                ladder_.width(b) * sizeof(float));
  }
  UpdateNorms(row, 1);
}

void ColumnCache::SetBlockRows(size_t b, uint64_t first, size_t n, const char* bytes) {
  const size_t row_bytes = ladder_.width(b) * sizeof(float);
  size_t done = 0;
  while (done < n) {
    const uint64_t row = first + done;
    const size_t in_chunk = std::min<size_t>(n - done, kChunkRows - row % kChunkRows);
    std::memcpy(const_cast<float*>(Row(b, row)), bytes + done * row_bytes, in_chunk * row_bytes);
    done += in_chunk;
  }
}

void ColumnCache::UpdateNorms(uint64_t first, size_t n) {
  const auto& k = Kernels();
  for (uint64_t row = first; row < first + n; ++row) {
    float acc = 0;
    for (size_t b = 0; b < ladder_.blocks(); ++b) {
      const float* x = Row(b, row);
      acc += k.dot(x, x, ladder_.width(b));
      norms_[b][row] = acc;
    }
  }
}

size_t ColumnCache::MemoryBytes() const {
  size_t bytes = 0;
  for (size_t b = 0; b < ladder_.blocks(); ++b) {
    bytes += chunks_ * kChunkRows * ladder_.width(b) * sizeof(float);
  }
  return bytes + norms_.size() * chunks_ * kChunkRows * sizeof(float);
}

}  // namespace mrldb
