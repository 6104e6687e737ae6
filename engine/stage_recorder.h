// StageRecorder: appends one StageStats per funnel stage, timing each from the end of the last
// (EXPLAIN ANALYZE). A recorder without stats does nothing.
#pragma once

#include <chrono>
#include <string>

#include "mrldb/search.h"

namespace mrldb {

class StageRecorder {
 public:
  explicit StageRecorder(SearchStats* stats) : stats_(stats), t0_(stats ? Now() : 0) {}
  void operator()(const char* method, uint32_t dims, uint64_t in, uint64_t out, uint64_t bytes,
                  std::string device = "cpu") {
    if (!stats_) return;
    const double t1 = Now();
    stats_->stages.push_back({method, dims, in, out, bytes, t1 - t0_, std::move(device)});
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
