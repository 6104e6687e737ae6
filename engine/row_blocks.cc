#include "engine/row_blocks.h"

#include "storage/vector_segments.h"

namespace mrldb {

Status RowBlocks::Fetch(const ColumnCache& cache, const BlockStorage& storage,
                        std::span<const uint64_t> rows, size_t b_from, size_t b_to,
                        storage::ReadCounters* io) {
  const storage::Ladder& ladder = cache.ladder();
  cache_ = &cache;
  resident_ = cache.resident();
  rows_ = rows;
  if (values_.size() < ladder.blocks()) {
    values_.resize(ladder.blocks());
    norms_.resize(ladder.blocks());
  }
  for (size_t b = std::max(b_from, resident_); b < b_to; ++b) {
    values_[b].resize(rows.size() * ladder.width(b));
    norms_[b].resize(rows.size());
    MRLDB_RETURN_IF_ERROR(storage::ReadBlockRows(*storage.kv, storage.cid, ladder, b, rows,
                                                 values_[b].data(), norms_[b].data(), io));
  }
  return Status::Ok();
}

}  // namespace mrldb
