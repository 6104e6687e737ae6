// The random-read rate of the disk under a set of files: O_DIRECT preads of 4 KiB at random
// 4 KiB-aligned offsets (a file chosen in proportion to its size), from T threads at once, each
// with one read in flight (so queue depth T). O_DIRECT bypasses the page cache, so a file's
// being cached does not count; a virtual disk's host may still cache (the report says what was
// probed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mrldb/status.h"

namespace mrldb::bench {

struct DiskProbePoint {
  unsigned threads = 0;  // = queue depth
  uint64_t reads = 0;
  double reads_per_s = 0;
  double p50_us = 0, p99_us = 0;  // per read
};

struct DiskProbeResult {
  uint64_t files = 0, bytes = 0;  // what was probed
  std::vector<DiskProbePoint> points;
  // The point with the most reads per second.
  DiskProbePoint Best() const;
  // The point with `threads` threads (a zero point when not measured).
  DiskProbePoint At(unsigned threads) const;
};

constexpr uint32_t kProbeReadBytes = 4096;

// Probes `files` (each at least 4 KiB is used; smaller ones are skipped) for `seconds` at each
// thread count. Errors: InvalidArgument (no file of 4 KiB or more), IOError (a file cannot be
// opened with O_DIRECT, e.g. on tmpfs, or a read fails: the message names it).
Result<DiskProbeResult> ProbeRandomReads(const std::vector<std::string>& files,
                                         const std::vector<unsigned>& threads, double seconds,
                                         uint64_t seed = 1);

}  // namespace mrldb::bench
