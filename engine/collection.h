// Collection: one collection's in-memory state (ids, attributes, column cache, HNSW prefix index)
// over its rows in storage, and the write and read paths that keep them in step.
//
// Thread safety: every public method may be called concurrently. Readers take mu_ shared for
// their whole run. Writers (Write, Delete) never hold mu_ while they validate or commit: they
// hold their ids in write_mu_'s in-flight set, join a commit queue whose leader writes the
// queued batches as one RocksDB WriteBatch (group commit), fills the column cache rows past the
// published row count, and then publishes the whole group under mu_ exclusively for a few
// microseconds (ids, attributes, live bits, row count). So a reader sees a batch entirely or not
// at all, and never waits for a RocksDB commit (engine/collection_write.cc; docs/architecture.md,
// "Concurrency").
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cuda/gpu_search.h"
#include "engine/column_cache.h"
#include "engine/placement.h"
#include "engine/reranker.h"
#include "engine/row_keys.h"
#include "engine/thread_pool.h"
#include "engine/top_k.h"
#include "mrldb/database.h"
#include "mrldb/predict.h"
#include "storage/catalog.h"
#include "storage/kv_store.h"
#include "storage/ladder.h"
#include "storage/vector_segments.h"

namespace mrldb {

class MatryoshkaAnalysis;
class PrefixIndex;
class StageRecorder;

// The database's GPU options, as a collection needs them.
struct GpuSettings {
  bool enabled = false;
  gpu::DeviceBlocksOptions blocks;
};

struct KeyHash {
  size_t operator()(const Key& k) const;
};

using LogFn = std::function<void(std::string_view)>;

class Collection {
 public:
  // `index_path`: where the HNSW graph is saved (two files: path and path + ".meta").
  // `pool` runs searches and scans; `index_pool` only the indexer's parallel adds. They must be
  // distinct: an indexer step holds the graph lock exclusively while it waits for its pool, and
  // a batch search holds its pool while it waits for the graph lock.
  Collection(storage::CollectionDescriptor desc, storage::KvStore* kv, ThreadPool* pool,
             ThreadPool* index_pool, std::string index_path, LogFn log, GpuSettings gpu = {});
  ~Collection();

  // Opens the collection from metadata only (engine/collection_open.cc; docs/architecture.md,
  // "Open in seconds"): the row allocator, the dead rows (tombstones) and the partial last row
  // groups. Everything else loads in the background (LoadGraph, LoadRows, LoadBlocks) while
  // searches, point reads and writes go on, correct and slower: stage 0 scans until the graph is
  // installed, lookups by id read RocksDB until the id map is, searches with a filter and the
  // operations that read every row's attributes (Find without ids, tune, analyze, predict,
  // ALTER ... COLUMN) wait for the ids and attributes. Errors: Corruption when storage does not
  // hold.
  Status Load();
  // The background loader's steps for what Load left out. LoadGraph loads the saved HNSW graph
  // and reconciles it with storage (or rebuilds it, with a log line, when it is missing, stale
  // beyond repair or damaged), then installs it. LoadRows reads the ids and attributes of the
  // rows stored at open and merges the writes made since; it returns early (loading nothing)
  // once `stop` is set. Errors: Corruption or a read error (logged; for LoadRows, every
  // operation that waits for the rows then fails with it).
  Status LoadGraph();
  Status LoadRows(const std::atomic<bool>& stop);
  // Whether LoadGraph and LoadRows have nothing left to do (installed, or the rows failed).
  bool GraphLoaded() const { return !graph_loading_; }
  bool RowsLoaded() const;
  // Waits until the ids and attributes are loaded. Errors: LoadRows's, or Cancelled when the
  // loader stopped (the database closes). REQUIRES: no lock of this collection held.
  Status WaitForRows() const;
  // The loader stopped for good: waiters of WaitForRows return Cancelled.
  void AbortLoading();

  // Residency (engine/collection_tier.cc; docs/architecture.md, "Memory budget"). The blocks
  // the graph is built from (those covering index_dim).
  size_t IndexBlocks() const { return ladder_.BlocksCovering(spec().index_dim); }
  // Makes blocks [0, blocks) the ones to keep in memory (at least IndexBlocks(), at most all):
  // blocks above are freed at once, blocks below that are not resident are loaded by LoadBlocks.
  // Call it after Load (or for a new collection); until then no block is wanted.
  void SetWantedBlocks(size_t blocks);
  // Loads the wanted blocks that are not resident yet from storage (the background loader's
  // work), while writes and searches go on; returns once they are resident, SetWantedBlocks
  // changed the target, or `stop` became true. Errors: Corruption or a read error (the blocks
  // stay in storage; searches go on reading them there).
  Status LoadBlocks(const std::atomic<bool>& stop);
  // Whether the wanted blocks are all resident (or a load failed: they stay in storage), the
  // graph is installed and the ids and attributes are loaded (or failed to).
  bool Loaded() const;
  // Memory this collection holds, as the database's budget counts it.
  MemoryUse Memory() const;
  // The same; REQUIRES mu_ and graph_mu_ held (shared at least).
  MemoryUse MemoryLocked() const;

  const CollectionSpec& spec() const { return desc_.spec; }
  uint32_t cid() const { return desc_.cid; }
  CollectionInfo Info() const;

  Status Write(const InsertBatch& batch, bool upsert, bool sync);
  Result<uint64_t> Delete(std::span<const Key> ids, bool sync);
  Result<Record> Get(const Key& id, uint32_t dims) const;
  Result<std::vector<Hit>> ExactSearch(std::span<const float> query,
                                       const ExactSearchOptions& options) const;
  Result<std::vector<Hit>> Search(std::span<const float> query, const SearchOptions& options,
                                  SearchStats* stats) const;
  Result<std::vector<std::vector<Hit>>> SearchBatch(std::span<const float> queries, size_t n,
                                                    const SearchOptions& options) const;
  // Default plans (engine/tune.cc, engine/default_plan.cc; docs/architecture.md, "Default
  // plans"). Tune runs its searches one at a time, each under mu_ shared: writers wait for at
  // most one search, never for the whole tune.
  Result<TuneReport> Tune(const TuneOptions& options);
  // A set of tuning queries (engine/tune.cc).
  struct TuneSample {
    std::vector<float> queries;  // row-major, n x dim
    std::vector<Key> self;       // sampled rows: each query's own id; real queries: empty
    std::vector<uint64_t> self_rows;  // and its row, hidden from the graph walk
    std::vector<std::vector<Hit>> truth;  // exact top max(k, wide k), self left out
    size_t n = 0;
  };
  Status SetDefaultPlan(const SearchPlan& plan);
  // The background tuner's two steps, called by one thread. AutoTuneDue: whether the graph is
  // built, at least `min_rows` rows are live and the policy wants a (re-)tune now. AutoTune:
  // Tune for spec().target_recall at k = 10, stored as auto-tuned unless the default plan
  // changed meanwhile (a TUNE, SET or ALTER wins); Cancelled once CancelTuning was called.
  bool AutoTuneDue(uint64_t min_rows) const;
  Status AutoTune();
  // The background graph chooser (DatabaseOptions::auto_graph), on the same thread: due once
  // an auto-tuned plan is in force on the built graph, enough rows are live, and they doubled
  // since its last choice (or an ALTER of the graph). AutoChooseGraph measures the candidate
  // prefixes and code types on a sample (engine/graph_advisor.h), records what it measured and
  // chose, and when another graph is clearly cheaper starts its rebuild as ALTER does.
  bool AutoGraphDue() const;
  Status AutoChooseGraph();
  // The device graph (engine/device_graph.cc; docs/architecture.md, "The GPU graph"). Due when
  // the collection has a device copy (it was searched on the GPU) and no usable graph, or too
  // many rows came after it; BuildDeviceGraph builds it on the device (synchronously; the
  // background tuner thread calls it when due) and saves it in <db>/gpu/.
  bool DeviceGraphDue() const;
  Status BuildDeviceGraph();
  // VACUUM (engine/collection_vacuum.cc; Database::Vacuum): rewrites the complete row groups
  // that store rows dead at its start without them, one slice of rows per RocksDB write, then
  // compacts the collection's vector keys. Vacuums of one collection are serialized; writes and
  // searches go on. Cancelled by options.cancel and by CancelTuning / SetDropped.
  Result<VacuumReport> Vacuum(const VacuumOptions& options);
  // Whether the background vacuum is due: the rows that died since the last vacuum are at least
  // `share` of the rows stored and at least `min_rows`.
  bool VacuumDue(double share, uint64_t min_rows) const;
  // The background vacuum: Vacuum, with one log line saying what it freed or why it failed.
  void AutoVacuum();
  // Makes a running or later AutoTune or Vacuum stop without storing anything (the database
  // closes).
  void CancelTuning() { tune_cancel_ = true; }
  // The collection is being dropped (or, `dropped` false, the drop failed): cancels tuning and
  // makes descriptor writes (plans, ALTER) fail, so that none recreates its catalog entry.
  void SetDropped(bool dropped);
  // A new index_dim or graph codes record `advice` (the graph chooser's), or by default that
  // ALTER set them.
  Status Alter(const AlterOptions& options, const GraphAdvice* advice = nullptr);
  // Matryoshka analysis (mrldb/predict.h): engine/predict.cc, engine/predict_tune.cc,
  // engine/analyze.cc. Each search holds mu_ shared on its own, as Tune's do.
  Result<Prediction> Predict(std::span<const float> query, const PredictOptions& options,
                             PredictStats* stats) const;
  Result<std::vector<Prediction>> PredictBatch(std::span<const float> queries, size_t n,
                                               const PredictOptions& options,
                                               PredictStats* stats) const;
  Result<PredictCalibration> TunePredict(const TunePredictOptions& options);
  Result<PrefixAnalysis> Analyze(const AnalyzeOptions& options);
  Result<std::vector<Disagreement>> Disagreements(const DisagreementOptions& options) const;
  // ALTER ... ADD / DROP COLUMN (options.add_column or drop_column): waits for the writes in
  // flight, then changes the descriptor and the in-memory columns at once.
  Status AlterColumns(const AlterOptions& options);
  Result<std::vector<Record>> Find(const FindOptions& options) const;
  Result<SearchPlan> Explain(const SearchOptions& options) const;
  // Where a search of `queries` queries with `options` would run now, and why (EXPLAIN):
  // "cpu: no device (...)", "gpu: measured 0.8 us/query vs cpu 2.1 us/query at batch 1024".
  Result<std::string> ExplainPlacement(const SearchOptions& options, size_t queries) const;
  // The placement model's entries (SHOW PLACEMENT).
  std::vector<PlacementEstimate> PlacementEstimates() const { return placement_.Estimates(); }
  // What the collection holds in device memory (SHOW MEMORY, DESCRIBE).
  DeviceMemoryUse DeviceMemory() const;
  Result<ScanStats> ScanPrefix(uint32_t dims, Database::ScanSink sink, void* ctx) const;
  // Adds up to `max_rows` rows not yet in the HNSW graph (the background indexer's step).
  // Returns true when it did some work. Runs under the shared lock: searches go on meanwhile.
  bool IndexStep(size_t max_rows);
  bool IndexPending() const;
  // Called after every committed write (wakes the background indexer).
  void SetWriteListener(std::function<void()> fn) { on_write_ = std::move(fn); }
  // Called after a committed write that made the column cache take more memory (the memory
  // budget's planner runs again). Set before any write runs.
  void SetGrowListener(std::function<void()> fn) { on_grow_ = std::move(fn); }
  // What the running lists of one storage scan for a group of queries may hold (ScanGroup):
  // a share of the memory budget, set by the database. Set before any search runs.
  void SetScanScratchBytes(uint64_t bytes) { scan_scratch_bytes_ = bytes; }
  // Saves the HNSW graph (with the rows it covers) if it changed since the last save. Holds the
  // graph lock shared for the save's duration: searches go on; the indexer's adds, resizes and
  // deletion marks wait or are deferred (writers never wait for a save). Saves are serialized.
  Status SaveIndex();
  // Whether a background checkpoint is due: the graph changed and `rows` (0: never) rows were
  // indexed or marked deleted, or `seconds` (0: never) passed, since the last save (or load).
  bool CheckpointDue(uint64_t rows, double seconds) const;
  // Removes the saved graph files; `forever` (the collection is being dropped) also stops later
  // saves from writing new ones.
  void RemoveIndexFiles(bool forever);
  // Copies the saved graph files to `to` (the path of the copy's graph), no save running
  // meanwhile; adds the bytes to *bytes (BACKUP).
  Status CopyIndexFiles(const std::string& to, uint64_t* bytes);
  // Testing only: called by a group commit's leader right before its RocksDB write, holding no
  // lock a reader takes (mu_, graph_mu_) nor write_mu_. Set before any write runs.
  void SetCommitHookForTesting(std::function<void()> hook) { commit_hook_ = std::move(hook); }
  // Testing only: writes queued for or in a group commit.
  size_t QueuedWritesForTesting();

 private:
  friend class MatryoshkaAnalysis;  // engine/predict_internal.h
  struct ResolvedPlan {
    std::vector<FunnelStage> stages;  // validated; the last keeps k
    uint32_t ef = 0;
    bool hnsw = false;  // stage 0 may use the graph
    // How EXPLAIN shows an exact or prefix plan (unset: a funnel, shown from its stages). Text
    // is made only when asked for (EXPLAIN, stats), never on the search path.
    std::optional<SearchPlan> shown;
    SearchPlan Shown() const { return shown ? *shown : SearchPlan::Funnel(stages, ef); }
  };
  // One Write or Delete waiting in, or being committed by, the commit queue
  // (engine/collection_write.cc).
  struct PendingWrite;
  // Waits until none of `ids` is in flight (REQUIRES `wl` holds write_mu_); then the ids' entries
  // in keys_ cannot change until they are released.
  void WaitForIds(std::unique_lock<std::mutex>& wl, const std::vector<const Key*>& ids) const;
  // Holds w's ids, queues w, and returns once w is committed (or failed): by a leader, which may
  // be this thread. REQUIRES `wl` holds write_mu_; returns with it held.
  Status Enqueue(std::unique_lock<std::mutex>& wl, PendingWrite* w);
  // The leader's work for `group` (the queue's first entries), holding no lock on entry: rows,
  // cache fill, one RocksDB write, publish. Errors: the RocksDB write's; nothing is published.
  Status CommitGroup(const std::vector<PendingWrite*>& group);

  struct FilterMatch {
    std::vector<uint8_t> bits;   // by row id: live and matching
    std::vector<uint64_t> rows;  // the matching rows, ascending
    bool brute_force = false;    // selective: stage 0 scans `rows`
  };

  // Checks one row of a batch and returns its attributes converted to the column types.
  Status ValidateRow(const InsertBatch& batch, size_t i, std::vector<Value>* attrs) const;
  Status CheckKeyType(const Key& key, std::string_view what) const;
  // A row's attribute values in stored-record order (desc_.Slot; NULL in dropped slots).
  std::vector<Value> StoredValues(const std::vector<Value>& attrs) const;
  std::string Where(const InsertBatch& batch, size_t i) const;
  Status CheckQuery(std::span<const float> query, uint32_t dims) const;
  Result<std::vector<int>> AttributeColumns(const std::vector<std::string>& names) const;
  Status CheckSearchOptions(const SearchOptions& options) const;

  // All below REQUIRE mu_ held (shared at least).
  Result<ResolvedPlan> ResolvePlan(const SearchPlan& plan, uint32_t k) const;
  // The default plan's stages and stage-0 ef for k: the stored plan re-derived for k, or the
  // derived plan (engine/default_plan.cc).
  std::vector<FunnelStage> DefaultStages(uint32_t k, uint32_t* ef) const;
  std::vector<FunnelStage> DerivedPlan(uint32_t k) const;
  // Makes `plan` the default and persists it (restoring the old one when the write fails);
  // a new generation. REQUIRES mu_ held exclusively.
  Status StorePlan(DefaultPlan plan);
  // The DefaultPlan a tune measured (stages keeping `options.k` last).
  static DefaultPlan PlanFromReport(const TuneReport& report, const TuneOptions& options,
                                    PlanSource source);
  // Whether stage 0 of `plan` runs in the HNSW graph (else it scans).
  bool GraphFirst(const ResolvedPlan& plan, const FilterMatch* filter) const {
    return plan.hnsw && graph_ok_ && !graph_loading_ && !(filter && filter->brute_force);
  }
  Result<std::shared_ptr<const FilterMatch>> MatchFilter(const std::optional<Filter>& filter) const;
  Result<std::vector<Candidate>> RunPlan(const float* q, const ResolvedPlan& plan,
                                         const FilterMatch* filter, bool parallel,
                                         SearchStats* stats) const;
  // Stage 0 of one query: by the graph when GraphFirst (graph distances only) or by a scan.
  Status FirstStage(const float* q, const ResolvedPlan& plan, const FilterMatch* filter,
                  bool parallel, StageRecorder& record, std::vector<Candidate>* out) const;
  // Runs the stages from `from_stage` on with `reranker` over `lists` (one per query).
  Status RerankStages(const float* queries, size_t stride, const ResolvedPlan& plan,
                      size_t from_stage, uint32_t done, Reranker* reranker,
                      CandidateLists* lists, StageRecorder& record) const;
  // The whole plan for n queries on the GPU: stage 0 by the graph (CPU threads) or by GPU brute
  // force, the re-ranking stages on the GPU. `stats` only for n = 1.
  Result<std::vector<std::vector<Candidate>>> RunPlanGpu(const float* queries, size_t n,
                                                         size_t stride, const ResolvedPlan& plan,
                                                         const FilterMatch* filter,
                                                         gpu::DeviceBlocks* dev,
                                                         SearchStats* stats) const;
  // Brute force of n queries at `dims` on the GPU over the resident rows, the CPU over the rest.
  Result<std::vector<std::vector<Candidate>>> ScanTopKGpu(const float* queries, size_t n,
                                                          size_t stride, uint32_t dims,
                                                          size_t keep, const FilterMatch* filter,
                                                          gpu::DeviceBlocks* dev,
                                                          RerankSplit* split) const;
  // The device copy of the blocks for a search on `device` (kGpu or kAuto; kCpu: nullptr).
  // Makes the copy at the first GPU search. Errors (kGpu only): NotSupported, IOError; kAuto
  // logs the reason once and answers nullptr (device_error_ says why). REQUIRES mu_ held
  // (shared at least).
  Result<gpu::DeviceBlocks*> DeviceFor(Device device) const;
  // Where a search of n queries runs (engine/placement.cc; docs/architecture.md, "Placement"):
  // `dev` null is the CPU; `shape` is the placement model's key (empty: not the model's choice:
  // device 'cpu' or 'gpu', or a hard constraint); `reason` says where and why, for EXPLAIN.
  struct Placed {
    gpu::DeviceBlocks* dev = nullptr;
    std::string shape;
    std::string reason;
  };
  // `commit` false only looks (EXPLAIN): the model's counters do not move. Errors (kGpu only)
  // as DeviceFor. REQUIRES mu_ held (shared at least).
  Result<Placed> Place(Device device, size_t n, const ResolvedPlan& plan, const FilterMatch* filter,
                       bool commit) const;
  // A batch of n queries placed by `p` took `seconds` on the side it ran (`gpu`).
  void RecordPlacement(const Placed& p, size_t n, bool gpu, double seconds) const;
  // Copies rows [first, first + n) to the device copy when there is one; a failure drops the
  // copy (logged; later GPU searches fail or fall back). REQUIRES mu_ held exclusively.
  void SyncDevice(uint64_t first, uint64_t n);
  // The device graph's file, its save and load (checksum, shape and staleness checked),
  // and whether a plan runs whole on the device (graph first, a usable device graph, keeps
  // within the device's limit). REQUIRES mu_ held (shared at least) for the last three.
  std::string DeviceGraphPath() const;
  std::shared_ptr<gpu::DeviceBlocks> DeviceCopy() const;
  Status SaveDeviceGraph(const std::vector<uint32_t>& edges, uint64_t rows, uint32_t dims) const;
  void RemoveDeviceGraphFile() const;
  Status LoadDeviceGraph(gpu::DeviceBlocks* dev) const;
  bool DeviceGraphUsable(const gpu::DeviceBlocks& dev) const;
  bool FunnelOnDevice(const ResolvedPlan& plan, const FilterMatch* filter,
                      const gpu::DeviceBlocks& dev) const;
  // The whole plan in one device call: the walk of the device graph, then the re-ranks.
  Result<std::vector<std::vector<Candidate>>> RunFunnelOnDevice(const float* queries, size_t n,
                                                                size_t stride,
                                                                const ResolvedPlan& plan,
                                                                const FilterMatch* filter,
                                                                gpu::DeviceBlocks* dev,
                                                                SearchStats* stats) const;
  // Copies rows [first, first + n) of every block, and their prefix norms, to `d`.
  Status CopyRowsToDevice(gpu::DeviceBlocks* d, uint64_t first, uint64_t n) const;
  // The `keep` best rows at prefix `dims` by brute force over all live rows or over `subset`;
  // non-resident blocks are read from storage (`io` adds the reads).
  Result<std::vector<Candidate>> ScanTopK(const float* q, uint32_t dims, size_t keep,
                                          const std::vector<uint64_t>* subset, bool parallel,
                                          uint64_t* bytes_read, storage::ReadCounters* io) const;
  // ScanTopK's full scan for n queries (query i at queries + i * stride) at once: blocks that
  // are not resident are read from storage once for all of them. `parallel`: chunks (resident)
  // or queries (storage) run on the pool; the caller must not be a pool worker.
  // A storage scan stops at the next chunk once `cancel` (may be null) is set: Cancelled.
  Result<std::vector<std::vector<Candidate>>> ScanTopKMany(const float* queries, size_t n,
                                                           size_t stride, uint32_t dims,
                                                           size_t keep, bool parallel,
                                                           storage::ReadCounters* io,
                                                           const std::atomic<bool>* cancel) const;
  // How many of the next `n` queries one storage scan serves when each holds running lists of
  // `bytes_per_query`: as many as fit in the scan scratch (SetScanScratchBytes), at least
  // kMinScanGroup. Each further group reads every non-resident block from storage once more.
  static constexpr size_t kMinScanGroup = 64;
  size_t ScanGroup(size_t n, size_t bytes_per_query) const {
    const size_t fit = bytes_per_query ? scan_scratch_bytes_ / bytes_per_query : n;
    return std::min(n, std::max(kMinScanGroup, fit));
  }
  // Sets each candidate's additive score (dot, or squared L2) over [0, dims).
  Status PrefixScores(const float* q, uint32_t dims, CandidateLists* lists) const;
  BlockStorage Storage() const { return {kv_, desc_.cid}; }
  float FinalDistance(double acc, double q_sq, double x_sq) const {
    return mrldb::FinalDistance(spec().metric, acc, q_sq, x_sq);
  }
  Result<std::vector<float>> RowPrefix(uint64_t row, uint32_t dims) const;
  Result<std::vector<Hit>> MakeHits(const std::vector<Candidate>& best, const std::vector<int>& columns,
                            uint32_t vector_dims) const;

  // The unit-normalized (cosine) or raw index prefixes of the live rows among first, first +
  // stride, ... below end. REQUIRES mu_ held, the index blocks resident.
  void CopyPrefixes(uint64_t first, uint64_t end, std::vector<uint64_t>* rows,
                    std::vector<float>* prefixes, uint64_t stride = 1) const;
  // Rows sampled to train a graph's int8 codes.
  static constexpr uint64_t kTrainRows = 8192;
  // Makes the graph's capacity cover next_row_, unless a save is in progress (the indexer
  // reserves before it adds). REQUIRES mu_ held exclusively.
  Status ReserveGraph();
  // Marks `rows` deleted in the graph, or, while a save holds the graph lock, queues the marks
  // for the indexer (searches drop dead rows by live_ meanwhile). REQUIRES mu_ held.
  void MarkGraphDeleted(const std::vector<uint64_t>& rows);
  // Runs `f` under graph_mu_ exclusively and returns true, or returns false without running it
  // when a save is in progress.
  template <typename F> bool WithGraphExclusive(F&& f);
  // Applies the queued deletion marks. REQUIRES graph_mu_ held exclusively.
  void ApplyDeferredMarks();
  // Makes the graph's capacity cover `rows`, unless a save is in progress (the indexer reserves
  // before it adds). REQUIRES mu_ held (shared at least).
  Status ReserveGraphFor(uint64_t rows);
  // REQUIRES mu_ held exclusively.
  Status RebuildIndex(std::string_view why);
  // Checks the loaded graph `g` against live_ (marking the rows deleted since its save) and
  // sets *upto to the rows it covers. REQUIRES mu_ held (shared at least) and no publish
  // running (fill_mu_ held); `g` is not shared yet.
  Status ReconcileIndex(PrefixIndex* g, uint64_t covered, uint64_t* upto);
  // While the rows load (rows_loading_): where id `id` lives, from keys_ for rows written since
  // the open and from RocksDB's id index for the others (nullopt: not stored). REQUIRES mu_
  // held (shared at least) and no write of `id` in flight.
  Result<std::optional<uint64_t>> LookupLoading(const Key& id) const;
  // While the rows load: the stored record (id and attributes, in column order) of live row
  // `row` < rows_at_open_, from RocksDB or, when a commit in progress deleted it there, from
  // deleting_records_. REQUIRES mu_ held (shared at least).
  Status RecordsLoading(std::span<const uint64_t> rows, std::vector<Key>* keys,
                        std::vector<std::vector<Value>>* attrs) const;
  // Decodes a record stored under descriptor `d` into the id and the attributes in column order.
  static Status DecodeRecord(const storage::CollectionDescriptor& d, std::string_view bytes,
                             Key* key, std::vector<Value>* attrs);
  // Get once the rows are loaded, and while they load (dims checked by Get).
  Result<Record> GetLoaded(const Key& id, uint32_t dims) const;
  Result<Record> GetLoading(const Key& id, uint32_t dims) const;
  Status WriteDescriptor();

  storage::CollectionDescriptor desc_;
  const storage::Ladder ladder_;
  storage::KvStore* const kv_;
  ThreadPool* const pool_;
  ThreadPool* const index_pool_;
  const std::string index_path_;
  const LogFn log_;

  // Held shared by every Write and Delete for its whole run, exclusively by AlterColumns: the
  // attribute columns a writer validated against do not change under it. Lock order:
  // schema_mu_, write_mu_, mu_.
  std::shared_mutex schema_mu_;
  // Writers: the in-flight ids and the commit queue. Lock order: write_mu_, then mu_.
  // Mutable: a point read while the rows load waits for the writes of its id (GetLoading).
  mutable std::mutex write_mu_;
  mutable std::condition_variable write_cv_;
  std::unordered_set<Key, KeyHash> inflight_ids_;           // GUARDED_BY(write_mu_)
  std::deque<PendingWrite*> write_queue_;                   // GUARDED_BY(write_mu_) front leads
  std::function<void()> commit_hook_;

  // Readers share mu_; a group commit's publish and the admin operations (Load, Alter, plans)
  // take it exclusively. next_row_ (the published row count), the column cache's chunk tables
  // and keys_ change only under mu_ exclusive, and only a commit leader (one at a time) changes
  // them, so the leader also reads them without mu_. Rows at or past next_row_ are read by no
  // reader: the leader fills them in the cache before publishing.
  mutable std::shared_mutex mu_;
  uint64_t next_row_ = 0;                                   // GUARDED_BY(mu_)
  uint64_t live_rows_ = 0;                                  // GUARDED_BY(mu_)
  // keys_: the id of every row, and which row each id lives in (a lookup: keys_.Find).
  RowKeys keys_;                                            // GUARDED_BY(mu_)
  std::vector<uint8_t> live_;                               // GUARDED_BY(mu_) by row id
  std::vector<std::vector<Value>> attrs_;                   // GUARDED_BY(mu_) [column][row]
  ColumnCache cache_;  // GUARDED_BY(mu_) below next_row_; the commit leader's above it
  // Residency. fill_mu_ is held by a commit leader from its cache fill to its publish, and by
  // whoever changes cache_.held(): so every group is filled into exactly the blocks held when it
  // is published (the loader copies the rows published before it held a block from storage).
  // Lock order: write_mu_, fill_mu_, mu_. load_mu_ serializes LoadBlocks and the release of
  // blocks (taken before fill_mu_); wanted_ changes bump load_generation_, which stops a load.
  mutable std::mutex fill_mu_;
  std::mutex load_mu_;
  std::atomic<size_t> wanted_blocks_;
  std::atomic<uint64_t> load_generation_{0};
  std::atomic<bool> load_failed_{false};  // a load met an error (logged); no more tries
  storage::GroupTails tails_;  // the commit leader's (and Load's): partial last row groups
  // The graph has its own lock so that the background indexer adds rows without holding mu_
  // (writers are never blocked by it): searches take graph_mu_ shared; an indexer step's adds
  // (parallel among themselves), resizes and deletion marks take it exclusively, because hnswlib
  // searches read neighbour lists without locks. Lock order: mu_, then graph_mu_.
  // Timed, so that a writer can stop waiting when a save starts (WithGraphExclusive).
  mutable std::shared_timed_mutex graph_mu_;
  // Replaced (under mu_ and graph_mu_ exclusively) by a rebuild; an indexer step holds its own
  // reference and drops its work when the generation moved on meanwhile.
  std::shared_ptr<PrefixIndex> graph_;
  std::atomic<uint64_t> graph_generation_{0};
  // Rows below this are in the graph (or were dead when their turn came); rows at or above it
  // are searched by a brute-force scan of the "tail" until the background indexer gets there.
  std::atomic<uint64_t> indexed_upto_{0};
  std::atomic<bool> graph_ok_{true};      // false: an insert failed; stage 0 scans
  std::atomic<bool> graph_dirty_{false};  // changed since the last save
  // Checkpoints (SaveIndex). Lock order: mu_, save_mu_, graph_mu_.
  std::mutex save_mu_;                        // serializes saves and file removal
  bool saves_disabled_ = false;               // GUARDED_BY(save_mu_): dropped
  std::atomic<bool> saving_{false};           // a save holds graph_mu_ shared
  std::atomic<uint64_t> changes_since_save_{0};  // rows indexed + deletion marks
  std::atomic<int64_t> last_save_ns_{0};      // steady clock: last save, or construction
  std::atomic<int64_t> retry_after_ns_{0};    // steady clock: no background save before
  mutable std::mutex deferred_mu_;
  std::vector<uint64_t> deferred_marks_;      // GUARDED_BY(deferred_mu_)
  std::function<void()> on_write_;
  std::function<void()> on_grow_;
  uint64_t scan_scratch_bytes_ = 0;
  DefaultPlan plan_;                                        // GUARDED_BY(mu_)
  uint64_t plan_generation_ = 0;  // GUARDED_BY(mu_) bumped by every change of plan_
  // The auto-tuner's last attempt: not again for the same plan and target until the rows grew
  // by half (a target it cannot reach, or a failure, is not retried in a loop).
  struct TuneAttempt {
    uint64_t generation = 0, rows = 0;
    double target = 0;
    bool made = false;
  } attempt_;                                               // GUARDED_BY(mu_)
  bool dropped_ = false;                                    // GUARDED_BY(mu_)
  std::atomic<bool> tune_cancel_{false};  // also stops a vacuum
  // Vacuum (engine/collection_vacuum.cc). vacuum_mu_ serializes vacuums; vacuum_write_mu_ is
  // held by a vacuum around each of its writes and taken by SetDropped once tune_cancel_ is
  // set, so that no vacuum write lands after the drop's and brings back a dropped group.
  std::mutex vacuum_mu_;
  std::mutex vacuum_write_mu_;
  uint64_t vacuumed_dead_ = 0;  // GUARDED_BY(mu_) dead rows the last vacuum covered ('x')
  std::atomic<uint64_t> graph_attempt_rows_{0};  // live rows at the graph chooser's last attempt
  // Open in seconds (engine/collection_open.cc). Load leaves the graph and the ids and
  // attributes of the rows stored at open to the background loader. Until LoadGraph installs
  // the graph, graph_ is an empty placeholder the indexer, saves and resizes leave alone, and
  // stage 0 scans. Until LoadRows installs the rows, keys_ and attrs_ hold only the rows
  // written since the open (row ids >= rows_at_open_); live_ and live_rows_ are complete (from
  // the tombstones). A commit's publish records there the older rows it kills, and a commit
  // leader keeps the records of the older rows it deletes in deleting_records_ from before its
  // RocksDB write until its publish, so that a search that still sees them live can name them.
  std::atomic<bool> graph_loading_{false};
  std::atomic<bool> rows_loading_{false};
  uint64_t rows_at_open_ = 0;      // set by Load
  uint64_t graph_file_bytes_ = 0;  // the saved graph's size: its memory until it is loaded
  std::vector<uint64_t> died_while_loading_;                // GUARDED_BY(mu_)
  mutable std::mutex deleting_mu_;
  std::unordered_map<uint64_t, std::string> deleting_records_;  // GUARDED_BY(deleting_mu_)
  mutable std::mutex rows_wait_mu_;
  mutable std::condition_variable rows_cv_;
  Status rows_status_;      // GUARDED_BY(rows_wait_mu_) a failed or stopped load
  bool rows_done_ = true;  // GUARDED_BY(rows_wait_mu_) loaded, failed or stopped
  const GpuSettings gpu_settings_;
  // The device copy of the column blocks, made at the first GPU search (under mu_ shared, so
  // no publish is in progress) and kept in step by every publish (under mu_ exclusive).
  mutable std::mutex device_mu_;
  // Shared: a device graph build holds it outside mu_ (a failed update may drop the copy).
  mutable std::shared_ptr<gpu::DeviceBlocks> device_;       // GUARDED_BY(device_mu_)
  // index_dim the device graph was built at (0: none): a graph at another prefix is not used.
  mutable std::atomic<uint32_t> device_graph_dims_{0};
  // next_row_ when a device graph build last failed (~0: none): not retried until it moves.
  std::atomic<uint64_t> device_graph_failed_at_{~uint64_t{0}};
  // Changes whenever live_ does (under mu_ exclusive): the device keeps the mask of a version.
  uint64_t live_version_ = 1;                               // GUARDED_BY(mu_)
  mutable std::string device_error_;                        // GUARDED_BY(device_mu_) sticky
  mutable bool device_logged_ = false;                      // GUARDED_BY(device_mu_)
  // Device 'auto': where batches ran faster, by plan shape and batch size (thread-safe).
  mutable PlacementModel placement_;
};

}  // namespace mrldb
