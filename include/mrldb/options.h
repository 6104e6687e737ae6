// Options of the embedded API. Every option states its default.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mrldb/status.h"

namespace mrldb {

// Where a search runs (SearchOptions::device; SQL: SET device = 'cpu' | 'gpu' | 'auto').
//   kCpu:  the CPU (SIMD over the in-memory column cache): the source of truth.
//   kGpu:  the GPU: the whole funnel on the device graph when the collection has one
//          (docs/architecture.md, "The GPU graph"), else the GPU re-ranker and GPU exact search;
//          the search fails with NotSupported when the build has no CUDA, no device is present
//          or DatabaseOptions::gpu is false.
//   kAuto: where the search measured faster for its plan and batch size (the collection's
//          placement model, docs/architecture.md, "Placement"): batches under 16 queries start
//          on the CPU, others try each side once, then the faster runs and the slower is
//          re-measured every 32 batches; the CPU when no device is usable (the reason is
//          logged once per collection) or the blocks are not all in memory.
enum class Device : uint8_t { kCpu, kGpu, kAuto };

struct DatabaseOptions {
  // Create the directory and an empty database when none exists. Default: true.
  bool create_if_missing = true;
  // Fail when a database already exists at the path. Default: false.
  bool error_if_exists = false;
  // fsync the write-ahead log after every write batch. The WAL itself is always on.
  //   false: a committed batch survives a crash of the process (it is in the OS page cache), but
  //          an operating-system crash or power loss can lose the last few batches (never part of
  //          one: recovery stops at the last complete batch).
  //   true:  a committed batch survives power loss too; each batch costs an fsync.
  // Default: false. WriteOptions::sync overrides it per call.
  bool sync = false;
  // RocksDB block cache for vector row groups and rows. Without a memory budget: its size.
  // With one, the budget sizes the cache (below) and this is ignored. Default: 256 MiB.
  size_t block_cache_bytes = 256u << 20;
  // Memory for the whole database (docs/architecture.md, "Memory budget"): the HNSW graphs and
  // every collection's per-row state (ids, attributes, liveness) must fit, with the vector
  // blocks the graphs are built from; then the ladder's blocks from the shortest up stay in
  // memory (column cache) while they fit, and the rest is read from storage on demand through
  // RocksDB's block cache, which gets what is left (at least 1/32 of the budget); RocksDB's
  // write buffers get 1/8 (4 MiB..256 MiB). Searches give the same results with any budget.
  // Open fails with InvalidArgument when the budget is 0 or below what must stay in memory; when
  // rows grow past it later, blocks go back to storage, and SHOW MEMORY shows the excess if the
  // graphs and row state alone pass it. Unset: no budget, every block in memory.
  // Default: unset.
  std::optional<uint64_t> memory_budget_bytes;
  // Worker threads for searches, scans and index builds. Default (0): hardware concurrency.
  unsigned threads = 0;
  // Storage reads one re-rank stage keeps in flight when it reads its candidates' blocks from
  // storage (a memory budget's non-resident blocks): the stage's lookups are split into up to
  // this many parts read at once by the store's read threads. 0 (auto): one part while reads
  // come from the OS page cache (a split costs more than it saves there), up to 16 once the
  // measured read latency says they wait on the disk. 1: always one part. Default: 0.
  unsigned storage_read_depth = 0;
  // Receives informational lines (index rebuilds, recoveries). Default (empty): standard error,
  // prefixed "mrldb: ".
  std::function<void(std::string_view)> info_log;
  // Testing only: called on the background loader before it loads each part of a collection
  // that Open left out, with the collection's name and the part: "graph" (the saved HNSW
  // graph), "rows" (ids and attributes), "blocks" (the resident vector blocks). A test blocks
  // in it to hold the load at that point; the loader, and so Close, wait until it returns.
  // Default: empty.
  std::function<void(std::string_view collection, std::string_view part)> load_hook;

  // Background checkpoints of each collection's HNSW graph (docs/architecture.md, "The HNSW
  // prefix index"): the indexer thread saves a collection's graph once this many rows were added
  // to it or marked deleted since its last save. After a crash only the rows since the last
  // checkpoint are replayed into the graph (searches scan them meanwhile). 0: no row threshold.
  // A save writes the whole graph (64-dim prefix: 0.17 s at 200,000 rows, 5.5 s at 1,000,000 on a
  // busy two-core machine; docs/reliability.md) and excludes only the graph's adds; searches go
  // on. Default: 50000.
  uint64_t index_checkpoint_rows = 50000;
  // ... or once the graph changed and this many seconds passed since its last save (or the
  // open). 0: no time threshold. Close() and Checkpoint() always save. Default: 30.
  double index_checkpoint_seconds = 30;

  // Background self-tuning (docs/architecture.md, "Default plans"): once a collection's graph
  // is built and it has at least auto_tune_min_rows live rows, a background thread tunes its
  // default plan for CollectionSpec::target_recall at k = 10 (as TUNE does, storing it as
  // auto-tuned), and again when the rows grew by half, the target changed or the graph was
  // rebuilt; a plan stored by TUNE or set by hand is replaced only once the rows grew by half
  // since it was made. Until a tuned plan exists the derived plan is used. false: never (tests
  // that check exact default plans). Default: true.
  bool auto_tune = true;
  // Default: 1000.
  uint64_t auto_tune_min_rows = 1000;
  // Background choice of the graph (docs/architecture.md, "Choosing the graph"), with
  // auto_tune: once a collection of at least 5,000 rows has an auto-tuned plan, the tuner
  // thread measures graphs on every ladder prefix from 16 to 128 dims, float32 and int8, on a
  // sample of the rows, and when one reaches target_recall at least 1.25x faster than the
  // current graph it rebuilds the graph with it (as ALTER ... SET (index_dim, graph_codes)
  // does); again when the rows doubled. Off by default: it changes index_dim and graph_codes
  // that a user may have chosen, and the comparison is made on a sample. Default: false.
  bool auto_graph = false;

  // Background vacuum (docs/architecture.md, "Vacuum"): the tuner's thread vacuums a collection,
  // as Database::Vacuum does, once the rows deleted or replaced since its last vacuum (whose
  // vector bytes are still stored) are at least this share of the rows stored and at least
  // auto_vacuum_min_rows. 0..1; 0: never. Default: 0.2.
  double auto_vacuum_share = 0.2;
  // Default: 10000.
  uint64_t auto_vacuum_min_rows = 10000;

  // GPU searches may run (Device::kGpu / kAuto). false: no CUDA call is ever made. Default: true.
  bool gpu = true;
  // CUDA device index. Default: 0.
  int gpu_device = 0;
  // Device memory for each collection's resident vector blocks (+ 4 bytes per row and
  // granularity for prefix norms). Rows beyond it are served by the CPU in the same search
  // (EXPLAIN ANALYZE shows the split). 0: 80% of the device's free memory when the collection's
  // device copy is made (at its first GPU search). Default: 0.
  size_t gpu_memory_bytes = 0;
  // Keep the device copy in float16 instead of float32: half the memory and the bytes a re-rank
  // reads; scores still accumulate in float32 (accuracy: docs/architecture.md). Default: false.
  bool gpu_float16 = false;
};

// Parses a memory budget as the command lines take it: a positive whole number of bytes with an
// optional unit K, M, G or T (powers of 1024; "8G", "512M", "1073741824"). Errors:
// InvalidArgument naming the text and what was wrong (not a number, 0, an unknown unit, too
// large).
Result<uint64_t> ParseMemoryBudget(std::string_view text);

struct WriteOptions {
  // -1: the database's DatabaseOptions::sync; 0: no fsync; 1: fsync. Default: -1.
  int sync = -1;
};

// How far the HNSW graphs a WaitForIndexing waits for have got: live rows in the graphs and
// live rows in all (the waited collections together).
struct IndexProgress {
  uint64_t indexed_rows = 0;
  uint64_t live_rows = 0;
};

struct IndexWaitOptions {
  // The collection to wait for (exact name, as Database's other calls take it). Default
  // (empty): every collection, including ones created during the wait.
  std::string collection;
  // Called on the waiting thread about every 20 ms while rows are pending (never when nothing
  // is pending at the start). Default: none.
  std::function<void(const IndexProgress&)> progress;
  // When set, checked as often; once it is true the wait fails with Cancelled (the indexer goes
  // on). Session::Cancel sets it for a running WAIT FOR INDEX. Default: none.
  const std::atomic<bool>* cancel = nullptr;
};

// How far a VACUUM has got: rows of the collection whose row groups it has been through.
struct VacuumProgress {
  uint64_t rows_done = 0;
  uint64_t rows_total = 0;
};

struct VacuumOptions {
  // Called on the vacuuming thread after each slice of rows (about 1 MiB of vectors), once the
  // slice is rewritten. Default: none.
  std::function<void(const VacuumProgress&)> progress;
  // When set, checked between slices and by the final compaction; once it is true the vacuum
  // stops with Cancelled (the slices rewritten so far stay rewritten, which is as correct as
  // before). Session::Cancel sets it for a running VACUUM. Default: none.
  const std::atomic<bool>* cancel = nullptr;
};

struct ExactSearchOptions {
  // Number of neighbours. 1..100000. Default: 10.
  uint32_t k = 10;
  // Prefix length the distance is computed over: 1..D. Default (0): D.
  uint32_t dims = 0;
  // Attribute columns to return with each hit, by name. Default: none.
  std::vector<std::string> attributes;
};

}  // namespace mrldb
