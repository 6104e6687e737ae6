// RowBlocks: the blocks of chosen rows as a re-rank or a subset scan reads them: resident blocks
// straight from the column cache, the others from storage with one batched read (MultiGet in key
// order) per block into per-thread scratch (docs/architecture.md, "Memory budget").
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/column_cache.h"
#include "mrldb/status.h"
#include "storage/kv_store.h"

namespace mrldb {

// Where a collection's non-resident blocks are read from.
struct BlockStorage {
  const storage::KvStore* kv = nullptr;
  uint32_t cid = 0;
};

class RowBlocks {
 public:
  // Makes blocks [b_from, b_to) of `rows` readable through Row and SqNorm, reading the blocks at
  // or above cache.resident() from `storage`. `rows` and `cache` must outlive the reads.
  // `io` (may be null) adds what the reads cost. Errors: the storage read's.
  Status Fetch(const ColumnCache& cache, const BlockStorage& storage,
               std::span<const uint64_t> rows, size_t b_from, size_t b_to,
               storage::ReadCounters* io);
  // Block b of rows[i]: width(b) values. REQUIRES b_from <= b < b_to, or b resident.
  const float* Row(size_t i, size_t b) const {
    return b < resident_ ? cache_->Row(b, rows_[i])
                         : values_[b].data() + i * cache_->ladder().width(b);
  }
  // ||rows[i][0:g(level))||^2, under the same condition.
  float SqNorm(size_t i, size_t level) const {
    return level < resident_ ? cache_->SqNorm(level, rows_[i]) : norms_[level][i];
  }

 private:
  const ColumnCache* cache_ = nullptr;
  size_t resident_ = 0;
  std::span<const uint64_t> rows_;
  std::vector<std::vector<float>> values_, norms_;  // [block], blocks read from storage
};

}  // namespace mrldb
