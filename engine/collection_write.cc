// Collection's write path: validation, in-flight ids, the group commit queue and the publish
// step (see collection.h, "Thread safety", and docs/architecture.md, "Concurrency").
#include <fmt/format.h>

#include "engine/collection.h"
#include "engine/prefix_index.h"
#include "storage/key_format.h"
#include "storage/row_codec.h"
#include "storage/vector_segments.h"

namespace mrldb {

namespace {
// Largest batch one call accepts: rows, and bytes of vector data.
constexpr size_t kMaxBatchRows = 1u << 20;
constexpr size_t kMaxBatchVectorBytes = size_t{2} << 30;
// A leader adds queued batches to its group while the group stays within these; the first
// batch always goes (however large). Bigger groups only delay the followers' return.
constexpr size_t kMaxGroupRows = 1u << 16;
constexpr size_t kMaxGroupVectorBytes = size_t{64} << 20;
}  // namespace

struct Collection::PendingWrite {
  const InsertBatch* batch = nullptr;      // an insert or upsert; nullptr: a delete
  std::vector<std::vector<Value>> attrs;   // per batch row, converted to the column types
  std::vector<uint64_t> replaced;          // rows an upsert supersedes, or a delete removes
  std::vector<const Key*> ids;             // held in inflight_ids_ while queued
  bool sync = false;
  uint64_t first = 0;                      // the batch's first row (set by the leader)
  bool done = false;                       // GUARDED_BY(write_mu_)
  Status status;                           // GUARDED_BY(write_mu_) once done
};

size_t Collection::QueuedWritesForTesting() {
  std::lock_guard wl(write_mu_);
  return write_queue_.size();
}

void Collection::WaitForIds(std::unique_lock<std::mutex>& wl,
                            const std::vector<const Key*>& ids) const {
  write_cv_.wait(wl, [&] {
    if (inflight_ids_.empty()) return true;
    for (const Key* id : ids) {
      if (inflight_ids_.count(*id)) return false;
    }
    return true;
  });
}

Status Collection::Write(const InsertBatch& batch, bool upsert, bool sync) {
  std::shared_lock schema(schema_mu_);
  const CollectionSpec& s = spec();
  const size_t n = batch.size();
  if (n == 0) {
    return Status::InvalidArgument(fmt::format("empty batch for collection '{}'", s.name));
  }
  if (n > kMaxBatchRows || n * size_t{s.dim} * sizeof(float) > kMaxBatchVectorBytes) {
    return Status::InvalidArgument(fmt::format(
        "batch of {} rows exceeds the limit of {} rows and {} MiB of vectors per batch; split it",
        n, kMaxBatchRows, kMaxBatchVectorBytes >> 20));
  }
  // Everything that does not depend on stored rows is checked before taking any lock.
  PendingWrite w;
  w.batch = &batch;
  w.sync = sync;
  w.attrs.resize(n);
  w.ids.reserve(n);
  std::unordered_map<Key, size_t, KeyHash> in_batch;
  in_batch.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    MRLDB_RETURN_IF_ERROR(ValidateRow(batch, i, &w.attrs[i]));
    auto [pos, inserted] = in_batch.emplace(batch.id(i), i);
    if (!inserted) {
      return Status::AlreadyExists(fmt::format("id {} appears twice in the batch (rows {} and {})",
                                               KeyToString(batch.id(i)), pos->second + 1, i + 1));
    }
    w.ids.push_back(&batch.id(i));
  }
  in_batch.clear();

  std::unique_lock wl(write_mu_);
  // A batch in flight with one of these ids decides whether it exists: wait for its outcome.
  WaitForIds(wl, w.ids);
  {
    // No batch in flight holds these ids, so their entries in keys_ stay as read here until this
    // batch is done (only a commit holding an id changes its entry).
    // While the rows load, the ids stored at open are looked up in RocksDB.
    std::shared_lock lock(mu_);
    for (size_t i = 0; i < n; ++i) {
      MRLDB_ASSIGN_OR_RETURN(std::optional<uint64_t> row, LookupLoading(batch.id(i)));
      if (!row) continue;
      if (!upsert) {
        return Status::AlreadyExists(fmt::format("{}: id {} already exists in collection '{}'",
                                                 Where(batch, i), KeyToString(batch.id(i)),
                                                 s.name));
      }
      w.replaced.push_back(*row);
    }
  }
  return Enqueue(wl, &w);
}

Result<uint64_t> Collection::Delete(std::span<const Key> ids, bool sync) {
  std::shared_lock schema(schema_mu_);
  PendingWrite w;
  w.sync = sync;
  for (size_t i = 0; i < ids.size(); ++i) {
    MRLDB_RETURN_IF_ERROR(CheckKeyType(ids[i], fmt::format("delete of id #{}", i + 1)));
    w.ids.push_back(&ids[i]);
  }
  std::unique_lock wl(write_mu_);
  WaitForIds(wl, w.ids);
  {
    std::shared_lock lock(mu_);
    std::unordered_set<uint64_t> seen;
    for (const Key& id : ids) {
      MRLDB_ASSIGN_OR_RETURN(std::optional<uint64_t> row, LookupLoading(id));
      if (row && seen.insert(*row).second) w.replaced.push_back(*row);
    }
  }
  if (w.replaced.empty()) return uint64_t{0};
  MRLDB_RETURN_IF_ERROR(Enqueue(wl, &w));
  return static_cast<uint64_t>(w.replaced.size());
}

Status Collection::Enqueue(std::unique_lock<std::mutex>& wl, PendingWrite* w) {
  for (const Key* id : w->ids) inflight_ids_.insert(*id);
  write_queue_.push_back(w);
  write_cv_.wait(wl, [&] { return w->done || write_queue_.front() == w; });
  if (w->done) return w->status;

  // This thread leads: it commits itself and the batches queued behind it, up to the limits.
  std::vector<PendingWrite*> group;
  size_t rows = 0, bytes = 0;
  const size_t row_bytes = size_t{spec().dim} * sizeof(float);
  for (PendingWrite* p : write_queue_) {
    const size_t r = p->batch ? p->batch->size() : 0;
    if (!group.empty() && (rows + r > kMaxGroupRows || bytes + r * row_bytes > kMaxGroupVectorBytes)) {
      break;
    }
    group.push_back(p);
    rows += r;
    bytes += r * row_bytes;
  }
  wl.unlock();
  const Status st = CommitGroup(group);
  wl.lock();
  // Published (or failed) as a whole: release the ids and answer every member.
  for (PendingWrite* p : group) {
    for (const Key* id : p->ids) inflight_ids_.erase(*id);
    p->status = st;
    p->done = true;
    write_queue_.pop_front();
  }
  write_cv_.notify_all();
  return w->status;
}

Status Collection::CommitGroup(const std::vector<PendingWrite*>& group) {
  const CollectionSpec& s = spec();
  const uint32_t cid = desc_.cid;
  // Only a leader changes next_row_, and leaders follow each other through write_mu_, so it is
  // read here without mu_. A failed group publishes nothing, so the next one reuses its rows.
  const uint64_t first = next_row_;
  uint64_t end = first;
  bool sync = false;
  size_t reserve_bytes = 4096;
  for (PendingWrite* p : group) {
    sync |= p->sync;
    if (!p->batch) continue;
    p->first = end;
    end += p->batch->size();
    reserve_bytes += p->batch->size() * (size_t{s.dim} * sizeof(float) + 128);
  }

  // The column cache rows [first, end) of the held blocks: the chunk tables grow (moving no
  // chunk) under mu_; the rows themselves are written without it, since no reader reads rows at
  // or past next_row_. fill_mu_ until the publish: the held blocks cannot change meanwhile.
  std::unique_lock fill_lock(fill_mu_);
  const bool grew = end > cache_.capacity();
  if (grew) {
    std::unique_lock lock(mu_);
    cache_.Reserve(end);
  }
  // Every row's prefix norms, stored with its row groups and kept in the cache.
  const size_t nb = ladder_.blocks();
  std::vector<std::vector<float>> norms(group.size());
  for (size_t g = 0; g < group.size(); ++g) {
    const PendingWrite* p = group[g];
    if (!p->batch) continue;
    const float* rows = p->batch->values();  // validated: row-major size x dim
    norms[g].resize(p->batch->size() * nb);
    for (size_t i = 0; i < p->batch->size(); ++i) {
      ColumnCache::PrefixSqNorms(ladder_, rows + i * s.dim, norms[g].data() + i * nb);
      cache_.SetRow(p->first + i, rows + i * s.dim, norms[g].data() + i * nb);
    }
  }
  storage::GroupTails tails = tails_;  // kept only once the write is stored

  rocksdb::WriteBatch wb(reserve_bytes);
  auto* rows_cf = kv_->handle(storage::Cf::kRows);
  std::string key, value;
  for (size_t g = 0; g < group.size(); ++g) {
    const PendingWrite* p = group[g];
    for (uint64_t old : p->replaced) {
      wb.Put(rows_cf, storage::RowKey(storage::kTagTombstone, cid, old), "");
      wb.Delete(rows_cf, storage::RowKey(storage::kTagRow, cid, old));
    }
    if (!p->batch) {  // a delete also removes the ids' index entries
      for (const Key* id : p->ids) {
        key = storage::CollectionPrefix(storage::kTagIdIndex, cid);
        storage::AppendKeyBytes(&key, *id);
        wb.Delete(rows_cf, key);
      }
      continue;
    }
    const InsertBatch& batch = *p->batch;
    for (size_t i = 0; i < batch.size(); ++i) {
      key = storage::CollectionPrefix(storage::kTagIdIndex, cid);
      storage::AppendKeyBytes(&key, batch.id(i));
      value.clear();
      storage::PutFixed64(&value, p->first + i);
      wb.Put(rows_cf, key, value);
      wb.Put(rows_cf, storage::RowKey(storage::kTagRow, cid, p->first + i),
             desc_.attribute_slots.empty() ? storage::EncodeRow(batch.id(i), p->attrs[i])
                                           : storage::EncodeRow(batch.id(i), StoredValues(p->attrs[i])));
    }
    storage::PutVectorGroups(&wb, kv_->handle(storage::Cf::kVectors), cid, ladder_, p->first,
                             batch.size(), batch.values(), norms[g].data(), &tails);
  }
  if (end > first) {
    value.clear();
    storage::PutFixed64(&value, end);
    wb.Put(rows_cf, storage::AllocatorKey(cid), value);
  }
  // While the rows load: the records of the older rows this group deletes, for the searches
  // that see them live until the publish (RecordsLoading).
  std::vector<uint64_t> deleting;
  if (rows_loading_) {
    for (const PendingWrite* p : group) {
      for (uint64_t old : p->replaced) {
        if (old < rows_at_open_) deleting.push_back(old);
      }
    }
    for (uint64_t old : deleting) {
      std::string record;
      Status st = kv_->Get(storage::Cf::kRows, storage::RowKey(storage::kTagRow, cid, old), &record);
      if (!st.ok()) {
        std::lock_guard l(deleting_mu_);
        for (uint64_t row : deleting) deleting_records_.erase(row);
        return st;
      }
      std::lock_guard l(deleting_mu_);
      deleting_records_[old] = std::move(record);
    }
  }
  auto forget_deleting = [&] {
    if (deleting.empty()) return;
    std::lock_guard l(deleting_mu_);
    for (uint64_t row : deleting) deleting_records_.erase(row);
  };
  if (commit_hook_) commit_hook_();
  if (Status st = kv_->Write(&wb, sync); !st.ok()) {
    forget_deleting();
    return st;
  }
  tails_ = std::move(tails);

  // Committed. The graph's capacity first (under mu_ shared: a rebuild replaces graph_), so the
  // indexer never meets a published row beyond it; a failure is logged and makes stage 0 scan,
  // it does not fail the committed write.
  if (end > first) {
    std::shared_lock lock(mu_);
    if (Status st = ReserveGraphFor(end); !st.ok()) {
      graph_ok_ = false;
      if (log_) log_(fmt::format("collection '{}': {}; searches scan", s.name, st.message()));
    }
  }
  // Publish: the whole group at once (nothing below can fail but allocation).
  bool killed = false;
  {
    std::unique_lock lock(mu_);
    // Sized first: while the rows load, keys_ and attrs_ may be shorter than the rows killed.
    keys_.Resize(end);
    live_.resize(end, 0);
    for (auto& col : attrs_) col.resize(end);
    for (PendingWrite* p : group) {
      if (!p->batch) {
        for (const Key* id : p->ids) keys_.Unmap(*id);
      }
      for (uint64_t old : p->replaced) {
        live_[old] = 0;
        for (auto& col : attrs_) col[old] = Value{};
        if (rows_loading_ && old < rows_at_open_) died_while_loading_.push_back(old);
        killed = true;
      }
      live_rows_ -= p->replaced.size();
    }
    for (PendingWrite* p : group) {
      if (!p->batch) continue;
      for (size_t i = 0; i < p->batch->size(); ++i) {
        const uint64_t row = p->first + i;
        keys_.Assign(row, p->batch->id(i));  // maps the id to its new row
        live_[row] = 1;
        for (size_t c = 0; c < attrs_.size(); ++c) attrs_[c][row] = std::move(p->attrs[i][c]);
      }
      live_rows_ += p->batch->size();
    }
    next_row_ = end;
    ++live_version_;
    SyncDevice(first, end - first);
    graph_dirty_ = true;
  }
  forget_deleting();
  fill_lock.unlock();
  if (killed) {
    // After the publish: searches drop dead rows by live_ anyway, and marking them first would
    // let a search miss an upserted id whose new row is not yet visible. mu_ shared pins graph_.
    // While a checkpoint holds the graph lock the marks are queued for the indexer instead.
    std::shared_lock lock(mu_);
    std::vector<uint64_t> dead;
    for (const PendingWrite* p : group) dead.insert(dead.end(), p->replaced.begin(), p->replaced.end());
    MarkGraphDeleted(dead);
  }
  if (on_write_) on_write_();
  if (grew && on_grow_) on_grow_();
  return Status::Ok();
}

}  // namespace mrldb

namespace mrldb {

std::vector<Value> Collection::StoredValues(const std::vector<Value>& attrs) const {
  std::vector<Value> stored(desc_.RowWidth());
  for (size_t c = 0; c < attrs.size(); ++c) stored[desc_.Slot(c)] = attrs[c];
  return stored;
}

Status Collection::AlterColumns(const AlterOptions& options) {
  MRLDB_RETURN_IF_ERROR(WaitForRows());  // the loader decodes records with the columns
  std::unique_lock schema(schema_mu_);  // no write is in flight until this returns
  std::unique_lock lock(mu_);
  storage::CollectionDescriptor d = desc_;
  CollectionSpec& s = d.spec;
  if (d.attribute_slots.empty()) {  // make the identity explicit before changing it
    d.row_width = d.RowWidth();
    for (size_t c = 0; c < s.attributes.size(); ++c) d.attribute_slots.push_back(uint32_t(c));
  }
  int dropped = -1;
  if (options.add_column) {
    s.attributes.push_back(*options.add_column);
    d.attribute_slots.push_back(d.row_width++);
  } else {
    dropped = s.AttributeIndex(*options.drop_column);
    if (dropped < 0) {
      const bool key = *options.drop_column == s.id_column || *options.drop_column == s.vector_column;
      return Status::InvalidArgument(
          key ? fmt::format("column '{}' of '{}' is its {} and cannot be dropped",
                            *options.drop_column, s.name,
                            *options.drop_column == s.id_column ? "PRIMARY KEY" : "vector column")
              : fmt::format("collection '{}' has no column '{}'", s.name, *options.drop_column));
    }
    // The id and the vector keep their places among the remaining columns.
    std::vector<int> order = s.ColumnOrder();
    order.erase(std::find(order.begin(), order.end(), dropped));
    for (size_t i = 0; i < order.size(); ++i) {
      if (order[i] == CollectionSpec::kIdColumn) s.id_position = uint32_t(i);
      if (order[i] == CollectionSpec::kVectorColumn) s.vector_position = uint32_t(i);
    }
    s.attributes.erase(s.attributes.begin() + dropped);
    d.attribute_slots.erase(d.attribute_slots.begin() + dropped);
  }
  MRLDB_RETURN_IF_ERROR(s.Validate());
  // Only the changed fields are assigned: threads read spec().name without mu_.
  auto swap_columns = [&](storage::CollectionDescriptor& from) {
    std::swap(desc_.spec.attributes, from.spec.attributes);
    std::swap(desc_.spec.id_position, from.spec.id_position);
    std::swap(desc_.spec.vector_position, from.spec.vector_position);
    std::swap(desc_.attribute_slots, from.attribute_slots);
    std::swap(desc_.row_width, from.row_width);
  };
  swap_columns(d);  // d now holds the old columns
  if (Status st = WriteDescriptor(); !st.ok()) {
    swap_columns(d);
    return st;
  }
  if (dropped >= 0) {
    attrs_.erase(attrs_.begin() + dropped);
  } else {
    attrs_.emplace_back(next_row_, Value{});
  }
  return Status::Ok();
}

}  // namespace mrldb
