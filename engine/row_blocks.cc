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
  const size_t from = std::max(b_from, resident_);
  if (from >= b_to) return Status::Ok();
  thread_local std::vector<float*> out, sq;
  out.clear();
  sq.clear();
  for (size_t b = from; b < b_to; ++b) {
    values_[b].resize(rows.size() * ladder.width(b));
    norms_[b].resize(rows.size());
    out.push_back(values_[b].data());
    sq.push_back(norms_[b].data());
  }
  MRLDB_RETURN_IF_ERROR(storage::ReadRowBlocks(*storage.kv, storage.cid, ladder, from, b_to, rows,
                                               out.data(), sq.data(), io));
  return Status::Ok();
}

}  // namespace mrldb
