// Opening a collection in seconds (docs/architecture.md, "Open in seconds"): Load reads
// metadata and the dead rows only; the saved HNSW graph and the ids and attributes of the rows
// stored at open load on the background loader (LoadGraph, LoadRows), and until they are
// installed point reads and writes find ids in RocksDB and searches name their hits from it.
#include <algorithm>

#include <fmt/format.h>

#include "engine/collection.h"
#include "engine/prefix_index.h"
#include "storage/key_format.h"
#include "storage/row_codec.h"
#include "storage/vector_segments.h"

namespace mrldb {

Status Collection::Load() {
  std::unique_lock lock(mu_);
  const uint32_t cid = desc_.cid;
  std::string alloc;
  Status st = kv_->Get(storage::Cf::kRows, storage::AllocatorKey(cid), &alloc);
  if (st.ok()) {
    if (alloc.size() != 8) return Status::Corruption("row allocator record is not 8 bytes");
    next_row_ = storage::DecodeFixed64(alloc.data());
  } else if (!st.IsNotFound()) {
    return st;
  }
  std::string vacuumed;
  st = kv_->Get(storage::Cf::kRows, storage::VacuumRecordKey(cid), &vacuumed);
  if (st.ok()) {
    if (vacuumed.size() != 8) return Status::Corruption("vacuum record is not 8 bytes");
    vacuumed_dead_ = storage::DecodeFixed64(vacuumed.data());
  } else if (!st.IsNotFound()) {
    return st;
  }
  // Liveness: every row below the allocator is stored live ('r') or dead ('d', in the same
  // write that removed its record), so the tombstones alone give it.
  live_.assign(next_row_, 1);
  live_rows_ = next_row_;
  std::vector<uint64_t> dead;
  MRLDB_RETURN_IF_ERROR(storage::LoadTombstones(*kv_, cid, &dead));
  for (uint64_t row : dead) {
    if (row >= next_row_) {
      return Status::Corruption(fmt::format("collection '{}': tombstone of row {} beyond allocator {}",
                                            spec().name, row, next_row_));
    }
    if (live_[row]) {
      live_[row] = 0;
      --live_rows_;
    }
  }
  {
    // The last row record lies below the allocator (one seek; LoadRows checks the others).
    const std::string prefix = storage::CollectionPrefix(storage::kTagRow, cid);
    auto it = kv_->NewIterator(storage::Cf::kRows, prefix, storage::PrefixSuccessor(prefix));
    it->get().SeekToLast();
    if (it->get().Valid()) {
      rocksdb::Slice k = it->get().key();
      if (k.size() != prefix.size() + 8) return Status::Corruption("malformed row key");
      const uint64_t row = storage::DecodeBigEndian64(k.data() + prefix.size());
      if (row >= next_row_) {
        return Status::Corruption(fmt::format("collection '{}': row {} beyond allocator {}",
                                              spec().name, row, next_row_));
      }
    }
    MRLDB_RETURN_IF_ERROR(storage::FromRocks(it->get().status(), "loading rows"));
  }
  rows_at_open_ = next_row_;
  rows_loading_ = live_rows_ > 0;
  {
    std::lock_guard l(rows_wait_mu_);
    rows_done_ = !rows_loading_;
  }
  if (!rows_loading_) {  // no live row: nothing to load, the columns are complete as they are
    keys_.Resize(next_row_);
    for (auto& col : attrs_) col.assign(next_row_, Value{});
  }
  cache_.Reserve(next_row_);

  // Vectors: only the partial last row groups, which the next write rewrites. The resident
  // blocks load in the background (LoadBlocks); searches read storage until then.
  MRLDB_RETURN_IF_ERROR(storage::LoadGroupTails(*kv_, cid, ladder_, next_row_, &tails_));

  // The HNSW graph: a saved one loads in the background (LoadGraph); stage 0 scans meanwhile.
  if (PrefixIndex::Saved(index_path_, &graph_file_bytes_)) {
    graph_loading_ = true;
    return Status::Ok();
  }
  if (live_rows_ == 0) return Status::Ok();
  return RebuildIndex("no saved graph");
}

Status Collection::LoadGraph() {
  uint64_t generation;
  CollectionSpec s;
  {
    std::shared_lock lock(mu_);
    if (!graph_loading_) return Status::Ok();
    generation = graph_generation_;
    s = desc_.spec;
  }
  auto g = std::make_shared<PrefixIndex>(s.metric, s.index_dim, s.hnsw);
  uint64_t covered = 0;
  Status st = g->Load(index_path_, &covered);  // the long part: no lock held
  // No publish from here on (fill_mu_): live_ and next_row_ stay as the reconciliation reads
  // them; searches go on under mu_ shared until the swap.
  std::lock_guard fill_lock(fill_mu_);
  uint64_t upto = 0;
  if (st.ok()) {
    std::shared_lock lock(mu_);
    if (!graph_loading_ || generation != graph_generation_) return Status::Ok();  // rebuilt
    st = ReconcileIndex(g.get(), covered, &upto);
  }
  std::unique_lock lock(mu_);
  if (!graph_loading_ || generation != graph_generation_) return Status::Ok();
  if (!st.ok()) {
    if (st.IsNotFound() && live_rows_ == 0) {  // removed meanwhile, and nothing to index
      graph_loading_ = false;
      return Status::Ok();
    }
    return RebuildIndex(st.message());  // logged there; clears graph_loading_
  }
  {
    std::unique_lock graph_lock(graph_mu_);
    graph_ = std::move(g);
    ++graph_generation_;
    indexed_upto_ = upto;
    graph_loading_ = false;
  }
  // Rows written after the save are replayed by the background indexer; searches scan them
  // until then.
  return ReserveGraph();
}

Status Collection::ReconcileIndex(PrefixIndex* g, uint64_t covered, uint64_t* upto_out) {
  if (covered > next_row_) {
    return Status::Corruption(fmt::format("saved graph covers {} rows, storage has only {}",
                                          covered, next_row_));
  }
  // Row ids are never reused: a row dead in storage stays dead, so the graph may only lag.
  uint64_t upto = covered;
  for (uint64_t row = 0; row < next_row_; ++row) {
    if (row >= covered) {
      // Rows of an indexer step that ended while the save began may be in the graph already.
      const bool in_graph = g->Contains(row);
      if (in_graph && !live_[row] && !g->IsDeleted(row)) g->MarkDeleted(row);
      if (upto == row && (in_graph || !live_[row])) upto = row + 1;
      continue;
    }
    const bool in_graph = g->Contains(row);
    if (live_[row]) {
      if (!in_graph || g->IsDeleted(row)) {
        return Status::Corruption(fmt::format("live row {} is missing from the saved graph", row));
      }
    } else if (in_graph && !g->IsDeleted(row)) {
      g->MarkDeleted(row);
      graph_dirty_ = true;
    }
  }
  *upto_out = upto;
  return Status::Ok();
}

Status Collection::DecodeRecord(const storage::CollectionDescriptor& d, std::string_view bytes,
                                Key* key, std::vector<Value>* attrs) {
  thread_local std::vector<Value> values;
  MRLDB_RETURN_IF_ERROR(storage::DecodeRow(bytes, key, &values));
  // A record written before an ADD COLUMN is shorter: the added columns read NULL.
  if (values.size() > d.RowWidth()) {
    return Status::Corruption(fmt::format("collection '{}': a row has {} attributes, not {}",
                                          d.spec.name, values.size(), d.RowWidth()));
  }
  const size_t ncols = d.spec.attributes.size();
  attrs->assign(ncols, Value{});
  for (size_t c = 0; c < ncols; ++c) {
    const uint32_t slot = d.Slot(c);
    if (slot < values.size()) (*attrs)[c] = std::move(values[slot]);
  }
  return Status::Ok();
}

Status Collection::LoadRows(const std::atomic<bool>& stop) {
  if (RowsLoaded()) return Status::Ok();
  // Nothing below changes the columns: AlterColumns waits for the rows.
  const uint64_t n0 = rows_at_open_;
  storage::CollectionDescriptor d;
  uint64_t live = 0;
  {
    std::shared_lock lock(mu_);
    d = desc_;
    live = live_rows_;
  }
  const size_t ncols = d.spec.attributes.size();
  RowKeys keys(d.spec.id_type);
  keys.Resize(n0);
  std::vector<std::vector<Value>> attrs(ncols, std::vector<Value>(n0));
  keys.Reserve(live);
  const std::string prefix = storage::CollectionPrefix(storage::kTagRow, desc_.cid);
  Status st;
  {
    auto it = kv_->NewIterator(storage::Cf::kRows, prefix,
                               storage::RowKey(storage::kTagRow, desc_.cid, n0), /*fill_cache=*/false);
    std::vector<Value> values;
    uint64_t count = 0;
    for (it->SeekToFirst(); it->get().Valid(); it->get().Next()) {
      if (++count % 16384 == 0 && stop) return Status::Ok();  // the database closes
      rocksdb::Slice k = it->get().key(), v = it->get().value();
      if (k.size() != prefix.size() + 8) {
        st = Status::Corruption("malformed row key");
        break;
      }
      const uint64_t row = storage::DecodeBigEndian64(k.data() + prefix.size());
      Key key;
      st = DecodeRecord(d, std::string_view(v.data(), v.size()), &key, &values);
      if (!st.ok()) break;
      for (size_t c = 0; c < ncols; ++c) attrs[c][row] = std::move(values[c]);
      keys.Assign(row, key);
    }
    if (st.ok()) st = storage::FromRocks(it->get().status(), "loading rows");
  }
  if (!st.ok()) {
    if (log_) {
      log_(fmt::format("collection '{}': loading ids and attributes failed; lookups by id read "
                       "storage, filters and scans fail: {}", spec().name, st.message()));
    }
    std::lock_guard l(rows_wait_mu_);
    rows_status_ = st;
    rows_done_ = true;
    rows_cv_.notify_all();
    return st;
  }
  {
    // Merge what was written since the open: the older rows that died (their records may have
    // been read before or after they died), then the rows written since, which keys_ maps.
    std::unique_lock lock(mu_);
    for (uint64_t row : died_while_loading_) {
      keys.UnmapRow(row);
      for (auto& col : attrs) col[row] = Value{};
    }
    keys.Resize(next_row_);
    for (uint64_t row = n0; row < keys_.rows() && row < next_row_; ++row) keys.Set(row, keys_.Get(row));
    keys_.ForEachMapped([&](uint64_t row) { keys.Map(row); });
    for (size_t c = 0; c < ncols; ++c) {
      attrs[c].resize(next_row_);
      for (uint64_t row = n0; row < attrs_[c].size() && row < next_row_; ++row) {
        attrs[c][row] = std::move(attrs_[c][row]);
      }
    }
    keys_.swap(keys);
    attrs_.swap(attrs);
    died_while_loading_ = {};
    rows_loading_ = false;
  }
  std::lock_guard l(rows_wait_mu_);
  rows_done_ = true;
  rows_cv_.notify_all();
  return Status::Ok();
}

bool Collection::RowsLoaded() const {
  std::lock_guard l(rows_wait_mu_);
  return rows_done_;
}

Status Collection::WaitForRows() const {
  std::unique_lock l(rows_wait_mu_);
  rows_cv_.wait(l, [&] { return rows_done_; });
  return rows_status_;
}

void Collection::AbortLoading() {
  std::lock_guard l(rows_wait_mu_);
  if (rows_done_) return;
  rows_status_ = Status::Cancelled(fmt::format(
      "collection '{}': the database closed before its ids and attributes were loaded", spec().name));
  rows_done_ = true;
  rows_cv_.notify_all();
}

Result<std::optional<uint64_t>> Collection::LookupLoading(const Key& id) const {
  if (const uint64_t row = keys_.Find(id); row != RowKeys::kNoRow) return std::optional<uint64_t>(row);
  if (!rows_loading_) return std::optional<uint64_t>();
  std::string key = storage::CollectionPrefix(storage::kTagIdIndex, desc_.cid), value;
  storage::AppendKeyBytes(&key, id);
  Status st = kv_->Get(storage::Cf::kRows, key, &value);
  if (st.IsNotFound()) return std::optional<uint64_t>();
  MRLDB_RETURN_IF_ERROR(st);
  if (value.size() != 8) return Status::Corruption("id index entry is not 8 bytes");
  const uint64_t row = storage::DecodeFixed64(value.data());
  // With no write of `id` in flight, the index names its live row; a row written since the
  // open is in keys_ already.
  if (row >= rows_at_open_ || row >= next_row_ || !live_[row]) return std::optional<uint64_t>();
  return std::optional<uint64_t>(row);
}

Status Collection::RecordsLoading(std::span<const uint64_t> rows, std::vector<Key>* keys,
                                  std::vector<std::vector<Value>>* attrs) const {
  std::vector<std::string> names(rows.size());
  std::vector<size_t> order(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    names[i] = storage::RowKey(storage::kTagRow, desc_.cid, rows[i]);
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rows[a] < rows[b]; });
  std::vector<rocksdb::Slice> sorted;
  for (size_t i : order) sorted.push_back(names[i]);
  std::vector<rocksdb::PinnableSlice> values;
  MRLDB_RETURN_IF_ERROR(kv_->MultiGet(storage::Cf::kRows, sorted, &values, nullptr));
  keys->resize(rows.size());
  attrs->resize(rows.size());
  for (size_t j = 0; j < order.size(); ++j) {
    const size_t i = order[j];
    std::string_view bytes(values[j].data(), values[j].size());
    std::string deleting;
    if (bytes.empty()) {
      // Deleted in RocksDB by a commit not yet published (live_ still says live).
      std::lock_guard l(deleting_mu_);
      auto it = deleting_records_.find(rows[i]);
      if (it == deleting_records_.end()) {
        return Status::Corruption(fmt::format("collection '{}': live row {} has no stored record",
                                              spec().name, rows[i]));
      }
      deleting = it->second;
      bytes = deleting;
    }
    MRLDB_RETURN_IF_ERROR(DecodeRecord(desc_, bytes, &(*keys)[i], &(*attrs)[i]));
  }
  return Status::Ok();
}

Result<Record> Collection::GetLoading(const Key& id, uint32_t dims) const {
  // No write of `id` in flight, so RocksDB's id index and the row's record are settled.
  std::unique_lock wl(write_mu_);
  WaitForIds(wl, {&id});
  std::shared_lock lock(mu_);
  MRLDB_ASSIGN_OR_RETURN(std::optional<uint64_t> row, LookupLoading(id));
  if (!row) {
    return Status::NotFound(fmt::format("id {} not found in collection '{}'", KeyToString(id),
                                        spec().name));
  }
  Record r;
  r.id = id;
  if (*row >= rows_at_open_ || !rows_loading_) {
    for (const auto& col : attrs_) r.attributes.push_back(col[*row]);
  } else {
    std::vector<Key> keys;
    std::vector<std::vector<Value>> attrs;
    MRLDB_RETURN_IF_ERROR(RecordsLoading(std::span<const uint64_t>(&*row, 1), &keys, &attrs));
    r.attributes = std::move(attrs[0]);
  }
  wl.unlock();  // the vector is read without holding writers up
  MRLDB_ASSIGN_OR_RETURN(r.vector, RowPrefix(*row, dims));
  return r;
}

}  // namespace mrldb
