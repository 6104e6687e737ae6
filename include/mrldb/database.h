// mrldb::Database: the embedded API. One directory holds one database (a RocksDB instance).
//
// Thread safety: a Database may be used from many threads at once. Reads (Get, Search,
// Describe) of a collection run concurrently; writes to one collection are serialized and
// readers see either all or none of a batch. A background thread adds committed rows to the
// HNSW graphs; until it has, searches scan those rows, so every committed row is searchable
// as soon as its write returns.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mrldb/insert_batch.h"
#include "mrldb/options.h"
#include "mrldb/predict.h"
#include "mrldb/search.h"
#include "mrldb/status.h"
#include "mrldb/types.h"

namespace mrldb {

// Counters of one prefix scan (see Database::ScanPrefix).
struct ScanStats {
  uint64_t rows = 0;             // live rows delivered
  uint64_t segments = 0;         // vector segments read
  uint64_t value_bytes = 0;      // bytes of vector values read from storage
};

// RocksDB statistics since the database was opened.
struct StorageStats {
  uint64_t sst_bytes_read = 0;   // bytes read from SST files (including compaction reads)
  uint64_t iter_bytes_read = 0;  // key + value bytes returned by iterators
};

// The memory a database holds, as its memory budget counts it (SHOW MEMORY; docs/architecture.md,
// "Memory budget").
struct DatabaseMemory {
  std::optional<uint64_t> budget_bytes;  // DatabaseOptions::memory_budget_bytes
  // RocksDB block cache (row groups read from storage). Under a budget it also holds the
  // memtables (charged to it), so its capacity includes write_buffer_limit_bytes.
  uint64_t cache_capacity_bytes = 0;
  uint64_t cache_usage_bytes = 0;
  uint64_t write_buffer_limit_bytes = 0;  // RocksDB memtables flush past it (0: no budget)
  uint64_t write_buffer_bytes = 0;        // RocksDB memtables now
  uint64_t table_reader_bytes = 0;        // SST index and filter blocks
  std::vector<std::pair<std::string, MemoryUse>> collections;  // by name (with device memory)
  // The GPU searches use (DatabaseOptions::gpu_device); its free_memory is read only once a
  // collection has a device copy (reading it starts a CUDA context). Unset: gpu_unavailable
  // says why ("no CUDA device present", GPU searches disabled, a build without CUDA).
  std::optional<GpuDeviceInfo> gpu;
  std::string gpu_unavailable;
  bool loading = false;  // resident blocks are still loading in the background
  // This process's resident set now (/proc/self/statm; 0 where unavailable): what the budget
  // counts plus what it does not, the program itself and free heap the allocator keeps. Not
  // part of TotalBytes.
  uint64_t process_rss_bytes = 0;
  // Everything counted against the budget: the cache's capacity (or use, when above it), which
  // covers the write buffers (without a budget: the write buffers' use), table readers, and
  // every collection's graph, blocks and row state.
  uint64_t TotalBytes() const;
};

class Database {
 public:
  // Opens (or creates, see options) the database in directory `path`. An existing database on
  // a disk without space for a new MANIFEST and WAL opens read-only (writes get ReadOnly until
  // space is freed). Errors: IOError (cannot create, or the database is open in another process
  // or already in this one: the message says which), VersionMismatch (written by an
  // incompatible format), Corruption (catalog does not decode), InvalidArgument (bad options).
  static Result<std::unique_ptr<Database>> Open(const std::string& path,
                                                const DatabaseOptions& options = {});
  virtual ~Database();

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Flushes and closes. Further calls fail. Also done by the destructor.
  virtual Status Close() = 0;

  // ---- Catalog ----
  // Validates `spec` (filling defaults) and creates the collection.
  // Errors: InvalidArgument (bad spec), AlreadyExists.
  virtual Status CreateCollection(CollectionSpec spec) = 0;
  // Removes the collection and all its rows. Errors: NotFound.
  virtual Status DropCollection(std::string_view name) = 0;
  // Names in ascending order.
  virtual std::vector<std::string> ListCollections() const = 0;
  // Right after an open it waits up to 2 s for the collection's saved graph and ids to load
  // (the background loader's first parts), so that its counts are the stored ones.
  // Errors: NotFound.
  virtual Result<CollectionInfo> DescribeCollection(std::string_view name) const = 0;

  // ---- Writes: each call is one atomic RocksDB WriteBatch: all rows or none ----
  // Every write (these, CreateCollection, DropCollection, AlterCollection, SetDefaultPlan and
  // Tune's stored plan) fails with ReadOnly while storage cannot write (disk full, I/O error):
  // nothing of it is stored, reads keep working, and a later write succeeds once the fault
  // clears (tried at most once a second). docs/reliability.md, "Storage faults".
  // Inserts new rows. Errors (nothing is written): NotFound (collection), InvalidArgument
  // (empty batch, wrong dimension, NaN/Inf, wrong id or attribute type, wrong attribute count),
  // AlreadyExists (an id repeated in the batch or already stored).
  virtual Status Insert(std::string_view collection, const InsertBatch& batch,
                        const WriteOptions& wopts = {}) = 0;
  // Like Insert, but a stored id is replaced (vector and attributes). An id repeated within the
  // batch is still an error.
  virtual Status Upsert(std::string_view collection, const InsertBatch& batch,
                        const WriteOptions& wopts = {}) = 0;
  // Deletes the rows with these ids; ids not stored are skipped. Returns how many were deleted.
  virtual Result<uint64_t> Delete(std::string_view collection, std::span<const Key> ids,
                                  const WriteOptions& wopts = {}) = 0;

  // ---- Reads ----
  // The row `id` with the first `dims` values of its vector (0: all D). Errors: NotFound,
  // InvalidArgument (dims > D or id of the wrong type).
  virtual Result<Record> Get(std::string_view collection, const Key& id, uint32_t dims = 0) const = 0;

  // Exact k nearest neighbours of `query` over the first options.dims dimensions, by brute force
  // over the prefix blocks (SIMD, all worker threads). `query` has options.dims values (or D,
  // in which case only its prefix is used). Hits are sorted by distance, ties by internal row
  // order. Errors: NotFound, InvalidArgument (bad k, dims, query length, NaN/Inf, zero query
  // under cosine, unknown attribute).
  virtual Result<std::vector<Hit>> ExactSearch(std::string_view collection,
                                               std::span<const float> query,
                                               const ExactSearchOptions& options = {}) const = 0;

  // Approximate (or exact, per plan) k nearest neighbours of `query` (D values, or the plan's
  // first-stage dims for a prefix/exact plan). Hits sorted by distance at the final stage.
  // With a filter, hits all match it, and k come back whenever at least k live rows match.
  // Errors: NotFound, InvalidArgument (bad plan: stage dims not on the ladder or not
  // increasing, keep < k; k out of range; query of the wrong length or with NaN/Inf; unknown
  // attribute or filter column; filter type mismatch).
  virtual Result<std::vector<Hit>> Search(std::string_view collection, std::span<const float> query,
                                          const SearchOptions& options = {},
                                          SearchStats* stats = nullptr) const = 0;
  // Many queries at once (row-major n x D in `queries`), spread over the worker threads.
  // Result i answers query i. Errors as Search; query rows are checked before any search runs.
  virtual Result<std::vector<std::vector<Hit>>> SearchBatch(std::string_view collection,
                                                            std::span<const float> queries,
                                                            size_t n,
                                                            const SearchOptions& options = {}) const = 0;
  // Picks stage sizes and ef reaching options.target_recall on a sample of the collection's own
  // vectors, or on options.queries (ground truth: exact full-dimension search), and stores the
  // plan as the default (source TUNE; the background tuner keeps it until the rows grew by
  // half). Errors: NotFound, InvalidArgument (target, k, too few rows, bad queries: their
  // count of values, a value not finite, a zero query under cosine), Cancelled (options.cancel).
  virtual Result<TuneReport> Tune(std::string_view collection, const TuneOptions& options = {}) = 0;
  // The plan `options` would run (the default resolved, keeps checked), without running it.
  virtual Result<SearchPlan> ExplainPlan(std::string_view collection,
                                         const SearchOptions& options) const = 0;
  // Where a search of `queries` queries with `options` would run now and why (EXPLAIN; under
  // device 'auto' the collection's placement model decides, docs/architecture.md, "Placement"):
  // "cpu: device 'cpu'", "cpu: no device (...)", "gpu: measured 0.8 us/query vs cpu 2.1 us/query
  // at batch 1024". Looks only: the model's counters do not move. Errors: NotFound,
  // InvalidArgument (plan, filter), and under device 'gpu' NotSupported as a search's.
  virtual Result<std::string> ExplainPlacement(std::string_view collection,
                                               const SearchOptions& options,
                                               size_t queries = 1) const = 0;
  // The collection's placement model: per plan shape and batch-size bucket, the measured
  // seconds per query on each side (SHOW PLACEMENT). Errors: NotFound.
  virtual Result<std::vector<PlacementEstimate>> GetPlacement(std::string_view collection) const = 0;
  // Rows matching options.filter (all live rows without one), in insertion order, after
  // skipping `offset`, at most `limit`. Errors: NotFound, InvalidArgument (filter).
  virtual Result<std::vector<Record>> Find(std::string_view collection,
                                           const FindOptions& options = {}) const = 0;
  // Changes index parameters: a new index_dim, m, ef_construction or graph codes rebuilds the
  // HNSW graph from the stored vectors (in the background; searches scan meanwhile); a new
  // index_dim clears a stored default plan, any rebuild clears an auto-tuned one (the tuner
  // tunes again on the new graph); ef_search and target_recall only update the descriptor (a
  // new target makes the tuner re-tune a derived or auto-tuned plan). Errors: NotFound,
  // InvalidArgument.
  virtual Status AlterCollection(std::string_view collection, const AlterOptions& options) = 0;
  // Sets (or with Kind::kDefault, clears) the collection's stored default plan: source set by
  // hand (the background tuner keeps it until the rows grew by half), or, cleared, derived
  // (the background tuner tunes one). Errors: InvalidArgument (bad plan).
  virtual Status SetDefaultPlan(std::string_view collection, const SearchPlan& plan) = 0;
  // The CUDA devices GPU searches may use (the front-ends' one way to GPU facts).
  // Errors: NotSupported (a build without CUDA, no usable device, or DatabaseOptions::gpu false:
  // the message says which), IOError.
  virtual Result<std::vector<GpuDeviceInfo>> GpuDevices() const = 0;
  // Builds the collection's device graph now on the GPU (docs/architecture.md, "The GPU
  // graph") and saves it beside the HNSW graph; the background thread does the same by itself
  // once a collection is searched on the GPU (device 'gpu' or 'auto'). Searches go on meanwhile.
  // Errors: NotFound, NotSupported (no CUDA or no device, or GPU searches disabled), IOError,
  // InvalidArgument (fewer than 1,024 live rows).
  virtual Status BuildGpuGraph(std::string_view collection) = 0;
  // Writes every collection's HNSW graph to disk now (also done by Close). Rows the background
  // indexer has not reached are not in the saved graph; they are replayed after the next open.
  virtual Status Checkpoint() = 0;
  // Blocks until the background indexer has added every row committed before and during the
  // wait to the HNSW graph of options.collection (of every collection when it is empty), and
  // applied the deletion marks queued for it. Searches never need this (rows not yet in a
  // graph are scanned); short-lived processes (the shell's -c and -f), benchmarks and tests do.
  // A graph whose build failed (logged; searches scan) is not waited for. Errors: NotFound
  // (the collection does not exist, or was dropped during the wait), Cancelled (the progress
  // callback returned false), InvalidArgument (closed).
  virtual Status WaitForIndexing(const IndexWaitOptions& options = {}) = 0;
  // Reclaims the storage of the collection's dead rows (deleted, or replaced by an upsert):
  // every complete row group of every block that still stores a row dead when the vacuum began
  // is rewritten without it, then the collection's vector keys are compacted so that RocksDB
  // frees the old values. Rows keep their ids, so the HNSW graph, search results and every live
  // row's bytes are unchanged; writes and searches go on meanwhile. Each slice is one atomic
  // write: a crash at any point leaves a database as correct as before, partly vacuumed. A
  // dead row in a block's last, partial group keeps its bytes until the group is complete. The
  // in-memory blocks are not shrunk (docs/architecture.md, "Vacuum"). Errors: NotFound,
  // Cancelled (options.cancel, or the collection was dropped or the database closed
  // meanwhile), ReadOnly (a storage fault), Corruption.
  virtual Result<VacuumReport> Vacuum(std::string_view collection,
                                      const VacuumOptions& options = {}) = 0;
  // Writes a copy of the whole database to the new directory `dir` while writes go on: every
  // collection's saved HNSW graph, then a RocksDB checkpoint (hard links on the same file
  // system). The copy is a database: open `dir` to restore it. It holds every row committed
  // before Backup began (rows committed during it may be in it too); its graphs may lag its rows,
  // which the open replays, as after a crash. `progress(bytes_done)` is called after each graph
  // file; returning false cancels. On any error nothing is left at `dir`. Errors:
  // InvalidArgument (`dir` exists, or its parent does not), IOError, Cancelled.
  virtual Status Backup(const std::string& dir,
                        const std::function<bool(uint64_t bytes_done)>& progress = {}) = 0;
  // Blocks until the background load of an open is done (WaitForLoading), the indexer is done
  // (WaitForIndexing) and no background tune or vacuum is due
  // or running (DatabaseOptions::auto_tune, auto_vacuum_share; returns after the indexer without
  // either), so that the default plan in force is the one tuned for the rows now stored and the
  // dead rows past the vacuum threshold are reclaimed. Benchmarks and tests need this; searches
  // do not.
  virtual Status WaitForTuning() = 0;

  // ---- Matryoshka analysis (mrldb/predict.h; docs/architecture.md, "Adaptive classification") ----
  // Adaptive k-NN classification of `query` (D values) by the label column options.label.
  // Errors: NotFound, InvalidArgument (no such column, a FLOAT column, bad k, cascade,
  // confidence or shortlist, query as Search, filter as Search).
  virtual Result<Prediction> Predict(std::string_view collection, std::span<const float> query,
                                     const PredictOptions& options,
                                     PredictStats* stats = nullptr) const = 0;
  // n queries (row-major n x D), spread over the worker threads; result i answers query i.
  // `stats` counts them all. Errors as Predict; Cancelled (options.cancel).
  virtual Result<std::vector<Prediction>> PredictBatch(std::string_view collection,
                                                       std::span<const float> queries, size_t n,
                                                       const PredictOptions& options,
                                                       PredictStats* stats = nullptr) const = 0;
  // Picks the confidence threshold of a cascade on a sample of labelled rows (each left out of
  // its own vote) so that its accuracy is within options.margin of exact full-dimension k-NN
  // at the lowest mean granularity, and stores it for options.label (PREDICT's default).
  // Errors: NotFound, InvalidArgument (as Predict; margin, sample; fewer than 20 labelled rows),
  // Cancelled.
  virtual Result<PredictCalibration> TunePredict(std::string_view collection,
                                                 const TunePredictOptions& options) = 0;
  // Measures every granularity of the ladder against full-dimension search on sampled rows
  // (moved off their rows and left out, as Tune's queries) and stores the result (DESCRIBE
  // shows it; the derived default plan widens its shortlists by it). Errors: NotFound,
  // InvalidArgument (label column as Predict; sample; fewer than 11 live rows), Cancelled.
  virtual Result<PrefixAnalysis> Analyze(std::string_view collection,
                                         const AnalyzeOptions& options) = 0;
  // The sampled rows whose predicted label (with a label column) or neighbours change most
  // between the granularities of the ladder. Errors as Analyze.
  virtual Result<std::vector<Disagreement>> Disagreements(
      std::string_view collection, const DisagreementOptions& options) const = 0;

  // Streams the first `dims` values of every live row straight from storage (not the in-memory
  // cache) in row order: `sink(n, ids_of_rows, values)` with values row-major n x dims. Reads
  // only the blocks that cover `dims`. Used by benchmarks and tests of the column layout.
  using ScanSink = void (*)(void* ctx, size_t n, const uint64_t* row_ids, const float* values);
  virtual Result<ScanStats> ScanPrefix(std::string_view collection, uint32_t dims, ScanSink sink,
                                       void* ctx) const = 0;

  // RocksDB read counters since open (for tests and benchmarks).
  virtual StorageStats GetStorageStats() const = 0;
  // What the database holds in memory now. Errors: InvalidArgument when closed.
  virtual Result<DatabaseMemory> GetMemory() const = 0;
  // Waits until the background loader has loaded the resident vector blocks (after an open, or
  // when the budget brought blocks back). Searches do not need to wait: they read storage until
  // then. Errors: InvalidArgument when closed.
  virtual Status WaitForLoading() = 0;
  // Flushes memtables to SST files and compacts every column family fully, so that tests and
  // benchmarks measure reads from a settled on-disk layout.
  virtual Status Flush() = 0;

 protected:
  Database() = default;
};

}  // namespace mrldb
