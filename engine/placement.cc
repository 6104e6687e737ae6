#include "engine/placement.h"

#include <algorithm>

#include <fmt/format.h>

namespace mrldb {

namespace {

std::string PerQuery(double seconds) {
  return seconds < 1e-3 ? fmt::format("{:.1f} us/query", seconds * 1e6)
                        : fmt::format("{:.2f} ms/query", seconds * 1e3);
}

const char* SideName(bool gpu) { return gpu ? "gpu" : "cpu"; }

}  // namespace

PlacementModel::PlacementModel(PlacementOptions options) : options_(options) {}

uint32_t PlacementModel::Bucket(size_t n) {
  uint32_t b = 0;
  while (n >= 4) {
    n /= 4;
    ++b;
  }
  return b;
}

std::string PlacementModel::BucketRange(uint32_t bucket) {
  const uint64_t lo = uint64_t{1} << (2 * bucket);
  return fmt::format("{}-{}", lo, lo * 4 - 1);
}

double PlacementModel::Side::Estimate() const {
  if (runs == 0) return 0;
  const size_t n = std::min<uint64_t>(runs, kWindow);
  std::array<double, kWindow> v = recent;
  std::nth_element(v.begin(), v.begin() + n / 2, v.begin() + n);
  return v[n / 2];
}

bool PlacementModel::GpuMeasuredForShape(const std::string& shape) const {
  for (auto it = entries_.lower_bound({shape, 0}); it != entries_.end() && it->first.first == shape; ++it) {
    if (it->second.gpu.runs > 0) return true;
  }
  return false;
}

PlacementModel::Entry& PlacementModel::At(const Key& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= std::max<size_t>(options_.max_entries, 1)) {
      auto lru = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
        return a.second.used < b.second.used;
      });
      entries_.erase(lru);
    }
    it = entries_.emplace(key, Entry{}).first;
  }
  it->second.used = ++clock_;
  return it->second;
}

PlacementChoice PlacementModel::Choose(const std::string& shape, size_t n, bool commit) {
  std::lock_guard lock(mu_);
  const Key key{shape, Bucket(n)};
  Entry none;
  Entry* e = &none;
  if (commit) {
    e = &At(key);
    ++e->batches;
  } else if (auto it = entries_.find(key); it != entries_.end()) {
    e = &it->second;
  }
  const std::string at = fmt::format("at batch {}", n);
  // A side is explored when it has never been tried, or when its last try (measured or not:
  // a failed GPU run records nothing) is reprobe_every batches old.
  auto due = [&](const Side& s) {
    return s.runs == 0 && s.last_run == 0 ? true : e->batches - s.last_run >= options_.reprobe_every;
  };
  auto pick = [&](bool gpu, bool exploring, std::string reason) {
    if (commit && exploring) (gpu ? e->gpu : e->cpu).last_run = e->batches;
    return PlacementChoice{gpu, exploring, fmt::format("{}: {}", SideName(gpu), reason)};
  };
  const double c = e->cpu.Estimate(), g = e->gpu.Estimate();
  if (e->gpu.runs == 0) {
    if (n < options_.small_batch && !GpuMeasuredForShape(shape)) {
      return pick(false, false, fmt::format("batch of {} (under {}), not yet measured on the GPU "
                                            "for this plan", n, options_.small_batch));
    }
    if (due(e->gpu)) return pick(true, true, "exploring, not yet measured " + at);
    if (e->cpu.runs == 0) return pick(false, true, "exploring, not yet measured " + at);
    return pick(false, false, fmt::format("measured {} {}; the GPU run did not complete",
                                          PerQuery(c), at));
  }
  if (e->cpu.runs == 0) {
    if (due(e->cpu)) return pick(false, true, "exploring, not yet measured " + at);
    return pick(true, false, fmt::format("measured {} {}; the CPU run did not complete",
                                         PerQuery(g), at));
  }
  const bool gpu_faster = g < c;
  const Side& slower = gpu_faster ? e->cpu : e->gpu;
  if (commit && due(slower)) {
    return pick(!gpu_faster, true,
                fmt::format("re-probing: measured {} vs {} {} {} batches ago",
                            PerQuery(gpu_faster ? c : g), SideName(gpu_faster),
                            PerQuery(gpu_faster ? g : c), e->batches - slower.last_run));
  }
  return pick(gpu_faster, false,
              fmt::format("measured {} vs {} {} {}", PerQuery(gpu_faster ? g : c),
                          SideName(!gpu_faster), PerQuery(gpu_faster ? c : g), at));
}

void PlacementModel::Record(const std::string& shape, size_t n, bool gpu, double seconds) {
  if (n == 0 || !(seconds >= 0)) return;
  std::lock_guard lock(mu_);
  Entry& e = At({shape, Bucket(n)});
  Side& s = gpu ? e.gpu : e.cpu;
  s.recent[s.runs % kWindow] = seconds / n;
  ++s.runs;
  s.last_run = e.batches;
}

std::vector<PlacementEstimate> PlacementModel::Estimates() const {
  std::lock_guard lock(mu_);
  std::vector<PlacementEstimate> out;
  for (const auto& [key, e] : entries_) {
    const uint64_t lo = uint64_t{1} << (2 * key.second);
    out.push_back({key.first, lo, lo * 4 - 1, e.cpu.Estimate(), e.gpu.Estimate(), e.cpu.runs,
                   e.gpu.runs, e.batches});
  }
  return out;
}

}  // namespace mrldb
