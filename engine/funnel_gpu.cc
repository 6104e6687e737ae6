// The GPU side of the funnel: the collection's device copy of its column blocks (made at the
// first GPU search, kept in step by writes), batched plans whose re-ranking stages run on the
// GpuReranker, and GPU brute force (exact search, and stage 0 when it is a scan).
#include <algorithm>

#include <fmt/format.h>

#include "engine/collection.h"
#include "engine/gpu_reranker.h"
#include "engine/stage_recorder.h"

namespace mrldb {

Result<gpu::DeviceBlocks*> Collection::DeviceFor(Device device) const {
  if (device == Device::kCpu) return nullptr;
  if (cache_.resident() < ladder_.blocks()) {
    // The device copy is made from the column cache; blocks read from storage stay on the CPU.
    if (device == Device::kAuto) return nullptr;
    return Status::NotSupported(fmt::format(
        "device 'gpu': collection '{}' has {} of its {} vector blocks in memory (still loading, or "
        "a memory budget keeps the rest in storage); GPU searches need all of them",
        spec().name, cache_.resident(), ladder_.blocks()));
  }
  std::lock_guard lock(device_mu_);
  if (!device_ && device_error_.empty()) {
    Status st;
    if (!gpu_settings_.enabled) {
      st = Status::NotSupported("GPU searches are disabled by DatabaseOptions::gpu = false");
    } else {
      std::vector<uint32_t> widths;
      for (size_t b = 0; b < ladder_.blocks(); ++b) widths.push_back(ladder_.width(b));
      auto made = gpu::DeviceBlocks::Create(widths, gpu_settings_.blocks);
      if (made.ok()) {
        std::unique_ptr<gpu::DeviceBlocks> d = std::move(*made);
        // mu_ is held shared: no write is published while the rows are copied.
        st = d->Reserve(next_row_);
        const uint64_t resident = d->resident_rows();
        if (st.ok()) st = CopyRowsToDevice(d.get(), 0, resident);
        if (st.ok()) {
          if (log_) {
            log_(fmt::format("collection '{}': {} of {} rows resident on GPU {} ({} MiB, {})",
                             spec().name, resident, next_row_, d->device_name(),
                             d->device_bytes() >> 20,
                             d->precision() == gpu::Precision::kFloat16 ? "float16" : "float32"));
          }
          // A device graph saved earlier is installed with the copy; a missing or stale one
          // is rebuilt by the background thread (DeviceGraphDue).
          if (Status g = LoadDeviceGraph(d.get()); !g.ok() && g.code() != Status::Code::kNotFound && log_) {
            log_(fmt::format("collection '{}': device graph not loaded, it will be rebuilt: {}",
                             spec().name, g.message()));
          }
          device_ = std::move(d);
        }
      } else {
        st = made.status();
      }
    }
    if (!st.ok()) device_error_ = st.message();
  }
  if (device_) return device_.get();
  if (device == Device::kGpu) {
    return Status::NotSupported(fmt::format("device 'gpu': {}", device_error_));
  }
  if (!device_logged_ && log_) {
    log_(fmt::format("collection '{}': device 'auto' runs on the CPU: {}", spec().name,
                     device_error_));
  }
  device_logged_ = true;
  return nullptr;
}

DeviceMemoryUse Collection::DeviceMemory() const {
  DeviceMemoryUse m;
  std::lock_guard lock(device_mu_);
  if (!device_) {
    m.unavailable = device_error_;
    return m;
  }
  m.copy = true;
  m.device = device_->device_name();
  m.rows = device_->resident_rows();
  // device_bytes() counts the graph's reserve (kGraphBytesPerRow) with each allocated row; the
  // vectors and norms are the rest (the graph's own allocation is graph_bytes()).
  const bool half = device_->precision() == gpu::Precision::kFloat16;
  const size_t row_bytes = size_t{spec().dim} * (half ? 2 : 4) + ladder_.blocks() * sizeof(float);
  m.vector_bytes = device_->device_bytes() / (row_bytes + gpu::kGraphBytesPerRow) * row_bytes;
  m.graph_rows = device_->graph_rows();
  m.graph_bytes = device_->graph_bytes();
  m.budget_bytes = device_->budget_bytes();
  m.float16 = half;
  return m;
}

Status Collection::CopyRowsToDevice(gpu::DeviceBlocks* d, uint64_t first, uint64_t n) const {
  for (size_t b = 0; b < ladder_.blocks(); ++b) {
    // Rows are contiguous within a cache chunk: one copy per chunk the range touches.
    for (uint64_t row = first; row < first + n;) {
      const uint64_t in_chunk =
          std::min<uint64_t>(first + n - row, ColumnCache::kChunkRows - row % ColumnCache::kChunkRows);
      MRLDB_RETURN_IF_ERROR(d->SetRows(b, row, in_chunk, cache_.Row(b, row)));
      row += in_chunk;
    }
    MRLDB_RETURN_IF_ERROR(d->SetSqNorms(b, first, n, cache_.SqNorms(b) + first));
  }
  return Status::Ok();
}

void Collection::SyncDevice(uint64_t first, uint64_t n) {
  std::lock_guard lock(device_mu_);
  if (!device_ || n == 0) return;
  Status st = device_->Reserve(first + n);
  if (st.ok()) st = CopyRowsToDevice(device_.get(), first, n);
  if (!st.ok()) {
    // The write is committed; the device copy is stale, so it goes.
    device_.reset();
    device_error_ = "the device copy was dropped after a failed update: " + st.message();
    if (log_) log_(fmt::format("collection '{}': {}", spec().name, device_error_));
  }
}

Result<std::vector<std::vector<Candidate>>> Collection::ScanTopKGpu(
    const float* queries, size_t n, size_t stride, uint32_t dims, size_t keep,
    const FilterMatch* filter, gpu::DeviceBlocks* dev, RerankSplit* split) const {
  const uint64_t rows = std::min<uint64_t>(next_row_, dev->resident_rows());
  std::vector<double> q_sq(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t d = 0; d < dims; ++d) q_sq[i] += double{queries[i * stride + d]} * queries[i * stride + d];
  }
  gpu::ExactBatch b;
  b.queries = queries;
  b.nq = n;
  b.query_stride = stride;
  b.dims = dims;
  b.q_sq = q_sq.data();
  b.mask = filter ? filter->bits.data() : live_.data();
  b.rows = rows;
  b.metric = static_cast<gpu::Metric>(spec().metric);
  b.k = static_cast<uint32_t>(keep);
  MRLDB_ASSIGN_OR_RETURN(gpu::ExactResult r, dev->Exact(b));
  std::vector<std::vector<Candidate>> out(n);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t j = r.offsets[i]; j < r.offsets[i + 1]; ++j) out[i].push_back({r.distance[j], r.rows[j]});
  }
  split->gpu += rows;
  if (rows < next_row_) {
    // Partial residency: the rows beyond the device's budget are scanned by the CPU.
    std::vector<uint64_t> rest;
    for (uint64_t row = rows; row < next_row_; ++row) {
      if (filter ? filter->bits[row] : live_[row]) rest.push_back(row);
    }
    std::vector<Status> errors(n);
    pool_->ParallelFor(n, [&](size_t i) {
      TopK top(keep);
      for (const Candidate& c : out[i]) top.Push(c.distance, c.row);
      auto cpu = ScanTopK(queries + i * stride, dims, keep, &rest, false, nullptr, nullptr);
      if (!cpu.ok()) {
        errors[i] = cpu.status();
        return;
      }
      for (const Candidate& c : *cpu) top.Push(c.distance, c.row);
      out[i] = top.TakeSorted();
    });
    for (const Status& st : errors) MRLDB_RETURN_IF_ERROR(st);
    split->cpu += rest.size();
  }
  return out;
}

Result<std::vector<std::vector<Candidate>>> Collection::RunPlanGpu(
    const float* queries, size_t n, size_t stride, const ResolvedPlan& plan,
    const FilterMatch* filter, gpu::DeviceBlocks* dev, SearchStats* stats) const {
  if (FunnelOnDevice(plan, filter, *dev)) {
    return RunFunnelOnDevice(queries, n, stride, plan, filter, dev, stats);
  }
  StageRecorder record(stats);
  const FunnelStage& first = plan.stages[0];
  const bool graph = GraphFirst(plan, filter);
  CandidateLists lists;
  if (graph) {
    // The graph is a CPU structure: stage 0 runs on the search threads, query by query.
    std::vector<std::vector<Candidate>> c0(n);
    if (n == 1) {
      MRLDB_RETURN_IF_ERROR(FirstStage(queries, plan, filter, /*parallel=*/true, record, &c0[0]));
    } else {
      std::vector<Status> errors(n);
      pool_->ParallelFor(n, [&](size_t i) {
        StageRecorder none(nullptr);
        errors[i] = FirstStage(queries + i * stride, plan, filter, /*parallel=*/false, none, &c0[i]);
      });
      for (const Status& st : errors) MRLDB_RETURN_IF_ERROR(st);
    }
    for (const auto& c : c0) lists.AddQuery(c);
  } else {
    RerankSplit split;
    MRLDB_ASSIGN_OR_RETURN(auto c0, ScanTopKGpu(queries, n, stride, first.dims, first.keep, filter,
                                                dev, &split));
    record("scan", first.dims, filter ? filter->rows.size() : live_rows_, c0.empty() ? 0 : c0[0].size(),
           next_row_ * first.dims * sizeof(float), DeviceLabel(split));
    if (plan.stages.size() == 1) return c0;
    for (const auto& c : c0) lists.AddQuery(c);
  }
  // The scores start from dims 0 either way: the graph has only its own distances, and the GPU
  // scan's selection keeps distances only (the first re-rank re-reads the short prefix).
  GpuReranker reranker(dev, cache_, spec().metric, Storage());
  MRLDB_RETURN_IF_ERROR(
      RerankStages(queries, stride, plan, graph ? 0 : 1, 0, &reranker, &lists, record));
  std::vector<std::vector<Candidate>> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = lists.Query(i);
  return out;
}

}  // namespace mrldb
