// ColumnCache: the in-memory copy of a collection's resident vector blocks, the hot path of
// every search. Block b is a column of fixed-size chunks of kChunkRows rows, row-major within the
// chunk (rows x width(b) float32, 64-byte aligned). Per granularity it also keeps every row's
// squared prefix norm ||x[0:g)||^2, so that cosine renormalizes each prefix without re-reading it.
//
// Residency is a prefix of the ladder (docs/architecture.md, "Memory budget"): blocks
// [0, held()) have memory and every new row is written to them; blocks [0, resident()) are
// complete (every published row is in them), so searches read them here and read the blocks
// above from storage. A block between resident() and held() is being loaded in the background.
//
// Thread safety: none; the owning Collection guards it with its reader/writer lock (and its
// fill lock for held(): see Collection).
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

  // The squared prefix norms of one vector: out[b] = ||v[0:g(b))||^2 (ladder.blocks() values),
  // summed block by block in float (the stored norms and the cache's are these same numbers).
  static void PrefixSqNorms(const storage::Ladder& ladder, const float* v, float* out);

  // Makes rows [0, rows) addressable in the held blocks. New rows are uninitialized until
  // written.
  void Reserve(uint64_t rows);
  uint64_t capacity() const { return chunks_ * kChunkRows; }
  size_t chunks() const { return chunks_; }

  size_t held() const { return held_; }
  size_t resident() const { return resident_; }
  // Gives blocks [held(), blocks) memory for the reserved rows (uninitialized).
  void Hold(size_t blocks);
  // Blocks [0, blocks) are complete. REQUIRES blocks <= held().
  void MarkResident(size_t blocks);
  // Frees blocks [blocks, held()): held() and resident() become at most `blocks`.
  void Release(size_t blocks);

  // Writes the held blocks of `row` from its full vector (ladder.dim() values) and their prefix
  // norms (`sqnorms`: PrefixSqNorms of v).
  void SetRow(uint64_t row, const float* v, const float* sqnorms);
  // Copies n rows of held block b starting at `first`: n x width(b) values and their n prefix
  // norms at level b.
  void SetBlockRows(size_t b, uint64_t first, size_t n, const float* values, const float* sqnorms);

  // Rows of block b in chunk c: kChunkRows x width(b). REQUIRE b < held().
  const float* Chunk(size_t b, size_t c) const { return blocks_[b][c].get(); }
  const float* Row(size_t b, uint64_t row) const {
    return blocks_[b][row / kChunkRows].get() + (row % kChunkRows) * ladder_.width(b);
  }
  // ||x[0:g(level)]||^2.
  float SqNorm(size_t level, uint64_t row) const { return norms_[level][row]; }
  const float* SqNorms(size_t level) const { return norms_[level].data(); }

  const storage::Ladder& ladder() const { return ladder_; }
  // Bytes allocated for the held blocks and their norms.
  size_t MemoryBytes() const;
  // What blocks [0, blocks) take at `rows` rows (values and norms, whole chunks).
  static size_t BytesFor(const storage::Ladder& ladder, size_t blocks, uint64_t rows);

 private:
  struct AlignedFree {
    void operator()(float* p) const;
  };
  using ChunkPtr = std::unique_ptr<float[], AlignedFree>;
  void Allocate(size_t b, size_t from_chunk);

  storage::Ladder ladder_;
  size_t chunks_ = 0;
  size_t held_ = 0, resident_ = 0;
  std::vector<std::vector<ChunkPtr>> blocks_;  // [block][chunk], blocks below held_
  std::vector<std::vector<float>> norms_;      // [level][row], levels below held_
};

}  // namespace mrldb
