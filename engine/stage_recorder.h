// StageRecorder: appends one StageStats per funnel stage, timing each from the end of the last
// (EXPLAIN ANALYZE). A recorder without stats does nothing: `Counters()` gives a stage
// somewhere to count its storage reads only when they are recorded.
#pragma once

#include <chrono>
#include <string>

#include "mrldb/search.h"
#include "storage/kv_store.h"

namespace mrldb {

class StageRecorder {
 public:
  explicit StageRecorder(SearchStats* stats) : stats_(stats), t0_(stats ? Now() : 0) {}
  // Where a stage counts its storage reads: null when nothing is recorded.
  storage::ReadCounters* Counters(storage::ReadCounters* c) const { return stats_ ? c : nullptr; }
  // `io`: what the stage read from storage (blocks that are not resident).
  void operator()(const char* method, uint32_t dims, uint64_t in, uint64_t out, uint64_t bytes,
                  std::string device = "cpu", const storage::ReadCounters& io = {}) {
    if (!stats_) return;
    const double t1 = Now();
    stats_->stages.push_back({method, dims, in, out, bytes, t1 - t0_, std::move(device),
                              io.cache_hits, io.reads, io.bytes});
    t0_ = t1;
  }

 private:
  static double Now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  SearchStats* const stats_;
  double t0_;
};

}  // namespace mrldb
