// Approximate and exact search: plans (the Matryoshka funnel), options, statistics, tuning.
//
// A funnel plan is a list of stages. Stage 0 finds candidates at a short prefix: by the HNSW
// graph when its dims are the collection's index_dim (ef = the plan's ef), otherwise by a
// brute-force scan of that prefix. Each later stage re-ranks the survivors at a higher
// granularity, reading only the blocks it adds (scores are additive over blocks; cosine uses the
// per-granularity prefix norms), and keeps the best `keep`. The last stage keeps k.
//
//   FUNNEL (64 KEEP 400, 256 KEEP 80, 768)   ==  {{64, 400}, {256, 80}, {768, 0}}
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mrldb/filter.h"
#include "mrldb/options.h"

namespace mrldb {

// The largest candidate list (ef) a search takes: plans' EF, SET ef and a stored plan's ef.
inline constexpr uint32_t kMaxSearchEf = 1000000;

struct SearchPlan {
  enum class Kind : uint8_t {
    kDefault,  // the collection's default plan (tuned, or derived from k and the ladder)
    kFunnel,   // `stages` as given
    kExact,    // brute force at `dims` (0 = D): the ground truth
    kPrefix,   // only a first stage at `dims`: HNSW when dims = index_dim, else brute force
  };
  Kind kind = Kind::kDefault;
  std::vector<FunnelStage> stages;
  // HNSW candidate list size for stage 0. 0: max(keep of stage 0, the collection's ef_search).
  uint32_t ef = 0;
  uint32_t dims = 0;

  static SearchPlan Default() { return {}; }
  static SearchPlan Funnel(std::vector<FunnelStage> stages, uint32_t ef = 0) {
    SearchPlan p;
    p.kind = Kind::kFunnel;
    p.stages = std::move(stages);
    p.ef = ef;
    return p;
  }
  static SearchPlan Exact(uint32_t dims = 0) {
    SearchPlan p;
    p.kind = Kind::kExact;
    p.dims = dims;
    return p;
  }
  static SearchPlan Prefix(uint32_t dims, uint32_t ef = 0) {
    SearchPlan p;
    p.kind = Kind::kPrefix;
    p.dims = dims;
    p.ef = ef;
    return p;
  }
  // "FUNNEL (64 KEEP 400, 256 KEEP 80, 768) EF 400", "EXACT AT 768", "PREFIX 64", "DEFAULT".
  std::string ToString() const;
};

struct SearchOptions {
  // Number of results, 1..100000. Default: 10.
  uint32_t k = 10;
  // Default: the collection's default plan.
  SearchPlan plan;
  // Only rows matching the filter are returned. Default: none.
  std::optional<Filter> filter;
  // Attribute columns to return with each hit. Default: none.
  std::vector<std::string> attributes;
  // Return the first `vector_dims` values of each hit's vector (Hit::vector). Default: 0 (none).
  uint32_t vector_dims = 0;
  // Where the search runs (see Device). Default: kCpu.
  Device device = Device::kCpu;
  // When set, SearchBatch checks it between queries and, once it is true, fails with Cancelled
  // (Session::Cancel sets it for a running statement). Default: none.
  const std::atomic<bool>* cancel = nullptr;
};

struct FindOptions {
  // Only rows matching it. The id column may be filtered on too. Default: all rows.
  std::optional<Filter> filter;
  // Rows to skip, then the most to return (0: no limit). Default: 0, 0.
  uint64_t offset = 0;
  uint64_t limit = 0;
  // Vector values to return per row (Record::vector). Default: 0 (none).
  uint32_t vector_dims = 0;
  // Only the rows with these ids, found by a lookup each (a point read, not a scan); ids not
  // stored are skipped, a repeated id counts once, and rows still come in insertion order. An
  // id of the wrong type is an InvalidArgument. Unset: every row.
  std::optional<std::vector<Key>> ids;
};

struct AlterOptions {
  std::optional<uint32_t> index_dim;
  std::optional<uint32_t> m;
  std::optional<uint32_t> ef_construction;
  std::optional<uint32_t> ef_search;
  std::optional<GraphCodes> codes;  // rebuilds the graph when it changes
  // The background tuner's recall target, in (0, 1]; an auto-tuned or derived plan is re-tuned
  // for it once the graph is built.
  std::optional<double> target_recall;
  // Adds an attribute column after the others; every stored row reads NULL there (no row is
  // rewritten). Its name must be new. Not with the options above.
  std::optional<ColumnDef> add_column;
  // Drops an attribute column (not the id or the vector). Its values stay in the stored row
  // records, never read again, until a row is rewritten. Not with the options above.
  std::optional<std::string> drop_column;
};

// What one stage did (EXPLAIN ANALYZE reads these).
struct StageStats {
  std::string method;          // "hnsw", "scan" (brute force) or "rerank"
  uint32_t dims = 0;           // prefix the stage's distances are computed over
  uint64_t candidates_in = 0;  // rows considered (scan: rows scanned; hnsw: distance evaluations)
  uint64_t candidates_out = 0;
  uint64_t bytes_read = 0;     // vector bytes the stage scored (memory or storage)
  double seconds = 0;
  // "cpu", "gpu", or "gpu+cpu (G/C)" when the rows beyond the device's memory budget were
  // scored by the CPU: G candidates (or rows) on the device, C on the CPU.
  std::string device = "cpu";
  // Blocks that are not resident (a memory budget, or still loading) are read from storage:
  // RocksDB block-cache hits, blocks read from files (the OS page cache or the disk), and the
  // bytes of those reads. All 0 when the stage read only resident blocks.
  uint64_t cache_hits = 0;
  uint64_t storage_reads = 0;
  uint64_t storage_bytes = 0;
};

struct SearchStats {
  std::string plan;                 // the plan that ran (the default resolved), as text
  std::vector<StageStats> stages;
  uint64_t filter_matches = 0;      // rows matching the filter (when there is one)
  bool filter_brute_force = false;  // the filter was selective: stage 0 scanned matching rows
  // The plan starts in the HNSW graph, but the saved graph was still loading after the open:
  // stage 0 scanned the prefix instead (docs/architecture.md, "Open in seconds").
  bool graph_loading = false;
  // Where the search ran and why (docs/architecture.md, "Placement"): "cpu: device 'cpu'",
  // "cpu: no device (...)", "gpu: measured 0.8 us/query vs cpu 2.1 us/query at batch 1", ...
  std::string placement;
};

struct TuneOptions {
  // Recall@k to reach against exact full-dimension search, in (0, 1]. Default: 0.95.
  double target_recall = 0.95;
  // Default: 10.
  uint32_t k = 10;
  // Collection rows used as queries (sampled deterministically, each left out of its own
  // results): half choose the plan (against target_recall + 0.005), the other half must confirm
  // it (else its shortlist grows until they do). 1..100000. Ignored when `queries` is given.
  // Default: 200.
  uint32_t sample_queries = 200;
  // Real queries to tune on instead of sampled rows: row-major n x D (1 <= n <= 100000), every
  // value finite (and, under cosine, no zero query). They are not stored rows, so none is left
  // out of its results; queries 0, 2, 4, ... choose the plan and 1, 3, 5, ... must confirm it,
  // as with sampled rows. Default: empty (sample the collection).
  std::vector<float> queries;
  // Store the chosen plan as the collection's default (persisted, source TUNE). Default: true.
  bool store = true;
  // When set, Tune checks it between measured queries and, once it is true, fails with
  // Cancelled, storing nothing. Default: none.
  const std::atomic<bool>* cancel = nullptr;
};

// One funnel shape Tune measured, at the shortlist its sweep settled on.
struct TuneShape {
  SearchPlan plan;
  double recall = 0;     // recall@k on the tuning half
  double ms = 0;         // mean latency per query, one thread
  bool reached = false;  // reached the target + 0.005 there
};

struct TuneReport {
  SearchPlan plan;             // the cheapest plan measured at or above the target
  double recall = 0;           // its measured recall@k on the half of the sample that chose it
  double held_back_recall = 0; // and on the held-back half
  double ms_per_query = 0;     // its measured mean latency, one thread
  bool reached_target = false; // false: the best plan found falls short; plan is the best recall
  uint32_t plans_tried = 0;
  uint64_t rows = 0;           // live rows when the tune began
  // For larger k (mrldb/types.h, DefaultPlan): the stage-0 keep of the straight shape (index
  // prefix, then D) reaching the target for k and for wide_k = 10 k results, measured (and
  // confirmed on the held-back half) when the collection has at least 10 wide_k live rows, else
  // all 0; and its held-back recall@wide_k.
  uint32_t wide_k = 0, straight_keep = 0, wide_keep = 0;
  double wide_held_back_recall = 0;
  // Whether a stored ANALYZE (CollectionSpec::analysis) steered the tune: each shape's sweep
  // starts at the exact shortlist it measured at the shape's first granularity (halving down
  // when that reaches the target already, doubling up when not), and where
  // it found the index prefix too weak to shortlist from (PrefixAnalysis::graph_prefix above
  // index_dim), a scan of graph_prefix and exact search are measured before the graph's shapes.
  bool analysed = false;
  // The first stage-0 shortlist measured for the graph's straight funnel (index prefix, then D).
  uint32_t start_keep = 0;
  std::vector<TuneShape> shapes;  // in the order measured
};

}  // namespace mrldb
