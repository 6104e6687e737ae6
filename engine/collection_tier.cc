// Residency of a collection's vector blocks: which blocks the column cache holds, the
// background load of the resident ones, and the memory the collection holds
// (docs/architecture.md, "Memory budget").
#include <algorithm>

#include <fmt/format.h>

#include "engine/collection.h"
#include "engine/prefix_index.h"

namespace mrldb {

void Collection::SetWantedBlocks(size_t blocks) {
  blocks = std::clamp(blocks, IndexBlocks(), ladder_.blocks());
  if (wanted_blocks_ == blocks) return;
  ++load_generation_;  // a load in progress stops at its next chunk
  std::lock_guard load_lock(load_mu_);
  std::lock_guard fill_lock(fill_mu_);
  std::unique_lock lock(mu_);
  wanted_blocks_ = blocks;
  if (next_row_ == 0 && cache_.held() < blocks) {
    // No row to load (a new or empty collection): resident at once.
    cache_.Hold(blocks);
    cache_.MarkResident(blocks);
    return;
  }
  if (cache_.held() <= blocks) return;
  cache_.Release(blocks);
  // The device copy was made from blocks that are gone; GPU searches wait until they are back.
  std::lock_guard device_lock(device_mu_);
  device_.reset();
}

bool Collection::Loaded() const {
  if (graph_loading_) return false;
  {
    std::lock_guard l(rows_wait_mu_);
    if (!rows_done_) return false;
  }
  std::shared_lock lock(mu_);
  return cache_.resident() >= wanted_blocks_ || load_failed_;
}

Status Collection::LoadBlocks(const std::atomic<bool>& stop) {
  std::lock_guard load_lock(load_mu_);
  if (load_failed_) return Status::Ok();  // reported once; the blocks stay in storage
  const uint64_t generation = load_generation_;
  size_t from, to;
  uint64_t rows;
  {
    // From here every published group is filled into blocks [from, to) by its leader; the rows
    // published before, [0, rows), are copied from storage below. Rows a load that stopped
    // early left behind are copied again.
    std::lock_guard fill_lock(fill_mu_);
    std::unique_lock lock(mu_);
    from = cache_.resident();
    to = wanted_blocks_;
    if (from >= to) return Status::Ok();
    cache_.Hold(to);
    rows = next_row_;
  }
  bool stopped = false;
  Status st = storage::ScanVectorRows(
      *kv_, desc_.cid, ladder_, from, to, rows, ColumnCache::kChunkRows,
      [&](const storage::RowsView& view) {
        if (stop || load_generation_ != generation) {
          stopped = true;
          return false;
        }
        // mu_ shared: a leader's Reserve may grow the chunk tables. No reader reads these
        // blocks (not resident) and no leader writes these rows (published).
        std::shared_lock lock(mu_);
        for (size_t b = from; b < to; ++b) {
          cache_.SetBlockRows(b, view.first_row, view.n, view.blocks[b], view.sqnorms[b]);
        }
        return true;
      },
      nullptr);
  if (!st.ok()) {
    load_failed_ = true;
    std::lock_guard fill_lock(fill_mu_);
    std::unique_lock lock(mu_);
    cache_.Release(from);
    if (log_) {
      log_(fmt::format("collection '{}': loading vector blocks {}..{} failed; searches read them "
                       "from storage: {}", spec().name, from + 1, to, st.message()));
    }
    return st;
  }
  if (stopped) return Status::Ok();
  std::unique_lock lock(mu_);
  cache_.MarkResident(to);
  return Status::Ok();
}

MemoryUse Collection::MemoryLocked() const {
  MemoryUse m;
  // Until the saved graph is loaded, its file's size stands for it (what it will take, about).
  m.graph_bytes = graph_loading_ ? graph_file_bytes_ : graph_->MemoryBytes();
  m.blocks_bytes = cache_.MemoryBytes();
  // Per row: its key and the id map's slots (RowKeys), liveness byte and attribute values by
  // row id. TEXT attribute bytes beyond the strings' inline buffer are not counted.
  uint64_t row_bytes = keys_.MemoryBytes() + live_.capacity();
  for (const auto& col : attrs_) row_bytes += col.capacity() * sizeof(Value);
  if (rows_loading_) {
    // The rows stored at open, not loaded yet, as they will be: key and slots, liveness,
    // attributes.
    const uint64_t row = RowKeys::BytesPerRow(spec().id_type) + 1 + attrs_.size() * sizeof(Value);
    row_bytes = std::max<uint64_t>(row_bytes, next_row_ * row);
  }
  m.row_state_bytes = row_bytes;
  m.rows = next_row_;
  m.blocks = static_cast<uint32_t>(ladder_.blocks());
  m.resident_blocks = static_cast<uint32_t>(cache_.resident());
  m.wanted_blocks = static_cast<uint32_t>(wanted_blocks_);
  return m;
}

MemoryUse Collection::Memory() const {
  std::shared_lock lock(mu_);
  std::shared_lock graph_lock(graph_mu_);
  return MemoryLocked();
}

}  // namespace mrldb
