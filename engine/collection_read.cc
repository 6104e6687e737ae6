// Collection's row reads by id and by filter: Get, Find, and the vector prefix of a row.
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "engine/collection.h"
#include "engine/row_blocks.h"
#include "engine/filter_eval.h"

namespace mrldb {

Result<std::vector<Record>> Collection::Find(const FindOptions& options) const {
  if (options.vector_dims > spec().dim) {
    return Status::InvalidArgument(fmt::format("vector_dims {} exceeds the dimension {}",
                                               options.vector_dims, spec().dim));
  }
  if (options.ids) {
    for (const Key& id : *options.ids) MRLDB_RETURN_IF_ERROR(CheckKeyType(id, "find"));
  }
  // A scan or a filter reads every row's attributes: they must be loaded. A point read by ids
  // finds them in RocksDB until then, with no write of its ids in flight (as GetLoading).
  if (options.filter || !options.ids) MRLDB_RETURN_IF_ERROR(WaitForRows());
  std::unique_lock<std::mutex> wl;
  if (rows_loading_) {
    wl = std::unique_lock(write_mu_);
    std::vector<const Key*> ids;
    for (const Key& id : *options.ids) ids.push_back(&id);
    WaitForIds(wl, ids);
  }
  std::shared_lock lock(mu_);
  if (!rows_loading_ && wl.owns_lock()) wl.unlock();
  std::optional<BoundFilter> bound;
  if (options.filter) {
    MRLDB_ASSIGN_OR_RETURN(BoundFilter b, BoundFilter::Bind(*options.filter, spec()));
    bound = std::move(b);
  }
  // A point read: the ids' rows, ascending (insertion order, as a scan delivers them).
  std::vector<uint64_t> rows;
  if (options.ids) {
    for (const Key& id : *options.ids) {
      MRLDB_ASSIGN_OR_RETURN(std::optional<uint64_t> row, LookupLoading(id));
      if (row) rows.push_back(*row);
    }
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  }
  const uint64_t candidates = options.ids ? rows.size() : next_row_;
  std::vector<Record> out;
  uint64_t skipped = 0;
  for (uint64_t i = 0; i < candidates; ++i) {
    const uint64_t row = options.ids ? rows[i] : i;
    if (!live_[row] || (bound && !bound->Matches(attrs_, keys_, row))) continue;
    if (skipped++ < options.offset) continue;
    if (options.limit && out.size() >= options.limit) break;
    Record r;
    if (rows_loading_ && row < rows_at_open_) {  // ids only (a filter or a scan waited)
      std::vector<Key> keys;
      std::vector<std::vector<Value>> attrs;
      MRLDB_RETURN_IF_ERROR(RecordsLoading(std::span<const uint64_t>(&row, 1), &keys, &attrs));
      r.id = std::move(keys[0]);
      r.attributes = std::move(attrs[0]);
    } else {
      r.id = keys_.Get(row);
      for (const auto& col : attrs_) r.attributes.push_back(col[row]);
    }
    MRLDB_ASSIGN_OR_RETURN(r.vector, RowPrefix(row, options.vector_dims));
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<float>> Collection::RowPrefix(uint64_t row, uint32_t dims) const {
  std::vector<float> v(dims);
  if (dims == 0) return v;
  const size_t nblocks = ladder_.BlocksCovering(dims);
  thread_local RowBlocks blocks;
  thread_local uint64_t one;
  one = row;
  MRLDB_RETURN_IF_ERROR(blocks.Fetch(cache_, Storage(), std::span<const uint64_t>(&one, 1), 0,
                                     nblocks, nullptr));
  for (size_t b = 0; b < nblocks; ++b) {
    const uint32_t len = std::min(dims, ladder_.end(b)) - ladder_.begin(b);
    std::memcpy(v.data() + ladder_.begin(b), blocks.Row(0, b), len * sizeof(float));
  }
  return v;
}

Result<Record> Collection::Get(const Key& id, uint32_t dims) const {
  MRLDB_RETURN_IF_ERROR(CheckKeyType(id, "get"));
  const CollectionSpec& s = spec();
  if (dims == 0) dims = s.dim;
  if (dims > s.dim) {
    return Status::InvalidArgument(fmt::format("dims {} exceeds the dimension {} of '{}'", dims,
                                               s.dim, s.name));
  }
  // Once loaded, the rows stay loaded.
  return rows_loading_ ? GetLoading(id, dims) : GetLoaded(id, dims);
}

Result<Record> Collection::GetLoaded(const Key& id, uint32_t dims) const {
  const CollectionSpec& s = spec();
  std::shared_lock lock(mu_);
  const uint64_t row = keys_.Find(id);
  if (row == RowKeys::kNoRow) {
    return Status::NotFound(fmt::format("id {} not found in collection '{}'", KeyToString(id),
                                        s.name));
  }
  Record r;
  r.id = id;
  MRLDB_ASSIGN_OR_RETURN(r.vector, RowPrefix(row, dims));
  for (const auto& col : attrs_) r.attributes.push_back(col[row]);
  return r;
}

}  // namespace mrldb
