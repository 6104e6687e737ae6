#include "engine/collection.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <unordered_set>

#include <fmt/format.h>

#include "engine/filter_eval.h"
#include "engine/prefix_index.h"
#include "engine/row_blocks.h"
#include "storage/key_format.h"
#include "storage/row_codec.h"
#include "storage/vector_segments.h"

namespace mrldb {

size_t KeyHash::operator()(const Key& k) const {
  if (const auto* i = std::get_if<int64_t>(&k)) return std::hash<int64_t>()(*i);
  return std::hash<std::string>()(std::get<std::string>(k)) ^ 0x9e3779b97f4a7c15ull;
}

Collection::Collection(storage::CollectionDescriptor desc, storage::KvStore* kv, ThreadPool* pool,
                       ThreadPool* index_pool, std::string index_path, LogFn log,
                       GpuSettings gpu)
    : desc_(std::move(desc)), ladder_(desc_.spec.granularities), kv_(kv), pool_(pool),
      index_pool_(index_pool),
      index_path_(std::move(index_path)), log_(std::move(log)),
      keys_(desc_.spec.id_type), attrs_(desc_.spec.attributes.size()), cache_(ladder_), wanted_blocks_(0),
      graph_(std::make_shared<PrefixIndex>(desc_.spec.metric, desc_.spec.index_dim, desc_.spec.hnsw)),
      plan_(desc_.spec.default_plan), gpu_settings_(std::move(gpu)) {
  last_save_ns_ = std::chrono::steady_clock::now().time_since_epoch().count();
}

Collection::~Collection() = default;

Status Collection::RebuildIndex(std::string_view why) {
  if (log_) {
    log_(fmt::format("collection '{}': rebuilding the HNSW graph over {} rows ({})", spec().name,
                     live_rows_, why));
  }
  {
    std::unique_lock graph_lock(graph_mu_);
    graph_ = std::make_shared<PrefixIndex>(spec().metric, spec().index_dim, spec().hnsw);
    ++graph_generation_;
    // Inside the lock: a save must never see the new graph with the old mark.
    indexed_upto_ = 0;  // the background indexer builds it; searches scan meanwhile
    graph_loading_ = false;  // a graph still loading is void (LoadGraph sees the generation)
  }
  graph_ok_ = true;
  graph_dirty_ = true;
  return ReserveGraph();
}

bool Collection::IndexPending() const {
  {
    std::lock_guard l(deferred_mu_);
    if (!deferred_marks_.empty()) return true;
  }
  std::shared_lock lock(mu_);
  return graph_ok_ && (graph_loading_ || indexed_upto_ < next_row_);
}

bool Collection::IndexStep(size_t max_rows) {
  std::vector<uint64_t> rows;
  std::vector<float> prefixes;
  uint64_t to;
  std::shared_ptr<PrefixIndex> graph;
  uint64_t generation;
  {
    std::shared_lock lock(mu_);
    const uint64_t from = indexed_upto_;
    to = std::min<uint64_t>(next_row_, from + max_rows);
    // The graph is built from the index blocks, which load in the background after an open,
    // and replays rows into the saved graph, which loads in the background too.
    if (cache_.resident() < IndexBlocks() || graph_loading_) return false;
    if (from >= to || !graph_ok_) {
      // Deletion marks queued during a save.
      std::unique_lock l(deferred_mu_);
      if (deferred_marks_.empty()) return false;
      l.unlock();
      return WithGraphExclusive([&] { ApplyDeferredMarks(); });
    }
    // Capacity first (the write path skips it during a save). mu_ shared: no write reads it.
    if (graph_->capacity() < to) {
      Status st;
      if (!WithGraphExclusive([&] { st = graph_->Reserve(to); })) return false;  // saving
      if (!st.ok()) {
        graph_ok_ = false;
        if (log_) log_(fmt::format("collection '{}': {}; searches scan", spec().name, st.message()));
        return false;
      }
    }
    CopyPrefixes(from, to, &rows, &prefixes);
    graph = graph_;
    generation = graph_generation_;
    if (graph->NeedsTraining()) {
      // Int8 codes: the scale from up to kTrainRows live rows spread over the collection.
      std::vector<uint64_t> sample_rows;
      std::vector<float> sample;
      CopyPrefixes(0, next_row_, &sample_rows, &sample, std::max<uint64_t>(1, next_row_ / kTrainRows));
      std::unique_lock graph_lock(graph_mu_);
      if (graph->NeedsTraining()) graph->Train(sample.data(), sample_rows.size(), live_rows_);
    }
  }
  const uint32_t dims = graph->dims();
  std::vector<Status> errors(rows.size());
  // hnswlib's searches read neighbour lists without locks, so adds exclude searches (and
  // resizes); the adds under one hold run in parallel with each other, which hnswlib supports.
  // The lock is taken per kLockedAdds rows, not for the whole step, so that a search waits for
  // at most that many adds (rows added before indexed_upto_ moves are dropped from graph
  // results and scanned with the tail, so a part-added step is harmless).
  constexpr size_t kLockedAdds = 16, kTask = 4;
  for (size_t at = 0; at < rows.size(); at += kLockedAdds) {
    const size_t end = std::min(rows.size(), at + kLockedAdds);
    std::unique_lock graph_lock(graph_mu_);
    ApplyDeferredMarks();
    index_pool_->ParallelFor((end - at + kTask - 1) / kTask, [&](size_t t) {
      for (size_t i = at + t * kTask; i < std::min(end, at + (t + 1) * kTask); ++i) {
        errors[i] = graph->Add(rows[i], prefixes.data() + i * dims);
      }
    });
  }
  for (const Status& st : errors) {
    if (!st.ok()) {
      graph_ok_ = false;
      if (log_) log_(fmt::format("collection '{}': {}; searches scan until reopen", spec().name, st.message()));
      return false;
    }
  }
  std::shared_lock lock(mu_);
  if (generation != graph_generation_) return true;  // rebuilt meanwhile: this work is void
  if (graph->clipped_rows() * 100 > graph->size() && graph->size() >= 2 * graph->trained_rows()) {
    // Drift: more than 1% of the rows added since training had values beyond the codes' range,
    // and the graph has at least doubled since: rebuild it, retraining on today's rows.
    lock.unlock();
    std::unique_lock relock(mu_);
    if (generation != graph_generation_) return true;
    RebuildIndex(fmt::format("int8 codes retrained: {} of {} rows were beyond the range trained on {} rows",
                             graph->clipped_rows(), graph->size(), graph->trained_rows())).IgnoreError();
    return true;
  }
  // A row deleted while it was being added must not stay visible in the graph.
  std::vector<uint64_t> dead;
  for (uint64_t row : rows) {
    if (!live_[row]) dead.push_back(row);
  }
  MarkGraphDeleted(dead);
  indexed_upto_ = to;
  changes_since_save_ += rows.size();
  graph_dirty_ = true;
  return true;
}

void Collection::CopyPrefixes(uint64_t first, uint64_t end, std::vector<uint64_t>* rows,
                              std::vector<float>* prefixes, uint64_t stride) const {
  const uint32_t dims = spec().index_dim;
  const size_t level = ladder_.BlocksCovering(dims) - 1;
  const bool normalize = spec().metric == Metric::kCosine;
  for (uint64_t row = first; row < end; row += stride) {
    if (!live_[row]) continue;
    rows->push_back(row);
    const size_t at = prefixes->size();
    prefixes->resize(at + dims);
    for (size_t b = 0; b <= level; ++b) {
      std::memcpy(prefixes->data() + at + ladder_.begin(b), cache_.Row(b, row),
                  ladder_.width(b) * sizeof(float));
    }
    if (normalize) {
      const float n = cache_.SqNorm(level, row);
      const float inv = n > 0 ? 1.0f / std::sqrt(n) : 0.0f;
      for (size_t d = 0; d < dims; ++d) (*prefixes)[at + d] *= inv;
    }
  }
}

template <typename F> bool Collection::WithGraphExclusive(F&& f) {
  // Searches hold graph_mu_ shared for a moment; a save holds it for seconds. Wait for the
  // former, never for the latter.
  while (!saving_) {
    if (graph_mu_.try_lock_for(std::chrono::milliseconds(1))) {
      std::unique_lock graph_lock(graph_mu_, std::adopt_lock);
      f();
      return true;
    }
  }
  return false;
}

void Collection::ApplyDeferredMarks() {
  std::vector<uint64_t> rows;
  {
    std::lock_guard l(deferred_mu_);
    rows.swap(deferred_marks_);
  }
  for (uint64_t row : rows) graph_->MarkDeleted(row);
  changes_since_save_ += rows.size();
}

void Collection::MarkGraphDeleted(const std::vector<uint64_t>& rows) {
  if (rows.empty()) return;
  const bool now = WithGraphExclusive([&] {
    for (uint64_t row : rows) graph_->MarkDeleted(row);
  });
  if (now) {
    changes_since_save_ += rows.size();
    return;
  }
  std::lock_guard l(deferred_mu_);
  deferred_marks_.insert(deferred_marks_.end(), rows.begin(), rows.end());
}

Status Collection::ReserveGraph() { return ReserveGraphFor(next_row_); }

Status Collection::ReserveGraphFor(uint64_t rows) {
  if (graph_loading_) return Status::Ok();  // LoadGraph reserves when it installs the graph
  {
    std::shared_lock graph_lock(graph_mu_);
    if (graph_->capacity() >= rows) return Status::Ok();
  }
  Status st;
  WithGraphExclusive([&] { st = graph_->Reserve(rows); });  // else IndexStep reserves
  return st;
}

Status Collection::SaveIndex() {
  std::lock_guard save_lock(save_mu_);
  if (saves_disabled_) return Status::Ok();
  Status st;
  saving_ = true;  // before the lock: writers stop waiting for graph_mu_ from here on
  {
    std::shared_lock graph_lock(graph_mu_);
    // A graph still loading: the saved one stays as it is (the load reconciles it).
    if (graph_dirty_ && graph_ok_ && !graph_loading_) {
      // No add, resize or deletion mark runs now. The mark never leads the graph; it may lag it
      // by a step whose adds just ended (ReconcileIndex recognises those rows).
      const uint64_t covered = indexed_upto_;
      const uint64_t changes = changes_since_save_.exchange(0);
      graph_dirty_ = false;
      st = graph_->Save(index_path_, covered);
      if (st.ok()) {
        last_save_ns_ = std::chrono::steady_clock::now().time_since_epoch().count();
      } else {
        graph_dirty_ = true;
        changes_since_save_ += changes;
        // A failing disk: the background checkpoint tries again in 10 s, not every round.
        retry_after_ns_ = (std::chrono::steady_clock::now() + std::chrono::seconds(10))
                              .time_since_epoch().count();
      }
    }
  }
  saving_ = false;
  WithGraphExclusive([&] { ApplyDeferredMarks(); });
  return st;
}

bool Collection::CheckpointDue(uint64_t rows, double seconds) const {
  if (!graph_dirty_ || !graph_ok_ || graph_loading_) return false;
  if (std::chrono::steady_clock::now().time_since_epoch().count() < retry_after_ns_) return false;
  if (rows > 0 && changes_since_save_ >= rows) return true;
  const auto since = std::chrono::steady_clock::now().time_since_epoch() -
                     std::chrono::steady_clock::duration(last_save_ns_.load());
  return seconds > 0 && std::chrono::duration<double>(since).count() >= seconds;
}

Status Collection::CopyIndexFiles(const std::string& to, uint64_t* bytes) {
  std::lock_guard save_lock(save_mu_);
  return PrefixIndex::CopyFiles(index_path_, to, bytes);
}

void Collection::RemoveIndexFiles(bool forever) {
  std::lock_guard save_lock(save_mu_);
  if (forever) saves_disabled_ = true;
  PrefixIndex::RemoveFiles(index_path_);
  RemoveDeviceGraphFile();
}

Status Collection::WriteDescriptor() {
  if (dropped_) return Status::NotFound(fmt::format("collection '{}' was dropped", spec().name));
  storage::CollectionDescriptor d = desc_;
  d.spec.default_plan = plan_;
  rocksdb::WriteBatch wb;
  wb.Put(kv_->handle(storage::Cf::kDefault), storage::CatalogKey(d.spec.name),
         storage::EncodeDescriptor(d));
  return kv_->Write(&wb, /*sync=*/true);
}

Status Collection::Alter(const AlterOptions& options, const GraphAdvice* advice) {
  if (options.add_column || options.drop_column) {
    const bool alone = !options.index_dim && !options.m && !options.ef_construction &&
                       !options.ef_search && !options.codes && !options.target_recall &&
                       !(options.add_column && options.drop_column);
    if (!alone) {
      return Status::InvalidArgument("ADD COLUMN and DROP COLUMN are an ALTER of their own");
    }
    return AlterColumns(options);
  }
  std::unique_lock lock(mu_);
  CollectionSpec s = desc_.spec;
  if (options.index_dim) s.index_dim = *options.index_dim;
  if (options.m) s.hnsw.m = *options.m;
  if (options.ef_construction) s.hnsw.ef_construction = *options.ef_construction;
  if (options.ef_search) s.hnsw.ef_search = *options.ef_search;
  if (options.codes) s.hnsw.codes = *options.codes;
  if (options.target_recall) s.target_recall = *options.target_recall;
  if (options.index_dim && *options.index_dim == 0) {
    return Status::InvalidArgument("index_dim must be a granularity of the ladder, not 0");
  }
  MRLDB_RETURN_IF_ERROR(s.Validate());
  const bool rebuild = s.index_dim != desc_.spec.index_dim || s.hnsw.m != desc_.spec.hnsw.m ||
                       s.hnsw.ef_construction != desc_.spec.hnsw.ef_construction ||
                       s.hnsw.codes != desc_.spec.hnsw.codes;
  if (s.index_dim != desc_.spec.index_dim || s.hnsw.codes != desc_.spec.hnsw.codes) {
    s.graph_advice = advice ? *advice : GraphAdvice{live_rows_, "index_dim and graph_codes set by ALTER"};
  }
  auto old_spec = desc_.spec;
  auto old_plan = plan_;
  desc_.spec = s;
  // A plan tuned for the old prefix is void; an auto-tuned one was measured on the old graph
  // (the auto-tuner tunes again once the new graph is built). TUNE and SET plans stay.
  const bool clear = rebuild && (s.index_dim != old_spec.index_dim ||
                                 plan_.source == PlanSource::kAutoTuned);
  if (clear) plan_ = DefaultPlan{};
  if (Status st = WriteDescriptor(); !st.ok()) {
    desc_.spec = old_spec;
    plan_ = old_plan;
    return st;
  }
  if (clear) ++plan_generation_;
  if (!rebuild) return Status::Ok();
  RemoveIndexFiles(/*forever=*/false);
  return RebuildIndex(fmt::format("index parameters changed: index_dim {}, m {}, ef_construction {}, "
                                  "graph_codes {}", s.index_dim, s.hnsw.m, s.hnsw.ef_construction,
                                  GraphCodesName(s.hnsw.codes)));
}

CollectionInfo Collection::Info() const {
  std::shared_lock lock(mu_);
  CollectionInfo info;
  info.spec = desc_.spec;
  info.spec.default_plan = plan_;
  auto in_force = ResolvePlan(SearchPlan::Default(), 10);
  info.plan_in_force = in_force.ok() ? in_force->Shown().ToString() : in_force.status().message();
  info.live_rows = live_rows_;
  info.allocated_rows = next_row_;
  std::shared_lock graph_lock(graph_mu_);
  info.index_rows = graph_->size();
  // A row a write has just killed stays unmarked in the graph for a moment (its mark follows
  // the publish, or waits for the graph lock in deferred_marks_), so the graph's count may pass
  // the live rows: "6499 indexed + 0 pending for 6498 rows" was seen while the indexer ran.
  info.index_live_rows = std::min(live_rows_, graph_->size() - graph_->deleted());
  // From the same snapshot as index_live_rows: indexed_upto_ moves only after a step's adds are
  // in the graph, so counting from it showed those rows as both indexed and pending.
  info.index_pending_rows = live_rows_ - info.index_live_rows;
  info.index_memory_bytes = graph_->MemoryBytes();
  const uint64_t dead = next_row_ - live_rows_;
  info.unvacuumed_rows = dead - std::min(dead, vacuumed_dead_);
  for (char tag : {storage::kTagAllocator, storage::kTagIdIndex, storage::kTagRow,
                   storage::kTagTombstone, storage::kTagVacuumed, storage::kTagSegment}) {
    const std::string prefix = storage::CollectionPrefix(tag, desc_.cid);
    info.disk_bytes += kv_->ApproximateBytes(
        tag == storage::kTagSegment ? storage::Cf::kVectors : storage::Cf::kRows, prefix,
        storage::PrefixSuccessor(prefix));
  }
  info.memory = MemoryLocked();
  info.memory.device = DeviceMemory();
  return info;
}

std::string Collection::Where(const InsertBatch& batch, size_t i) const {
  return fmt::format("row {} (id {})", i + 1, KeyToString(batch.id(i)));
}

Status Collection::CheckKeyType(const Key& key, std::string_view what) const {
  const bool is_int = std::holds_alternative<int64_t>(key);
  if (is_int != (spec().id_type == IdType::kBigint)) {
    return Status::InvalidArgument(fmt::format(
        "{}: id {} is {}, but column '{}' of collection '{}' is {}", what, KeyToString(key),
        is_int ? "BIGINT" : "TEXT", spec().id_column, spec().name, IdTypeName(spec().id_type)));
  }
  if (!is_int && std::get<std::string>(key).size() > 4096) {
    return Status::InvalidArgument(fmt::format("{}: TEXT id longer than 4096 bytes", what));
  }
  return Status::Ok();
}

Status Collection::ValidateRow(const InsertBatch& batch, size_t i,
                               std::vector<Value>* attrs) const {
  const CollectionSpec& s = spec();
  if (const auto* text = std::get_if<std::string>(&batch.id(i))) {  // before Where() prints it
    if (std::string bad = DescribeInvalidUtf8(*text); !bad.empty()) {
      return Status::InvalidArgument(fmt::format("row {}: the id {}", i + 1, bad));
    }
  }
  MRLDB_RETURN_IF_ERROR(CheckKeyType(batch.id(i), Where(batch, i)));
  std::span<const float> v = batch.vector(i);
  if (v.size() != s.dim) {
    return Status::InvalidArgument(fmt::format(
        "{}: vector has {} dimensions, collection '{}' has dimension {}", Where(batch, i),
        v.size(), s.name, s.dim));
  }
  bool zero = true;
  for (size_t d = 0; d < v.size(); ++d) {
    if (!std::isfinite(v[d])) {
      return Status::InvalidArgument(fmt::format("{}: vector value {} at dimension {} is not finite",
                                                 Where(batch, i), v[d], d));
    }
    zero = zero && v[d] == 0;
  }
  if (zero && s.metric == Metric::kCosine) {
    return Status::InvalidArgument(fmt::format(
        "{}: a zero vector has no cosine direction (collection '{}' uses the cosine metric)",
        Where(batch, i), s.name));
  }
  const auto& in = batch.attributes(i);
  if (!in.empty() && in.size() != s.attributes.size()) {
    return Status::InvalidArgument(fmt::format(
        "{}: {} attribute values given, collection '{}' has {} attribute columns",
        Where(batch, i), in.size(), s.name, s.attributes.size()));
  }
  attrs->assign(s.attributes.size(), Value{});
  for (size_t c = 0; c < in.size(); ++c) {
    const Value& val = in[c];
    const ColumnDef& col = s.attributes[c];
    if (std::holds_alternative<std::monostate>(val)) continue;
    bool ok = false;
    switch (col.type) {
      case AttrType::kText:
        ok = std::holds_alternative<std::string>(val);
        if (std::string bad = ok ? DescribeInvalidUtf8(std::get<std::string>(val)) : "";
            !bad.empty()) {
          return Status::InvalidArgument(
              fmt::format("{}: column '{}': the value {}", Where(batch, i), col.name, bad));
        }
        break;
      case AttrType::kInt: ok = std::holds_alternative<int64_t>(val); break;
      case AttrType::kBool: ok = std::holds_alternative<bool>(val); break;
      case AttrType::kFloat:
        if (const auto* iv = std::get_if<int64_t>(&val)) {
          (*attrs)[c] = static_cast<double>(*iv);
          continue;
        }
        ok = std::holds_alternative<double>(val);
        if (ok && !std::isfinite(std::get<double>(val))) {
          return Status::InvalidArgument(fmt::format("{}: column '{}' value {} is not finite",
                                                     Where(batch, i), col.name,
                                                     ValueToString(val)));
        }
        break;
    }
    if (!ok) {
      return Status::InvalidArgument(fmt::format("{}: column '{}' is {}, got {}", Where(batch, i),
                                                 col.name, AttrTypeName(col.type),
                                                 ValueToString(val)));
    }
    (*attrs)[c] = val;
  }
  return Status::Ok();
}

}  // namespace mrldb
