#include "mrldb/database.h"

#include <filesystem>
#include <map>
#include <memory>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <shared_mutex>

#include <fmt/format.h>

#include "cuda/gpu_info.h"
#include "engine/collection.h"
#include "engine/database_internal.h"
#include "engine/residency.h"
#include "engine/thread_pool.h"
#include "storage/catalog.h"
#include "storage/key_format.h"
#include "storage/kv_store.h"

namespace mrldb {

Database::~Database() = default;

namespace {

class DatabaseImpl final : public Database {
 public:
  DatabaseImpl(std::string path, std::unique_ptr<storage::KvStore> kv,
               const DatabaseOptions& options)
      : options_(options), path_(std::move(path)), kv_(std::move(kv)), pool_(options.threads),
        index_pool_(options.threads) {
    log_ = options.info_log ? options.info_log
                            : LogFn([](std::string_view line) { fmt::print(stderr, "mrldb: {}\n", line); });
    residency_ = std::make_unique<Residency>(options.memory_budget_bytes, kv_.get(), log_, [this] {
      std::shared_lock lock(mu_);
      std::vector<std::shared_ptr<Collection>> all;
      for (auto& [name, c] : collections_) all.push_back(c);
      return all;
    }, options.load_hook);
  }

  // The budget against what the loaded collections must keep in memory.
  Status PlanMemory() { return residency_->Plan(/*at_open=*/true); }

  void StartIndexer() {
    indexer_ = std::thread([this] { IndexerLoop(); });
    if (Background()) tuner_ = std::thread([this] { TunerLoop(); });
    residency_->Start();
  }

  void StopIndexer() {
    {
      std::lock_guard<std::mutex> l(indexer_mu_);
      indexer_stop_ = true;
    }
    {
      // A running tune stops at its next query; its plan is not stored.
      std::shared_lock lock(mu_);
      for (auto& [name, c] : collections_) c->CancelTuning();
    }
    indexer_cv_.notify_all();
    tuner_cv_.notify_all();
    if (indexer_.joinable()) indexer_.join();
    if (tuner_.joinable()) tuner_.join();
    residency_->Stop();
  }

  // Whether the tuner's thread runs: background tuning or vacuum is on.
  bool Background() const { return options_.auto_tune || options_.auto_vacuum_share > 0; }

  // Background self-tuning and vacuum, on a thread of its own: a tune or a vacuum runs for
  // seconds to minutes and must not hold up the indexer's steps or checkpoints. Every half
  // second it vacuums the collections whose vacuum is due (Collection::VacuumDue), then tunes
  // those whose tune is due (Collection::AutoTuneDue), one at a time.
  void TunerLoop() {
    for (;;) {
      {
        std::unique_lock<std::mutex> l(indexer_mu_);
        tuner_busy_ = false;
        tuner_idle_cv_.notify_all();
        tuner_cv_.wait_for(l, std::chrono::milliseconds(500),
                           [&] { return indexer_stop_ || tuner_wake_; });
        if (indexer_stop_) return;
        tuner_wake_ = false;
        tuner_busy_ = true;  // this pass: WaitForTuning waits for it to end
      }
      std::vector<std::shared_ptr<Collection>> all;
      {
        std::shared_lock lock(mu_);
        for (auto& [name, c] : collections_) all.push_back(c);
      }
      for (auto& c : all) {
        if (VacuumDue(*c)) c->AutoVacuum();
        if (!options_.auto_tune) continue;
        Status st;
        if (c->AutoTuneDue(options_.auto_tune_min_rows)) {
          st = c->AutoTune();
        } else if (options_.auto_graph && c->AutoGraphDue()) {
          st = c->AutoChooseGraph();
          WakeIndexer();  // a rebuild may have started
        } else if (c->DeviceGraphDue()) {
          if (Status g = c->BuildDeviceGraph(); !g.ok()) {
            log_(fmt::format("collection '{}': background device graph build failed (GPU searches "
                             "go on without it): {}", c->spec().name, g.message()));
          }
        }
        if (!st.ok() && st.code() != Status::Code::kCancelled) {
          log_(fmt::format("collection '{}': background tuning failed (the plan and graph in "
                           "force stay): {}", c->spec().name, st.message()));
        }
      }
    }
  }

  bool VacuumDue(const Collection& c) const {
    return c.VacuumDue(options_.auto_vacuum_share, options_.auto_vacuum_min_rows);
  }

  Status WaitForTuning() override {
    // The tuner skips a collection until its background load is done.
    MRLDB_RETURN_IF_ERROR(WaitForLoading());
    if (!Background()) return WaitForIndexing(IndexWaitOptions{});
    for (;;) {
      // Each round: a graph the chooser rebuilt must be built before its plan is tuned.
      MRLDB_RETURN_IF_ERROR(WaitForIndexing(IndexWaitOptions{}));
      bool due = false;
      {
        std::shared_lock lock(mu_);
        MRLDB_RETURN_IF_ERROR(CheckOpen());
        for (auto& [name, c] : collections_) {
          due |= VacuumDue(*c) ||
                 (options_.auto_tune && (c->AutoTuneDue(options_.auto_tune_min_rows) ||
                                         (options_.auto_graph && c->AutoGraphDue())));
        }
      }
      std::unique_lock<std::mutex> l(indexer_mu_);
      // A pass that found (and so no longer shows) a due tune is still busy.
      if (!due && !tuner_busy_) return Status::Ok();
      tuner_wake_ = true;
      tuner_cv_.notify_all();
      tuner_idle_cv_.wait_for(l, std::chrono::milliseconds(20));
    }
  }

  // Background indexing: steps of 256 rows per collection in turn (a few milliseconds each), so
  // that searches, which wait for a step's adds, interleave with it; between rounds, the
  // collections whose checkpoint is due (DatabaseOptions::index_checkpoint_*) save their graph.
  void IndexerLoop() {
    for (;;) {
      std::vector<std::shared_ptr<Collection>> all;
      {
        std::shared_lock lock(mu_);
        for (auto& [name, c] : collections_) all.push_back(c);
      }
      bool worked = false;
      for (auto& c : all) worked |= c->IndexStep(256);
      // Background checkpoints, on this thread: a save excludes the graph's adds anyway.
      for (auto& c : all) {
        if (!c->CheckpointDue(options_.index_checkpoint_rows, options_.index_checkpoint_seconds)) {
          continue;
        }
        if (Status st = c->SaveIndex(); !st.ok()) {
          log_(fmt::format("collection '{}': background checkpoint of the HNSW graph failed: {}",
                           c->spec().name, st.message()));
        }
      }
      all.clear();
      if (residency_) residency_->TrimHeap();
      std::unique_lock<std::mutex> l(indexer_mu_);
      if (indexer_stop_) return;
      if (!worked) {
        indexer_idle_cv_.notify_all();
        indexer_cv_.wait_for(l, std::chrono::milliseconds(200),
                             [&] { return indexer_stop_ || indexer_wake_; });
        indexer_wake_ = false;
      }
    }
  }

  void WakeIndexer() {
    {
      std::lock_guard<std::mutex> l(indexer_mu_);
      indexer_wake_ = true;
    }
    indexer_cv_.notify_one();
  }

  Status WaitForIndexing(const IndexWaitOptions& options) override {
    for (bool first = true;; first = false) {
      // Looked up again each round: a named collection may be dropped, and "all" may grow.
      std::vector<std::shared_ptr<Collection>> waited;
      {
        std::shared_lock lock(mu_);
        MRLDB_RETURN_IF_ERROR(CheckOpen());
        if (options.collection.empty()) {
          for (auto& [name, c] : collections_) waited.push_back(c);
        } else if (auto it = collections_.find(options.collection); it != collections_.end()) {
          waited.push_back(it->second);
        } else {
          return first ? NoSuchCollection(options.collection)
                       : Status::NotFound(fmt::format("collection '{}' was dropped while "
                                                      "waiting for its index", options.collection));
        }
      }
      bool pending = false;
      for (auto& c : waited) pending |= c->IndexPending();
      if (!pending) return Status::Ok();
      if (options.cancel && *options.cancel) {
        uint64_t left = 0;
        for (auto& c : waited) left += c->Info().index_pending_rows;
        return Status::Cancelled(fmt::format("cancelled with {} rows not yet indexed", left));
      }
      if (!first && options.progress) {
        IndexProgress p;
        for (auto& c : waited) {
          const CollectionInfo info = c->Info();
          p.indexed_rows += info.index_live_rows;
          p.live_rows += info.live_rows;
        }
        options.progress(p);
      }
      waited.clear();
      WakeIndexer();
      std::unique_lock<std::mutex> l(indexer_mu_);
      indexer_idle_cv_.wait_for(l, std::chrono::milliseconds(20));
    }
  }
  ~DatabaseImpl() override {
    Close().IgnoreError();
    StopIndexer();
  }

  Status LoadCatalog() {
    const std::string prefix(storage::kCatalogPrefix);
    auto it = kv_->NewIterator(storage::Cf::kDefault, prefix, storage::PrefixSuccessor(prefix));
    for (it->SeekToFirst(); it->get().Valid(); it->get().Next()) {
      rocksdb::Slice v = it->get().value();
      MRLDB_ASSIGN_OR_RETURN(storage::CollectionDescriptor d,
                             storage::DecodeDescriptor(std::string_view(v.data(), v.size())));
      auto c = MakeCollection(std::move(d));
      MRLDB_RETURN_IF_ERROR(c->Load());
      c->SetWantedBlocks(FirstWanted(*c));
      collections_[c->spec().name] = std::move(c);
    }
    return storage::FromRocks(it->get().status(), "loading catalog");
  }

  Status Close() override {
    StopIndexer();
    std::unique_lock lock(mu_);
    if (!kv_) return Status::Ok();
    Status st = SaveIndexesLocked();
    collections_.clear();
    Status closed = kv_->Close();
    if (st.ok()) st = closed;
    kv_.reset();
    return st;
  }

  Status CreateCollection(CollectionSpec spec) override {
    MRLDB_RETURN_IF_ERROR(spec.Validate());
    spec.default_plan = DefaultPlan{};  // a new collection's plan is derived until tuned
    spec.analysis = PrefixAnalysis{};     // and it is analysed and calibrated by its own rows
    spec.calibrations.clear();
    std::unique_lock lock(mu_);
    MRLDB_RETURN_IF_ERROR(CheckOpen());
    if (collections_.count(spec.name)) {
      return Status::AlreadyExists(fmt::format("collection '{}' already exists", spec.name));
    }
    std::string next;
    uint32_t cid = 1;
    Status st = kv_->Get(storage::Cf::kDefault, storage::kNextCidKey, &next);
    if (st.ok() && next.size() == 4) {
      cid = storage::DecodeFixed32(next.data());
    } else if (!st.IsNotFound()) {
      return st.ok() ? Status::Corruption("next collection id record is not 4 bytes") : st;
    }
    storage::CollectionDescriptor d;
    d.cid = cid;
    d.spec = std::move(spec);
    rocksdb::WriteBatch wb;
    auto* cf = kv_->handle(storage::Cf::kDefault);
    wb.Put(cf, storage::CatalogKey(d.spec.name), storage::EncodeDescriptor(d));
    next.clear();
    storage::PutFixed32(&next, cid + 1);
    wb.Put(cf, storage::kNextCidKey, next);
    MRLDB_RETURN_IF_ERROR(kv_->Write(&wb, /*sync=*/true));
    auto c = MakeCollection(std::move(d));
    c->SetWantedBlocks(FirstWanted(*c));
    c->RemoveIndexFiles(/*forever=*/false);  // a stale graph of an earlier database at this path
    collections_[c->spec().name] = std::move(c);
    residency_->Wake();
    return Status::Ok();
  }

  Status DropCollection(std::string_view name) override {
    std::unique_lock lock(mu_);
    MRLDB_RETURN_IF_ERROR(CheckOpen());
    auto it = collections_.find(std::string(name));
    if (it == collections_.end()) return NoSuchCollection(name);
    const uint32_t cid = it->second->cid();
    rocksdb::WriteBatch wb;
    wb.Delete(kv_->handle(storage::Cf::kDefault), storage::CatalogKey(name));
    for (char tag : {storage::kTagAllocator, storage::kTagIdIndex, storage::kTagRow,
                     storage::kTagTombstone, storage::kTagVacuumed}) {
      std::string p = storage::CollectionPrefix(tag, cid);
      wb.DeleteRange(kv_->handle(storage::Cf::kRows), p, storage::PrefixSuccessor(p));
    }
    std::string p = storage::CollectionPrefix(storage::kTagSegment, cid);
    wb.DeleteRange(kv_->handle(storage::Cf::kVectors), p, storage::PrefixSuccessor(p));
    // No plan store or ALTER may rewrite the descriptor once it is deleted.
    it->second->SetDropped(true);
    if (Status st = kv_->Write(&wb, /*sync=*/true); !st.ok()) {
      it->second->SetDropped(false);
      return st;
    }
    it->second->RemoveIndexFiles(/*forever=*/true);
    collections_.erase(it);
    return Status::Ok();
  }

  std::vector<std::string> ListCollections() const override {
    std::shared_lock lock(mu_);
    std::vector<std::string> names;
    for (const auto& [name, c] : collections_) names.push_back(name);
    return names;
  }

  Result<CollectionInfo> DescribeCollection(std::string_view name) const override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(name));
    // After an open the counts are the saved graph's once it and the ids are in: give the
    // background loader's first two parts up to 2 s (a load held longer, or a large one, is
    // reported as it stands: the graph "0 indexed" until it is in).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!c->RowsLoaded() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return c->Info();
  }

  Status Insert(std::string_view collection, const InsertBatch& batch,
                const WriteOptions& wopts) override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->Write(batch, /*upsert=*/false, Sync(wopts));
  }

  Status Upsert(std::string_view collection, const InsertBatch& batch,
                const WriteOptions& wopts) override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->Write(batch, /*upsert=*/true, Sync(wopts));
  }

  Result<uint64_t> Delete(std::string_view collection, std::span<const Key> ids,
                          const WriteOptions& wopts) override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->Delete(ids, Sync(wopts));
  }

  Result<Record> Get(std::string_view collection, const Key& id, uint32_t dims) const override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->Get(id, dims);
  }

  Result<std::vector<Hit>> ExactSearch(std::string_view collection, std::span<const float> query,
                                       const ExactSearchOptions& options) const override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->ExactSearch(query, options);
  }

  Result<std::vector<Hit>> Search(std::string_view collection, std::span<const float> query,
                                  const SearchOptions& options, SearchStats* stats) const override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->Search(query, options, stats);
  }

  Result<std::vector<std::vector<Hit>>> SearchBatch(std::string_view collection,
                                                    std::span<const float> queries, size_t n,
                                                    const SearchOptions& options) const override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->SearchBatch(queries, n, options);
  }

  Result<TuneReport> Tune(std::string_view collection, const TuneOptions& options) override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->Tune(options);
  }

  Result<Prediction> Predict(std::string_view collection, std::span<const float> query,
                             const PredictOptions& options, PredictStats* stats) const override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->Predict(query, options, stats);
  }

  Result<std::vector<Prediction>> PredictBatch(std::string_view collection,
                                               std::span<const float> queries, size_t n,
                                               const PredictOptions& options,
                                               PredictStats* stats) const override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->PredictBatch(queries, n, options, stats);
  }

  Result<PredictCalibration> TunePredict(std::string_view collection,
                                         const TunePredictOptions& options) override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->TunePredict(options);
  }

  Result<PrefixAnalysis> Analyze(std::string_view collection, const AnalyzeOptions& options) override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->Analyze(options);
  }

  Result<std::vector<Disagreement>> Disagreements(std::string_view collection,
                                                  const DisagreementOptions& options) const override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->Disagreements(options);
  }

  Result<SearchPlan> ExplainPlan(std::string_view collection,
                                 const SearchOptions& options) const override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->Explain(options);
  }

  Result<std::string> ExplainPlacement(std::string_view collection, const SearchOptions& options,
                                       size_t queries) const override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->ExplainPlacement(options, queries);
  }

  Result<std::vector<PlacementEstimate>> GetPlacement(std::string_view collection) const override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->PlacementEstimates();
  }

  Result<std::vector<Record>> Find(std::string_view collection,
                                   const FindOptions& options) const override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->Find(options);
  }

  Status AlterCollection(std::string_view collection, const AlterOptions& options) override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    MRLDB_RETURN_IF_ERROR(c->Alter(options));
    WakeIndexer();
    residency_->Wake();  // the index blocks may have changed
    return Status::Ok();
  }

  Status SetDefaultPlan(std::string_view collection, const SearchPlan& plan) override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->SetDefaultPlan(plan);
  }

  Result<std::vector<GpuDeviceInfo>> GpuDevices() const override {
    if (!options_.gpu) return Status::NotSupported("GPU searches are disabled by DatabaseOptions::gpu = false");
    MRLDB_ASSIGN_OR_RETURN(auto devices, gpu::ListDevices());
    std::vector<GpuDeviceInfo> out;
    for (const auto& d : devices) {
      out.push_back({d.index, d.name, d.compute_major, d.compute_minor, d.total_memory, d.multiprocessors});
    }
    return out;
  }

  Status BuildGpuGraph(std::string_view collection) override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->BuildDeviceGraph();
  }

  Status Checkpoint() override {
    std::shared_lock lock(mu_);
    MRLDB_RETURN_IF_ERROR(CheckOpen());
    return SaveIndexesLocked();
  }

  Result<VacuumReport> Vacuum(std::string_view collection, const VacuumOptions& options) override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->Vacuum(options);
  }

  Status Backup(const std::string& dir, const std::function<bool(uint64_t)>& progress) override {
    std::shared_lock lock(mu_);  // no collection is created or dropped meanwhile
    MRLDB_RETURN_IF_ERROR(CheckOpen());
    std::vector<Collection*> all;
    for (const auto& [name, c] : collections_) all.push_back(c.get());
    return BackupDatabase(dir, all, kv_.get(), progress);
  }

  Result<ScanStats> ScanPrefix(std::string_view collection, uint32_t dims, ScanSink sink,
                               void* ctx) const override {
    MRLDB_ASSIGN_OR_RETURN(auto c, FindCollection(collection));
    return c->ScanPrefix(dims, sink, ctx);
  }

  StorageStats GetStorageStats() const override {
    std::shared_lock lock(mu_);
    if (!kv_) return {};
    storage::StorageReadStats r = kv_->ReadStats();
    return StorageStats{r.sst_bytes_read, r.iter_bytes_read};
  }

  Result<DatabaseMemory> GetMemory() const override {
    std::shared_lock lock(mu_);
    MRLDB_RETURN_IF_ERROR(CheckOpen());
    std::vector<std::pair<std::string, MemoryUse>> use;
    bool copies = false;
    for (const auto& [name, c] : collections_) {
      use.push_back({name, c->Memory()});
      use.back().second.device = c->DeviceMemory();
      copies |= use.back().second.device.copy;
    }
    DatabaseMemory m = residency_->Memory(use);
    // The device: listed without starting a CUDA context; free memory once a copy made one.
    auto devices = GpuDevices();
    if (!devices.ok()) {
      m.gpu_unavailable = devices.status().message();
    } else {
      for (const GpuDeviceInfo& d : *devices) {
        if (d.index == options_.gpu_device) m.gpu = d;
      }
      if (!m.gpu) m.gpu_unavailable = fmt::format("no CUDA device with index {}", options_.gpu_device);
      if (m.gpu && copies) {
        auto free_bytes = gpu::FreeMemory(options_.gpu_device);
        if (free_bytes.ok()) m.gpu->free_memory = *free_bytes;
      }
    }
    return m;
  }

  Status WaitForLoading() override {
    {
      std::shared_lock lock(mu_);
      MRLDB_RETURN_IF_ERROR(CheckOpen());
    }
    return residency_->WaitLoaded();
  }

  Status Flush() override {
    std::shared_lock lock(mu_);
    MRLDB_RETURN_IF_ERROR(CheckOpen());
    return kv_->CompactAll();
  }

 private:
  Status CheckOpen() const {
    return kv_ ? Status::Ok() : Status::InvalidArgument("the database is closed");
  }
  static Status NoSuchCollection(std::string_view name) {
    return Status::NotFound(fmt::format("collection '{}' does not exist", name));
  }
  Result<std::shared_ptr<Collection>> FindCollection(std::string_view name) const {
    std::shared_lock lock(mu_);
    MRLDB_RETURN_IF_ERROR(CheckOpen());
    auto it = collections_.find(std::string(name));
    if (it == collections_.end()) return NoSuchCollection(name);
    return it->second;
  }
  std::shared_ptr<Collection> MakeCollection(storage::CollectionDescriptor d) {
    const std::string file = fmt::format("{}/hnsw/{}.hnsw", path_, d.cid);
    GpuSettings gpu;
    gpu.enabled = options_.gpu;
    gpu.blocks.device = options_.gpu_device;
    gpu.blocks.budget_bytes = options_.gpu_memory_bytes;
    gpu.blocks.precision = options_.gpu_float16 ? gpu::Precision::kFloat16 : gpu::Precision::kFloat32;
    auto c = std::make_shared<Collection>(std::move(d), kv_.get(), &pool_, &index_pool_, file, log_,
                                          gpu);
    c->SetWriteListener([this] { WakeIndexer(); });
    c->SetGrowListener([this] { residency_->Wake(); });
    // A storage scan's running lists may take a 32nd of the budget (Collection::ScanGroup).
    if (options_.memory_budget_bytes) c->SetScanScratchBytes(*options_.memory_budget_bytes / 32);
    return c;
  }
  // The blocks a collection keeps until the budget's planner chooses: all without a budget.
  size_t FirstWanted(const Collection& c) const {
    return options_.memory_budget_bytes ? c.IndexBlocks() : c.spec().granularities.size();
  }
  // REQUIRES: mu_ held.
  Status SaveIndexesLocked() {
    Status result;
    for (auto& [name, c] : collections_) {
      Status st = c->SaveIndex();
      if (!st.ok() && result.ok()) result = st;
    }
    return result;
  }
  bool Sync(const WriteOptions& w) const { return w.sync < 0 ? options_.sync : w.sync != 0; }

  // Declared first, destroyed last: returns the heap pages the database freed to the system.
  HeapReturn heap_return_;
  const DatabaseOptions options_;
  const std::string path_;
  LogFn log_;
  mutable std::shared_mutex mu_;  // guards collections_ and kv_'s lifetime
  std::unique_ptr<storage::KvStore> kv_;
  ThreadPool pool_;        // searches and scans
  ThreadPool index_pool_;  // the background indexer's parallel adds (see Collection)
  std::map<std::string, std::shared_ptr<Collection>, std::less<>> collections_;
  std::unique_ptr<Residency> residency_;  // the memory budget and the block loader
  std::thread indexer_;
  std::thread tuner_;  // DatabaseOptions::auto_tune; stops with the indexer
  std::mutex indexer_mu_;
  std::condition_variable indexer_cv_, indexer_idle_cv_, tuner_cv_, tuner_idle_cv_;
  bool tuner_wake_ = false;  // GUARDED_BY(indexer_mu_)
  bool tuner_busy_ = false;  // GUARDED_BY(indexer_mu_) a tuner pass is running
  bool indexer_stop_ = false;  // GUARDED_BY(indexer_mu_)
  bool indexer_wake_ = false;  // GUARDED_BY(indexer_mu_)
};

}  // namespace

Result<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                 const DatabaseOptions& options) {
  return OpenDatabase(path, options, storage::StorageHooks{});
}

Result<std::unique_ptr<Database>> OpenDatabase(const std::string& path,
                                               const DatabaseOptions& options,
                                               const storage::StorageHooks& hooks) {
  if (path.empty()) return Status::InvalidArgument("database path is empty");
  if (options.memory_budget_bytes && *options.memory_budget_bytes == 0) {
    return Status::InvalidArgument("memory budget is 0 bytes (leave it unset for no budget)");
  }
  if (!(options.auto_vacuum_share >= 0 && options.auto_vacuum_share <= 1)) {
    return Status::InvalidArgument(fmt::format(
        "auto_vacuum_share must be in 0..1 (0: no background vacuum), not {}",
        options.auto_vacuum_share));
  }
  MRLDB_ASSIGN_OR_RETURN(auto kv, storage::KvStore::Open(path, options, hooks));
  auto db = std::make_unique<DatabaseImpl>(path, std::move(kv), options);
  MRLDB_RETURN_IF_ERROR(db->LoadCatalog());
  MRLDB_RETURN_IF_ERROR(db->PlanMemory());
  db->StartIndexer();
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace mrldb
