// Peak resident set size of this process, sampled: a thread reads VmRSS from /proc/self/status
// every `period`; TakePeak() returns the largest sample since the last TakePeak (a phase's peak).
// VmHWM (the kernel's own high-water mark over the whole process life) is read by HighWaterMiB.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

namespace mrldb::bench {

// The "<field>: N kB" line of /proc/self/status in MiB (0 where unavailable).
inline double ProcStatusMiB(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double kb = 0;
  const size_t len = std::strlen(field);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, field, len) == 0 && line[len] == ':') {
      kb = std::strtod(line + len + 1, nullptr);
      break;
    }
  }
  std::fclose(f);
  return kb / 1024;
}

inline double HighWaterMiB() { return ProcStatusMiB("VmHWM"); }

class RssSampler {
 public:
  explicit RssSampler(std::chrono::milliseconds period = std::chrono::milliseconds(20))
      : thread_([this, period] {
          while (!stop_.load()) {
            Sample();
            std::this_thread::sleep_for(period);
          }
        }) {}
  ~RssSampler() {
    stop_ = true;
    thread_.join();
  }
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;

  // The largest VmRSS sample (MiB) since the last call (or the start), this moment's included.
  double TakePeak() {
    Sample();
    return phase_peak_.exchange(0);
  }
  // The largest sample over the sampler's life.
  double Peak() {
    Sample();
    return peak_.load();
  }

 private:
  void Sample() {
    const double rss = ProcStatusMiB("VmRSS");
    for (std::atomic<double>* p : {&phase_peak_, &peak_}) {
      double cur = p->load();
      while (rss > cur && !p->compare_exchange_weak(cur, rss)) {
      }
    }
  }
  std::atomic<bool> stop_{false};
  std::atomic<double> phase_peak_{0}, peak_{0};
  std::thread thread_;  // last: starts after the fields it uses
};

}  // namespace mrldb::bench
