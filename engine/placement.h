// PlacementModel: where a search batch runs under device 'auto', chosen by measurement
// (docs/architecture.md, "Placement"). A collection keeps one model. Entries are keyed by the
// plan's shape (its stages and keeps, what runs stage 0: the HNSW graph, a scan, the device
// graph, a filter) and a batch-size bucket (powers of 4: 1-3, 4-15, 16-63, ...); each holds the
// seconds per query observed on each side (the median of the last kWindow runs, so a warm-up
// outlier does not decide). Choose picks the measured-faster side; it explores the side with no
// measurement (bounded: each side is tried once per entry) and re-probes the slower side every
// PlacementOptions::reprobe_every batches of the entry, so a change of timings is noticed.
//
// Thread safety: every method may be called from many threads at once (one mutex).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "mrldb/types.h"

namespace mrldb {

struct PlacementOptions {
  // A batch of fewer queries stays on the CPU until the GPU has been measured for the same
  // shape at some batch size (a GPU call costs tens of microseconds of launches and transfers,
  // which a few queries rarely amortize). Default: 16.
  size_t small_batch = 16;
  // The slower side of an entry is run again every `reprobe_every` batches of that entry (its
  // estimate goes stale otherwise). >= 2. Default: 32.
  uint32_t reprobe_every = 32;
  // Most entries kept; past it the least recently used goes. Default: 256.
  size_t max_entries = 256;
};

// The model's answer for one batch.
struct PlacementChoice {
  bool gpu = false;
  bool exploring = false;  // run to measure that side, not because it is known faster
  // Where and why, for EXPLAIN: "gpu: measured 0.8 us/query vs cpu 2.1 us/query at batch 1024".
  std::string reason;
};

class PlacementModel {
 public:
  static constexpr size_t kWindow = 5;  // observations per side the median is taken over

  explicit PlacementModel(PlacementOptions options = {});

  // The bucket of a batch of n queries (n >= 1): floor(log4(n)).
  static uint32_t Bucket(size_t n);
  // "1-3", "4-15", ...
  static std::string BucketRange(uint32_t bucket);

  // Where a batch of n queries with `shape` runs. `commit`: the batch will run (exploration and
  // re-probe counters move); false only looks (EXPLAIN without ANALYZE).
  PlacementChoice Choose(const std::string& shape, size_t n, bool commit);
  // A batch of n queries with `shape` took `seconds` on the GPU (gpu) or the CPU.
  void Record(const std::string& shape, size_t n, bool gpu, double seconds);
  // Every entry, by shape and bucket.
  std::vector<PlacementEstimate> Estimates() const;

 private:
  struct Side {
    std::array<double, kWindow> recent{};  // seconds per query, a ring
    uint64_t runs = 0;
    uint64_t last_run = 0;                 // the entry's batch count at the last observation
    double Estimate() const;               // median of the recent runs; 0: none
  };
  struct Entry {
    Side cpu, gpu;
    uint64_t batches = 0;  // committed Choose calls
    uint64_t used = 0;     // model clock at the last use (eviction)
  };
  using Key = std::pair<std::string, uint32_t>;

  // REQUIRES mu_ held.
  bool GpuMeasuredForShape(const std::string& shape) const;
  Entry& At(const Key& key);

  const PlacementOptions options_;
  mutable std::mutex mu_;
  std::map<Key, Entry> entries_;  // GUARDED_BY(mu_)
  uint64_t clock_ = 0;            // GUARDED_BY(mu_)
};

}  // namespace mrldb
