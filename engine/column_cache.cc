#include "engine/column_cache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "engine/distance.h"

namespace mrldb {

void ColumnCache::AlignedFree::operator()(float* p) const { std::free(p); }

void ColumnCache::PrefixSqNorms(const storage::Ladder& ladder, const float* v, float* out) {
  const auto& k = Kernels();
  float acc = 0;
  for (size_t b = 0; b < ladder.blocks(); ++b) {
    const float* x = v + ladder.begin(b);
    acc += k.dot(x, x, ladder.width(b));
    out[b] = acc;
  }
}

void ColumnCache::Allocate(size_t b, size_t from_chunk) {
  const size_t bytes = kChunkRows * ladder_.width(b) * sizeof(float);
  for (size_t c = from_chunk; c < chunks_; ++c) {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p == nullptr) throw std::bad_alloc();
    // Not zeroed: rows past the allocator are never read, and each row is written before
    // the allocator moves past it.
    blocks_[b].emplace_back(static_cast<float*>(p));
  }
  norms_[b].resize(chunks_ * kChunkRows, 0.0f);
}

void ColumnCache::Reserve(uint64_t rows) {
  const size_t need = (rows + kChunkRows - 1) / kChunkRows;
  if (need <= chunks_) return;
  const size_t old = chunks_;
  chunks_ = need;
  for (size_t b = 0; b < held_; ++b) Allocate(b, old);
}

void ColumnCache::Hold(size_t blocks) {
  for (size_t b = held_; b < blocks; ++b) Allocate(b, 0);
  held_ = std::max(held_, blocks);
}

void ColumnCache::MarkResident(size_t blocks) { resident_ = std::max(resident_, blocks); }

void ColumnCache::Release(size_t blocks) {
  for (size_t b = blocks; b < held_; ++b) {
    std::vector<ChunkPtr>().swap(blocks_[b]);
    std::vector<float>().swap(norms_[b]);
  }
  held_ = std::min(held_, blocks);
  resident_ = std::min(resident_, blocks);
}

void ColumnCache::SetRow(uint64_t row, const float* v, const float* sqnorms) {
  for (size_t b = 0; b < held_; ++b) {
    std::memcpy(const_cast<float*>(Row(b, row)), v + ladder_.begin(b),
                ladder_.width(b) * sizeof(float));
    norms_[b][row] = sqnorms[b];
  }
}

void ColumnCache::SetBlockRows(size_t b, uint64_t first, size_t n, const float* values,
                               const float* sqnorms) {
  const size_t width = ladder_.width(b);
  size_t done = 0;
  while (done < n) {
    const uint64_t row = first + done;
    const size_t in_chunk = std::min<size_t>(n - done, kChunkRows - row % kChunkRows);
    std::memcpy(const_cast<float*>(Row(b, row)), values + done * width,
                in_chunk * width * sizeof(float));
    done += in_chunk;
  }
  std::memcpy(norms_[b].data() + first, sqnorms, n * sizeof(float));
}

size_t ColumnCache::BytesFor(const storage::Ladder& ladder, size_t blocks, uint64_t rows) {
  const uint64_t padded = (rows + kChunkRows - 1) / kChunkRows * kChunkRows;
  size_t bytes = 0;
  for (size_t b = 0; b < blocks; ++b) bytes += padded * (ladder.width(b) + 1) * sizeof(float);
  return bytes;
}

size_t ColumnCache::MemoryBytes() const { return BytesFor(ladder_, held_, capacity()); }

}  // namespace mrldb
