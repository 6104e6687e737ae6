// mrldb-bench tiered: what a run measured, and its report (table on stdout, --json).
#pragma once

#include <string>
#include <vector>

#include "bench/disk_probe.h"
#include "bench/tiered_bench.h"

namespace mrldb::bench {

struct TieredResult {
  std::string command, graph;
  unsigned build_threads = 1;
  bool reused = false, truth_cached = false;
  // Ingest (not set when reused).
  double ingest_insert_s = 0, ingest_wall_s = 0, indexed_s = 0, tuning_s = 0, close_s = 0;
  DatabaseMemory ingest_memory;  // after indexing and tuning
  double rss_before_trim_mib = 0, rss_after_trim_mib = 0;  // then, around malloc_trim(0)
  MemoryUse ingest_use;
  // Ground truth.
  double truth_s = 0, truth_check_recall = 0;
  size_t truth_checked = 0;
  // Disk.
  uint64_t disk_bytes = 0, sst_bytes = 0;
  std::vector<std::string> sst_files;
  DiskProbeResult probe;
  std::string probe_error;
  SearchPhase search;
  // Memory (MiB): at the start; before the database (queries made, BLAS loaded); peaks per phase (sampled); over the run (sampled, VmHWM).
  double start_rss_mib = 0, base_rss_mib = 0, peak_truth_mib = 0, peak_ingest_mib = 0, peak_search_mib = 0;
  double peak_sampled_mib = 0, vm_hwm_mib = 0;
};

// Prints the report and writes --json. Returns the exit status (0, or 1 when the JSON file
// cannot be written).
int Report(const TieredArgs& a, const TieredResult& r);

}  // namespace mrldb::bench
