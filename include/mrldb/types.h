// The vocabulary of mrldb's public API: collection specs, ids, attribute values, rows, hits.
// Every layer uses these types; they carry no behaviour beyond formatting and validation helpers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mrldb/analysis_types.h"
#include "mrldb/status.h"

namespace mrldb {

// How distances are defined. Smaller is always closer.
//   kCosine:       1 - cos(q, x) over the prefix, each prefix renormalized; a zero prefix has
//                  cosine 0 (distance 1).
//   kInnerProduct: -<q, x> (negated so that smaller is closer, as pgvector's <#>).
//   kL2:           Euclidean distance sqrt(sum (q_i - x_i)^2).
enum class Metric : uint8_t { kCosine = 1, kInnerProduct = 2, kL2 = 3 };

enum class AttrType : uint8_t { kText = 1, kInt = 2, kFloat = 3, kBool = 4 };
enum class IdType : uint8_t { kText = 1, kBigint = 2 };

std::string_view MetricName(Metric m);      // "cosine", "ip", "l2"
std::string_view AttrTypeName(AttrType t);  // "TEXT", "INT", "FLOAT", "BOOL"
std::string_view IdTypeName(IdType t);      // "TEXT", "BIGINT"
Result<Metric> ParseMetric(std::string_view name);  // case-insensitive; "inner_product" too

// A primary key: BIGINT or TEXT.
using Key = std::variant<int64_t, std::string>;
std::string KeyToString(const Key& key);  // 42 or 'abc' (quoted, for error messages)

// An attribute value. std::monostate is SQL NULL. INT is int64, FLOAT is double.
using Value = std::variant<std::monostate, int64_t, double, bool, std::string>;
std::string ValueToString(const Value& v);  // NULL, 42, 1.5, true, 'abc'

// UTF-8 (RFC 3629): TEXT ids and TEXT values must be valid UTF-8 (overlong forms, surrogates
// and code points above U+10FFFF are not), checked by every entry point through these two.
// The length (2..4) of the valid multi-byte sequence starting at text[i], or 0 when the sequence
// there is invalid or cut short. REQUIRES: i < text.size() and text[i] is not ASCII.
size_t Utf8SequenceLength(std::string_view text, size_t i);
// The 0-based offset of the first byte of the first invalid sequence, or -1 when `text` is valid.
int64_t InvalidUtf8Offset(std::string_view text);
// For an error message: "is not valid UTF-8 (byte 6 of 9: 0xff)" (the byte 1-based), or ""
// when `text` is valid.
std::string DescribeInvalidUtf8(std::string_view text);

struct ColumnDef {
  std::string name;
  AttrType type = AttrType::kText;
};

// hnswlib parameters of the prefix index (used from the search issue on; stored now).
// What the prefix graph stores per row: the float32 prefix, or an int8 code of it (one scale
// per vector; engine/prefix_codes.h), a quarter of the bytes, compared by integer dot products.
// Graph distances only choose stage 0's candidates; later stages and results are exact.
enum class GraphCodes : uint8_t { kFloat32 = 0, kInt8 = 1 };
std::string_view GraphCodesName(GraphCodes c);  // "float32", "int8"

struct HnswParams {
  // Graph degree. Default: 16.
  uint32_t m = 16;
  // Candidate list size while building. Default: 200.
  uint32_t ef_construction = 200;
  // Candidate list size while searching. Default: 64.
  uint32_t ef_search = 64;
  // What the graph stores. int8 codes take 0.6x the index memory (0.10x hnswlib's on full
  // dims at 1M x 768) but measured 0.7-0.8x the one-thread QPS of float32 at 1M rows on the
  // H200 host (docs/benchmarks.md). Default: float32.
  GraphCodes codes = GraphCodes::kFloat32;
};

// One stage of a Matryoshka funnel (see mrldb/search.h).
struct FunnelStage {
  uint32_t dims = 0;  // a granularity of the collection's ladder
  uint32_t keep = 0;  // candidates passed on; ignored (= k) for the last stage
  bool operator==(const FunnelStage&) const = default;
};

// Where a collection's default plan comes from (DESCRIBE shows it).
//   kDerived:   nothing stored; derived from k and the ladder at search time
//   kAutoTuned: tuned by the database's background tuner for CollectionSpec::target_recall
//   kTune:      stored by TUNE / Database::Tune
//   kSet:       set by hand (ALTER ... SET (plan = FUNNEL ...) / Database::SetDefaultPlan)
enum class PlanSource : uint8_t { kDerived = 0, kAutoTuned = 1, kTune = 2, kSet = 3 };
std::string_view PlanSourceName(PlanSource s);  // "derived", "auto-tuned", "TUNE", "set"

// A collection's stored default funnel and where it came from (docs/architecture.md, "Default
// plans"). A search for k <= k0 runs it as stored. For k > k0 it is re-derived, not multiplied:
// with the tuned straight-shape points (k0, straight_keep) and (wide_k, wide_keep) the plan is
// FUNNEL (index_dim KEEP n, D) EF n with n = straight_keep * (k / k0)^s, s the slope through the
// two points on a log-log scale (>= 0); without them (set by hand) every keep and ef is scaled
// by (k / k0)^0.5. Keeps never fall below k.
struct DefaultPlan {
  // Stages and stage-0 ef. Empty: nothing stored (the plan is derived from k and the ladder).
  std::vector<FunnelStage> stages;
  uint32_t ef = 0;
  // The k the plan was made for (k0). 0: any k (used as stored for every k).
  uint32_t k = 0;
  // Tuned plans: the stage-0 keep of the straight shape reaching the target for k and for wide_k
  // (> k) results; 0, 0, 0 when tuning could not measure them.
  uint32_t wide_k = 0, straight_keep = 0, wide_keep = 0;
  PlanSource source = PlanSource::kDerived;
  // Live rows when it was tuned or set (the auto-tuner replaces it once they grew by half).
  uint64_t rows = 0;
  // The recall target it was tuned for, and its measured recall@k on the held-back queries;
  // 0 and -1 when it was not tuned.
  double target = 0;
  double recall = -1;
};

// The background graph chooser's last word on the collection's index_dim and graph codes
// (DatabaseOptions::auto_graph; docs/architecture.md, "Choosing the graph").
struct GraphAdvice {
  uint64_t rows = 0;  // live rows when it was made (0: never)
  std::string note;   // what was measured, chosen and why; or that ALTER set them
};

// What CreateCollection takes. Validate() fills defaults and checks every field.
struct CollectionSpec {
  // Collection name: [A-Za-z_][A-Za-z0-9_]*, at most 64 characters.
  std::string name;
  // Primary-key column name and type. Default: "id", TEXT.
  std::string id_column = "id";
  IdType id_type = IdType::kText;
  // Vector column name. Default: "embedding".
  std::string vector_column = "embedding";
  // Full dimension D, 1..65536. Required.
  uint32_t dim = 0;
  // Matryoshka ladder g1 < g2 < ... < gk = D. Default (empty): powers of two from 16 below D,
  // then D (for D <= 16: just D).
  std::vector<uint32_t> granularities;
  // Default: kCosine.
  Metric metric = Metric::kCosine;
  // Prefix the HNSW graph is built on; must be on the ladder. Default (0): 64 if on the ladder,
  // else the largest granularity <= 64, else g1.
  uint32_t index_dim = 0;
  HnswParams hnsw;
  // Typed attribute columns; names unique and distinct from the id and vector columns.
  std::vector<ColumnDef> attributes;
  // Where CREATE declared the id and the vector column among all the columns (0-based, distinct,
  // at most attributes.size() + 1); the attributes fill the other places in their order. INSERT
  // without a column list, SELECT * and DESCRIBE follow this order. Default: 0 and 1 (id,
  // vector, then the attributes).
  uint32_t id_position = 0;
  uint32_t vector_position = 1;
  // Recall@10 the background tuner aims at for the default plan, in (0, 1]. Default: 0.95.
  double target_recall = 0.95;
  // The stored default funnel (set by tuning or SetDefaultPlan); CreateCollection ignores it.
  DefaultPlan default_plan;
  // Set by the background graph chooser and by ALTER; CreateCollection ignores it.
  GraphAdvice graph_advice;
  // Set by ANALYZE and TUNE PREDICT (one calibration per label column); CreateCollection ignores
  // them.
  PrefixAnalysis analysis;
  std::vector<PredictCalibration> calibrations;

  // Fills defaults, then checks the spec. Returns InvalidArgument naming the field at fault.
  Status Validate();
  // Index of attribute `name`, or -1.
  int AttributeIndex(std::string_view name) const;
  // Every column in declaration order: kIdColumn, kVectorColumn or an attribute's index.
  static constexpr int kIdColumn = -2, kVectorColumn = -1;
  std::vector<int> ColumnOrder() const;
};

// The default ladder for dimension `dim` (see CollectionSpec::granularities).
std::vector<uint32_t> DefaultLadder(uint32_t dim);

// What a collection holds in GPU memory (SHOW MEMORY, DESCRIBE; docs/architecture.md,
// "Device-resident rows"). The device copy is made at the collection's first GPU search.
struct DeviceMemoryUse {
  bool copy = false;          // the collection has a device copy
  std::string device;         // its device's name
  uint64_t rows = 0;          // rows resident on the device (the rest are served by the CPU)
  uint64_t vector_bytes = 0;  // device memory allocated for the vector blocks and prefix norms
  uint64_t graph_rows = 0;    // rows of the device graph (0: none)
  uint64_t graph_bytes = 0;   // device memory of the device graph
  // The copy's budget: DatabaseOptions::gpu_memory_bytes, or 80% of the device's free memory
  // when the copy was made.
  uint64_t budget_bytes = 0;
  bool float16 = false;       // the copy is float16 (DatabaseOptions::gpu_float16)
  // Without a copy: why GPU searches cannot make one ("no CUDA device present", ...), or empty
  // when none was needed yet.
  std::string unavailable;
};

// Memory one collection holds, as the database's memory budget counts it (DESCRIBE, SHOW
// MEMORY; docs/architecture.md, "Memory budget").
struct MemoryUse {
  uint64_t graph_bytes = 0;      // HNSW graph: its codes (or prefix vectors) and links
  uint64_t blocks_bytes = 0;     // resident vector blocks and their prefix norms
  uint64_t row_state_bytes = 0;  // per row: id map, keys, attribute columns, liveness
  uint64_t rows = 0;             // row ids handed out (the blocks hold one row each)
  uint32_t blocks = 0;           // vector blocks (ladder steps)
  uint32_t resident_blocks = 0;  // blocks [0, resident_blocks) are in memory
  uint32_t wanted_blocks = 0;    // the blocks to keep in memory; more than resident: loading
  DeviceMemoryUse device;        // GPU memory (not counted against the memory budget)
};

struct CollectionInfo {
  CollectionSpec spec;
  uint64_t live_rows = 0;      // rows that can be returned
  uint64_t allocated_rows = 0; // internal row ids handed out (live + deleted)
  uint64_t index_rows = 0;       // rows in the HNSW graph (deleted ones marked, not removed)
  uint64_t index_live_rows = 0;  // rows in the graph not marked deleted
  // Live rows the background indexer has not added to the graph yet (searches scan them); read
  // in one snapshot with index_live_rows, so index_live_rows + index_pending_rows = live_rows
  // (the graph may briefly hold a row deleted while it was being added: pending is then 0).
  uint64_t index_pending_rows = 0;
  uint64_t index_memory_bytes = 0;  // HNSW graph: prefix vectors + links
  // RocksDB's estimate of the collection's bytes on disk and in memtables (rows, id index,
  // vector groups; the saved HNSW graph files are not counted).
  uint64_t disk_bytes = 0;
  // Rows deleted or replaced since the collection's last completed VACUUM: their vector bytes
  // are still stored (the background vacuum's trigger; DatabaseOptions::auto_vacuum_share).
  uint64_t unvacuumed_rows = 0;
  MemoryUse memory;
  // The default plan a search for 10 results runs now (spec.default_plan re-derived, or the
  // derived plan), as text: "FUNNEL (64 KEEP 40, 256) EF 40".
  std::string plan_in_force;
};

// What a VACUUM did (Database::Vacuum).
struct VacuumReport {
  uint64_t dead_rows = 0;         // rows dead (deleted or replaced) when it began: those covered
  uint64_t groups_rewritten = 0;  // row groups rewritten without the dead rows they stored
  uint64_t bytes_freed = 0;       // vector and norm bytes of dead rows removed from them
  // RocksDB's estimate of the collection's vector bytes on disk and in memtables before and
  // after (after the compaction that frees the replaced values' space).
  uint64_t disk_bytes_before = 0, disk_bytes_after = 0;
};

// One row as returned by Get().
struct Record {
  Key id;
  std::vector<float> vector;   // the first `dims` values that were asked for
  std::vector<Value> attributes;  // in the collection's column order
};

// One search result.
// A CUDA device as Database::GpuDevices reports it.
struct GpuDeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0, compute_minor = 0;
  size_t total_memory = 0;
  int multiprocessors = 0;
  // Free device memory now; 0 when not read (reading it starts a CUDA context on the device,
  // so Database::GetMemory reads it only once a device copy exists).
  size_t free_memory = 0;
};

// One entry of a collection's placement model (device 'auto'; Database::GetPlacement, SHOW
// PLACEMENT; docs/architecture.md, "Placement").
struct PlacementEstimate {
  std::string shape;           // the plan and what runs stage 0: "FUNNEL (64 KEEP 40, 256) graph"
  uint64_t batch_min = 0, batch_max = 0;  // the batch-size bucket: [4^b, 4^(b+1) - 1]
  double cpu_seconds = 0, gpu_seconds = 0;  // per query, median of the last runs; 0: none
  uint64_t cpu_runs = 0, gpu_runs = 0;
  uint64_t batches = 0;        // batches placed
};

struct Hit {
  Key id;
  float distance = 0;
  std::vector<Value> attributes;  // the columns asked for, in the order asked
  std::vector<float> vector;      // the first SearchOptions::vector_dims values, when asked
};

}  // namespace mrldb
