// A collection's device graph (docs/architecture.md, "The GPU graph"): built on the GPU from the
// device copy of the rows, persisted in <db>/gpu/<cid>.graph (checksummed),
// installed again when the device copy is made, rebuilt in the background when missing or when
// too many rows came after it; and the batch funnel that walks it with every stage on the device.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "engine/collection.h"
#include "engine/prefix_index.h"
#include "engine/stage_recorder.h"

namespace mrldb {

namespace {

constexpr char kMagic[8] = {'m', 'r', 'l', 'd', 'b', 'g', 'g', '1'};
constexpr uint32_t kFormat = 1;
// The graph's shape: out-degree and the exact neighbour lists it is pruned from.
constexpr uint32_t kDegree = 32;
constexpr uint32_t kKnn = 64;
// Fewer rows get no device graph (the walk would see most of them anyway).
constexpr uint64_t kMinGraphRows = 1024;
// Rows past the graph are scanned by every walk; beyond this many (or this share of the graph)
// it is rebuilt.
constexpr uint64_t kMaxPendingRows = 65536;
constexpr double kMaxPendingShare = 0.1;

struct Header {
  char magic[8];
  uint32_t format, degree, dims, metric;
  uint64_t rows, checksum;
};

}  // namespace

// <db>/gpu/<cid>.graph: not in hnsw/, whose checkpoints remove every other file of their name.
std::string Collection::DeviceGraphPath() const {
  const std::filesystem::path hnsw(index_path_);
  return (hnsw.parent_path().parent_path() / "gpu" / (hnsw.stem().string() + ".graph")).string();
}

std::shared_ptr<gpu::DeviceBlocks> Collection::DeviceCopy() const {
  std::lock_guard lock(device_mu_);
  return device_;
}

bool Collection::DeviceGraphUsable(const gpu::DeviceBlocks& dev) const {
  return dev.graph_rows() > 0 && device_graph_dims_ == spec().index_dim &&
         dev.resident_rows() >= next_row_;
}

bool Collection::DeviceGraphDue() const {
  auto dev = DeviceCopy();
  if (!dev) return false;  // the GPU was never used for this collection
  std::shared_lock lock(mu_);
  if (live_rows_ < kMinGraphRows || dev->resident_rows() < next_row_) return false;
  // A failed build is tried again only once rows were written since.
  if (device_graph_failed_at_ == next_row_) return false;
  const uint64_t covered = device_graph_dims_ == spec().index_dim ? dev->graph_rows() : 0;
  if (covered == 0) return true;
  const uint64_t pending = next_row_ - covered;
  return pending > kMaxPendingRows || double(pending) > kMaxPendingShare * double(covered);
}

Status Collection::BuildDeviceGraph() {
  std::shared_ptr<gpu::DeviceBlocks> dev;
  gpu::GraphBuildOptions o;
  std::vector<uint8_t> targets;
  uint32_t dims = 0;
  {
    std::shared_lock lock(mu_);
    MRLDB_RETURN_IF_ERROR(DeviceFor(Device::kGpu).status());
    dev = DeviceCopy();
    if (!dev) return Status::NotSupported("the device copy was dropped");
    o.rows = std::min<uint64_t>(next_row_, dev->resident_rows());
    if (live_rows_ < kMinGraphRows || o.rows > (uint64_t{1} << 31) - 2) {
      return Status::InvalidArgument(fmt::format(
          "collection '{}': a device graph needs {} .. 2^31 rows ({} live)", spec().name,
          kMinGraphRows, live_rows_));
    }
    dims = spec().index_dim;
    o.level = static_cast<uint32_t>(ladder_.BlocksCovering(dims) - 1);
    o.metric = static_cast<gpu::Metric>(spec().metric);
    o.degree = kDegree;
    o.knn = kKnn;
    targets.assign(live_.begin(), live_.begin() + o.rows);
    o.targets = targets.data();
  }
  // Outside mu_: writes go on (they append rows, which walks scan until the next build; the
  // device's own lock orders them with the build's steps); deletes are masked at search.
  auto built = dev->BuildGraph(o);
  if (!built.ok()) {
    device_graph_failed_at_ = o.rows;
    return built.status();
  }
  const gpu::GraphBuildResult& r = *built;
  device_graph_dims_ = dims;
  if (log_) {
    log_(fmt::format("collection '{}': device graph of {} rows at {} dims built in {:.1f} s "
                     "(neighbours {:.1f} s, pruning {:.2f} s)", spec().name, o.rows, dims,
                     r.total_seconds, r.knn_seconds, r.prune_seconds));
  }
  return SaveDeviceGraph(r.edges, o.rows, dims);
}

Status Collection::SaveDeviceGraph(const std::vector<uint32_t>& edges, uint64_t rows, uint32_t dims) const {
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.format = kFormat;
  h.degree = kDegree;
  h.dims = dims;
  h.metric = static_cast<uint32_t>(spec().metric);
  h.rows = rows;
  h.checksum = ChecksumBytes(reinterpret_cast<const char*>(edges.data()), edges.size() * sizeof(uint32_t));
  const std::string path = DeviceGraphPath(), tmp = path + ".tmp";
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(&h), sizeof(h));
    out.write(reinterpret_cast<const char*>(edges.data()),
              static_cast<std::streamsize>(edges.size() * sizeof(uint32_t)));
    out.flush();
    if (!out) {
      std::filesystem::remove(tmp, ec);
      return Status::IOError(fmt::format("cannot write the device graph '{}'", tmp));
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IOError(fmt::format("cannot rename '{}': {}", tmp, ec.message()));
  return Status::Ok();
}

Status Collection::LoadDeviceGraph(gpu::DeviceBlocks* dev) const {
  const std::string path = DeviceGraphPath();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(fmt::format("no device graph file '{}'", path));
  Header h{};
  in.read(reinterpret_cast<char*>(&h), sizeof(h));
  if (!in || std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0 || h.format != kFormat) {
    return Status::Corruption(fmt::format("'{}' is not a device graph of format {}", path, kFormat));
  }
  if (h.degree != kDegree || h.dims != spec().index_dim ||
      h.metric != static_cast<uint32_t>(spec().metric) || h.rows == 0 || h.rows > next_row_ ||
      h.rows > dev->resident_rows()) {
    return Status::Corruption(fmt::format(
        "'{}' is stale: degree {}, {} dims, {} rows (the collection: {} dims, {} rows)", path,
        h.degree, h.dims, h.rows, spec().index_dim, next_row_));
  }
  std::vector<uint32_t> edges(h.rows * h.degree);
  in.read(reinterpret_cast<char*>(edges.data()), static_cast<std::streamsize>(edges.size() * sizeof(uint32_t)));
  if (!in || in.peek() != std::char_traits<char>::eof()) {
    return Status::Corruption(fmt::format("'{}' has the wrong size for {} rows", path, h.rows));
  }
  if (ChecksumBytes(reinterpret_cast<const char*>(edges.data()), edges.size() * sizeof(uint32_t)) != h.checksum) {
    return Status::Corruption(fmt::format("'{}' does not match its checksum", path));
  }
  const uint32_t level = static_cast<uint32_t>(ladder_.BlocksCovering(h.dims) - 1);
  MRLDB_RETURN_IF_ERROR(dev->SetGraph(edges, h.rows, h.degree, level));
  device_graph_dims_ = h.dims;
  return Status::Ok();
}

void Collection::RemoveDeviceGraphFile() const {
  std::error_code ec;
  std::filesystem::remove(DeviceGraphPath(), ec);
}

bool Collection::FunnelOnDevice(const ResolvedPlan& plan, const FilterMatch* filter,
                                const gpu::DeviceBlocks& dev) const {
  // The HNSW graph need not be ready (after an open it may still load): the device graph is
  // the device's own.
  if (!plan.hnsw || (filter && filter->brute_force) || !DeviceGraphUsable(dev)) return false;
  for (const FunnelStage& s : plan.stages) {
    if (s.keep > gpu::kMaxFunnelKeep) return false;
  }
  return plan.stages[0].dims == spec().index_dim;
}

Result<std::vector<std::vector<Candidate>>> Collection::RunFunnelOnDevice(
    const float* queries, size_t n, size_t stride, const ResolvedPlan& plan,
    const FilterMatch* filter, gpu::DeviceBlocks* dev, SearchStats* stats) const {
  StageRecorder record(stats);
  gpu::FunnelBatch b;
  b.queries = queries;
  b.nq = n;
  b.query_stride = stride;
  b.metric = static_cast<gpu::Metric>(spec().metric);
  b.rows = next_row_;
  b.mask = filter ? filter->bits.data() : live_.data();
  b.mask_version = filter ? 0 : live_version_;
  b.keep0 = plan.stages[0].keep;
  b.itopk = std::max(plan.ef, b.keep0);
  for (size_t si = 1; si < plan.stages.size(); ++si) {
    b.stages.push_back({static_cast<uint32_t>(ladder_.BlocksCovering(plan.stages[si].dims) - 1),
                        plan.stages[si].keep});
  }
  MRLDB_ASSIGN_OR_RETURN(gpu::FunnelResult r, dev->Funnel(b));
  std::vector<std::vector<Candidate>> out(n);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t j = r.offsets[i]; j < r.offsets[i + 1]; ++j) out[i].push_back({r.distance[j], r.rows[j]});
  }
  if (stats) {
    // One device call: the walk's and the re-ranks' device times are known, not per stage.
    const std::string where = r.scanned_rows ? fmt::format("gpu graph (+{} rows scanned)", r.scanned_rows)
                                             : std::string("gpu graph");
    record("graph", plan.stages[0].dims, filter ? filter->rows.size() : live_rows_, b.keep0,
           b.keep0 * plan.stages[0].dims * sizeof(float), where);
    uint64_t in = b.keep0;
    for (size_t si = 1; si < plan.stages.size(); ++si) {
      const uint32_t done = plan.stages[si - 1].dims;
      record("rerank", plan.stages[si].dims, in, plan.stages[si].keep,
             in * (plan.stages[si].dims - (si == 1 ? 0 : done)) * sizeof(float), "gpu (chained)");
      in = plan.stages[si].keep;
    }
  }
  return out;
}

}  // namespace mrldb
