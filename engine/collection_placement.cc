// Where a search runs (docs/architecture.md, "Placement"): device 'cpu' and 'gpu' as asked;
// 'auto' by the collection's PlacementModel (engine/placement.h), within the hard constraints
// (no device, blocks not all in memory: the CPU).
#include <fmt/format.h>

#include "engine/collection.h"

namespace mrldb {

namespace {

// The model's key: the plan as EXPLAIN shows it and what runs its first stage.
std::string Shape(const SearchPlan& shown, bool graph_first, bool device_graph, bool filter) {
  const char* first = device_graph ? "device graph" : graph_first ? "graph" : "scan";
  return fmt::format("{}; stage 1 {}{}", shown.ToString(), first, filter ? ", filtered" : "");
}

}  // namespace

Result<Collection::Placed> Collection::Place(Device device, size_t n, const ResolvedPlan& plan,
                                             const FilterMatch* filter, bool commit) const {
  Placed p;
  if (device == Device::kCpu) {
    p.reason = "cpu: device 'cpu'";
    return p;
  }
  if (device == Device::kGpu) {
    MRLDB_ASSIGN_OR_RETURN(p.dev, DeviceFor(Device::kGpu));
    p.reason = "gpu: device 'gpu'";
  } else {
    if (cache_.resident() < ladder_.blocks()) {
      p.reason = fmt::format("cpu: {} of {} vector blocks in memory; the GPU needs all of them",
                             cache_.resident(), ladder_.blocks());
      return p;
    }
    std::shared_ptr<gpu::DeviceBlocks> existing;
    std::string error;
    {
      std::lock_guard lock(device_mu_);
      existing = device_;
      error = device_error_;
    }
    if (!existing && !error.empty()) {
      p.reason = "cpu: no device (" + error + ")";
      return p;
    }
    const bool graph = GraphFirst(plan, filter);
    p.shape = Shape(plan.Shown(), graph, existing && FunnelOnDevice(plan, filter, *existing), filter);
    PlacementChoice choice = placement_.Choose(p.shape, n, commit);
    if (choice.gpu && !existing) {
      // The first GPU search makes the device copy (it may bring a saved device graph along,
      // which changes the shape).
      MRLDB_ASSIGN_OR_RETURN(p.dev, DeviceFor(Device::kAuto));
      if (!p.dev) {
        std::lock_guard lock(device_mu_);
        p.reason = "cpu: no device (" + device_error_ + ")";
        p.shape.clear();
        return p;
      }
      const std::string shape = Shape(plan.Shown(), graph, FunnelOnDevice(plan, filter, *p.dev), filter);
      if (shape != p.shape) {
        p.shape = shape;
        choice = placement_.Choose(p.shape, n, commit);
      }
    }
    p.reason = std::move(choice.reason);
    if (!choice.gpu) {
      p.dev = nullptr;
      return p;
    }
    if (!p.dev) p.dev = existing.get();  // kept alive by device_ while mu_ is held
  }
  if (GraphFirst(plan, filter) && !FunnelOnDevice(plan, filter, *p.dev)) {
    p.reason += "; stage 1 on the CPU threads (the HNSW graph is a CPU structure; no device graph "
                "for this plan)";
  }
  return p;
}

void Collection::RecordPlacement(const Placed& p, size_t n, bool gpu, double seconds) const {
  if (!p.shape.empty()) placement_.Record(p.shape, n, gpu, seconds);
}

Result<std::string> Collection::ExplainPlacement(const SearchOptions& options, size_t queries) const {
  std::shared_lock lock(mu_);
  MRLDB_ASSIGN_OR_RETURN(ResolvedPlan plan, ResolvePlan(options.plan, options.k));
  MRLDB_ASSIGN_OR_RETURN(auto filter, MatchFilter(options.filter));
  MRLDB_ASSIGN_OR_RETURN(Placed p, Place(options.device, std::max<size_t>(queries, 1), plan,
                                         filter.get(), /*commit=*/false));
  return p.reason;
}

}  // namespace mrldb
