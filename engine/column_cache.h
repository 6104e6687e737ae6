// ColumnCache: the in-memory copy of a collection's vector blocks, the hot path of every search.
// Block b is a column of fixed-size chunks of kChunkRows rows, row-major within the chunk
// (rows x width(b) float32, 64-byte aligned). Per granularity it also keeps every row's squared
// prefix norm ||x[0:g)||^2, so that cosine renormalizes each prefix without re-reading it.
//
// Thread safety: none; the owning Collection guards it with its reader/writer lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "storage/ladder.h"

namespace mrldb {

class ColumnCache {
 public:
  static constexpr size_t kChunkRows = 16384;

  explicit ColumnCache(storage::Ladder ladder) : ladder_(std::move(ladder)) {
    blocks_.resize(ladder_.blocks());
    norms_.resize(ladder_.blocks());
  }

  // Makes rows [0, rows) addressable. New rows are uninitialized until written.
  void Reserve(uint64_t rows);
  uint64_t capacity() const { return chunks_ * kChunkRows; }
  size_t chunks() const { return chunks_; }

  // Writes the full vector of `row` (ladder.dim() values) and its prefix norms.
  void SetRow(uint64_t row, const float* v);
  // Copies n rows of block b starting at `first` from little-endian float32 bytes (maybe
  // unaligned). Call UpdateNorms for the rows afterwards.
  void SetBlockRows(size_t b, uint64_t first, size_t n, const char* bytes);
  void UpdateNorms(uint64_t first, size_t n);

  // Rows of block b in chunk c: kChunkRows x width(b).
  const float* Chunk(size_t b, size_t c) const { return blocks_[b][c].get(); }
  const float* Row(size_t b, uint64_t row) const {
    return blocks_[b][row / kChunkRows].get() + (row % kChunkRows) * ladder_.width(b);
  }
  // ||x[0:g(level)]||^2.
  float SqNorm(size_t level, uint64_t row) const { return norms_[level][row]; }
  const float* SqNorms(size_t level) const { return norms_[level].data(); }

  const storage::Ladder& ladder() const { return ladder_; }
  size_t MemoryBytes() const;

 private:
  struct AlignedFree {
    void operator()(float* p) const;
  };
  using ChunkPtr = std::unique_ptr<float[], AlignedFree>;

  storage::Ladder ladder_;
  size_t chunks_ = 0;
  std::vector<std::vector<ChunkPtr>> blocks_;  // [block][chunk]
  std::vector<std::vector<float>> norms_;      // [level][row]
};

}  // namespace mrldb
