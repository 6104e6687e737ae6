// VACUUM: reclaiming the vector bytes of dead rows (docs/architecture.md, "Vacuum").
//
// Rows keep their ids: the HNSW graph labels nodes by row id, and a dense row id is an index
// into the column cache, so renumbering would mean a graph rebuild and a second copy of every
// row. Instead each complete row group that stores a dead row is rewritten without it (a
// vacuumed group, key_format.h), and the collection's vector keys are compacted so that RocksDB
// drops the replaced values. Commit order, each step durable before the next one starts:
//   1. the format record becomes 3 (once per database, synced) before the first vacuumed group;
//   2. one WriteBatch per slice of rows replaces that slice's groups: every live row keeps its
//      exact bytes, so any prefix of these batches that a crash leaves is a correct database;
//   3. the 'x' record (dead rows covered) once every slice is written;
//   4. a flush of every memtable (so the WAL holding the rewritten groups can go), then
//      CompactRange over the collection's 'v' keys (RocksDB's own crash-safe file switch).
// A row is dropped only when it is dead in the published state, which follows its committed
// tombstone batch; the WAL replays a prefix, so a surviving vacuum batch implies its tombstones.
#include <algorithm>

#include <fmt/format.h>

#include "engine/collection.h"
#include "storage/key_format.h"
#include "storage/vector_segments.h"

namespace mrldb {

namespace {
// Vector bytes per slice: one WriteBatch (and at most this much of rewritten groups) each.
constexpr uint64_t kSliceBytes = uint64_t{1} << 20;
}  // namespace

bool Collection::VacuumDue(double share, uint64_t min_rows) const {
  std::shared_lock lock(mu_);
  if (share <= 0 || tune_cancel_ || dropped_) return false;
  const uint64_t dead = next_row_ - live_rows_;
  const uint64_t fresh = dead - std::min(dead, vacuumed_dead_);
  const uint64_t stored = next_row_ - std::min(next_row_, vacuumed_dead_);
  return fresh >= std::max<uint64_t>(min_rows, 1) && double(fresh) >= share * double(stored);
}

void Collection::AutoVacuum() {
  auto r = Vacuum(VacuumOptions{});
  if (!log_ || r.status().code() == Status::Code::kCancelled) return;
  if (!r.ok()) {
    log_(fmt::format("collection '{}': background vacuum failed (its dead rows stay stored until "
                     "the next one): {}", spec().name, r.status().message()));
    return;
  }
  log_(fmt::format("collection '{}': vacuumed {} dead rows: {:.1f} MiB of vectors freed, vector "
                   "storage {:.1f} MiB -> {:.1f} MiB", spec().name, r->dead_rows,
                   r->bytes_freed / 1048576.0, r->disk_bytes_before / 1048576.0,
                   r->disk_bytes_after / 1048576.0));
}

Result<VacuumReport> Collection::Vacuum(const VacuumOptions& options) {
  std::lock_guard vacuum_lock(vacuum_mu_);
  VacuumReport report;
  uint64_t rows;
  std::vector<uint8_t> live;
  {
    // Rows dead here have a committed tombstone; rows dying from now on are kept this time.
    std::shared_lock lock(mu_);
    if (dropped_) return Status::NotFound(fmt::format("collection '{}' was dropped", spec().name));
    rows = next_row_;
    live.assign(live_.begin(), live_.begin() + static_cast<ptrdiff_t>(rows));
    report.dead_rows = rows - live_rows_;
  }
  const std::string lower = storage::CollectionPrefix(storage::kTagSegment, desc_.cid);
  const std::string upper = storage::PrefixSuccessor(lower);
  report.disk_bytes_before = kv_->ApproximateBytes(storage::Cf::kVectors, lower, upper);
  report.disk_bytes_after = report.disk_bytes_before;
  auto stopped = [&](uint64_t done) -> Status {
    if (tune_cancel_) {
      return Status::Cancelled(fmt::format("VACUUM of '{}' stopped: the collection was dropped or "
                                           "the database is closing", spec().name));
    }
    if (options.cancel && *options.cancel) {
      return Status::Cancelled(fmt::format(
          "VACUUM cancelled after {} of {} rows (the row groups rewritten so far stay so)", done,
          rows));
    }
    return Status::Ok();
  };
  // Fenced against a drop (SetDropped): a write after the drop's would bring back its groups.
  auto write = [&](rocksdb::WriteBatch* wb, uint64_t done) -> Status {
    std::lock_guard fence(vacuum_write_mu_);
    MRLDB_RETURN_IF_ERROR(stopped(done));
    return kv_->Write(wb, /*sync=*/false);
  };
  if (report.dead_rows == 0) return report;

  const uint64_t slice =
      std::max<uint64_t>(1, kSliceBytes / (sizeof(float) * (uint64_t{spec().dim} + ladder_.blocks())));
  for (uint64_t from = 0; from < rows; from += slice) {
    MRLDB_RETURN_IF_ERROR(stopped(from));
    const uint64_t to = std::min(rows, from + slice);
    rocksdb::WriteBatch wb;
    storage::VacuumCounts counts;
    Status st = storage::VacuumRowGroups(*kv_, desc_.cid, ladder_, rows, live, from, to, &wb, &counts);
    if (!st.ok()) {
      MRLDB_RETURN_IF_ERROR(stopped(from));  // a drop deletes the groups under the read
      return st;
    }
    if (counts.groups_rewritten > 0) {
      MRLDB_RETURN_IF_ERROR(kv_->UpgradeFormat());
      MRLDB_RETURN_IF_ERROR(write(&wb, from));
    }
    report.groups_rewritten += counts.groups_rewritten;
    report.bytes_freed += counts.bytes_freed;
    if (options.progress) options.progress(VacuumProgress{to, rows});
  }
  rocksdb::WriteBatch record;
  std::string value;
  storage::PutFixed64(&value, report.dead_rows);
  record.Put(kv_->handle(storage::Cf::kRows), storage::VacuumRecordKey(desc_.cid), value);
  MRLDB_RETURN_IF_ERROR(write(&record, rows));
  {
    std::unique_lock lock(mu_);
    vacuumed_dead_ = std::max(vacuumed_dead_, report.dead_rows);
  }
  if (report.groups_rewritten > 0) {
    // Every family's memtable to SST files first: the WAL holding the rewritten groups stays on
    // disk until no family needs it, and the rows family may not flush for a long time.
    MRLDB_RETURN_IF_ERROR(kv_->Flush());
    // The background vacuum has no cancel flag of its own: a close or drop stops its compaction.
    const std::atomic<bool>* cancel = options.cancel ? options.cancel : &tune_cancel_;
    Status st = kv_->CompactRange(storage::Cf::kVectors, lower, upper, cancel);
    if (st.code() == Status::Code::kCancelled || tune_cancel_) {
      return Status::Cancelled(fmt::format(
          "VACUUM of '{}' stopped in its compaction: every row group is rewritten; RocksDB's own "
          "compactions free the old bytes later", spec().name));
    }
    MRLDB_RETURN_IF_ERROR(st);
  }
  report.disk_bytes_after = kv_->ApproximateBytes(storage::Cf::kVectors, lower, upper);
  return report;
}

}  // namespace mrldb
