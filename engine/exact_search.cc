// Brute-force search over the prefix blocks (in memory, or read from storage when not resident) (the ground truth, and stage 0 of a funnel
// whose first stage is not the HNSW graph), and the storage-level prefix scan.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "engine/collection.h"
#include "engine/distance.h"
#include "engine/row_blocks.h"
#include "engine/top_k.h"
#include "storage/vector_segments.h"

namespace mrldb {

Status Collection::CheckQuery(std::span<const float> query, uint32_t dims) const {
  const CollectionSpec& s = spec();
  if (query.size() != dims && query.size() != s.dim) {
    return Status::InvalidArgument(fmt::format(
        "query has {} dimensions; collection '{}' expects {} (or its full dimension {})",
        query.size(), s.name, dims, s.dim));
  }
  double norm = 0;
  for (uint32_t d = 0; d < query.size(); ++d) {
    if (!std::isfinite(query[d])) {
      return Status::InvalidArgument(fmt::format("query value {} at dimension {} is not finite",
                                                 query[d], d));
    }
    if (d < dims) norm += double{query[d]} * query[d];
  }
  if (s.metric == Metric::kCosine && norm == 0) {
    return Status::InvalidArgument(fmt::format(
        "query has zero norm over its first {} dimensions; cosine distance is undefined", dims));
  }
  return Status::Ok();
}

Result<std::vector<int>> Collection::AttributeColumns(const std::vector<std::string>& names) const {
  std::vector<int> columns;
  for (const std::string& name : names) {
    int c = spec().AttributeIndex(name);
    if (c < 0) {
      return Status::InvalidArgument(fmt::format("collection '{}' has no attribute column '{}'",
                                                 spec().name, name));
    }
    columns.push_back(c);
  }
  return columns;
}

Result<std::vector<Hit>> Collection::MakeHits(const std::vector<Candidate>& best,
                                              const std::vector<int>& columns,
                                              uint32_t vector_dims) const {
  std::vector<Hit> hits;
  hits.reserve(best.size());
  // While the rows load, the hits stored before the open are named from RocksDB.
  std::vector<uint64_t> older;
  std::vector<Key> older_keys;
  std::vector<std::vector<Value>> older_attrs;
  if (rows_loading_) {
    for (const Candidate& cand : best) {
      if (cand.row < rows_at_open_) older.push_back(cand.row);
    }
    if (!older.empty()) MRLDB_RETURN_IF_ERROR(RecordsLoading(older, &older_keys, &older_attrs));
  }
  size_t next_older = 0;
  for (const Candidate& cand : best) {
    Hit h;
    h.distance = cand.distance;
    if (next_older < older.size() && older[next_older] == cand.row) {
      h.id = std::move(older_keys[next_older]);
      for (int col : columns) h.attributes.push_back(std::move(older_attrs[next_older][col]));
      ++next_older;
    } else {
      h.id = keys_.Get(cand.row);
      for (int col : columns) h.attributes.push_back(attrs_[col][cand.row]);
    }
    if (vector_dims) {
      MRLDB_ASSIGN_OR_RETURN(h.vector, RowPrefix(cand.row, vector_dims));
    }
    hits.push_back(std::move(h));
  }
  return hits;
}

Result<std::vector<Candidate>> Collection::ScanTopK(const float* query, uint32_t dims,
                                                    size_t keep,
                                                    const std::vector<uint64_t>* subset,
                                                    bool parallel, uint64_t* bytes_read,
                                                    storage::ReadCounters* io) const {
  const Metric metric = spec().metric;
  const DistanceKernels& kern = Kernels();
  const size_t nblocks = ladder_.BlocksCovering(dims);
  const bool on_ladder = ladder_.IsGranularity(dims);
  double q_sq = 0;
  for (uint32_t d = 0; d < dims; ++d) q_sq += double{query[d]} * query[d];

  // Subset scans (selective filters, the graph's tail) visit rows one by one, reading the
  // non-resident blocks of a piece of rows at a time.
  if (subset != nullptr) {
    constexpr size_t kPiece = 4096;
    TopK top(keep);
    RowBlocks blocks;
    for (size_t at = 0; at < subset->size(); at += kPiece) {
      std::span<const uint64_t> rows(subset->data() + at, std::min(kPiece, subset->size() - at));
      MRLDB_RETURN_IF_ERROR(blocks.Fetch(cache_, Storage(), rows, 0, nblocks, io));
      for (size_t i = 0; i < rows.size(); ++i) {
        double acc = 0, x_sq = 0;
        for (size_t b = 0; b < nblocks; ++b) {
          const uint32_t begin = ladder_.begin(b), len = std::min(dims, ladder_.end(b)) - begin;
          const float* x = blocks.Row(i, b);
          acc += metric == Metric::kL2 ? kern.l2sqr(query + begin, x, len)
                                       : kern.dot(query + begin, x, len);
          if (metric == Metric::kCosine && !on_ladder) x_sq += kern.dot(x, x, len);
        }
        if (on_ladder) x_sq = blocks.SqNorm(i, nblocks - 1);
        top.Push(FinalDistance(acc, q_sq, x_sq), rows[i]);
      }
    }
    if (bytes_read) *bytes_read += subset->size() * dims * sizeof(float);
    return top.TakeSorted();
  }

  MRLDB_ASSIGN_OR_RETURN(auto best, ScanTopKMany(query, 1, dims, dims, keep, parallel, io, nullptr));
  if (bytes_read) *bytes_read += next_row_ * dims * sizeof(float);
  return std::move(best[0]);
}

Result<std::vector<std::vector<Candidate>>> Collection::ScanTopKMany(
    const float* queries, size_t n, size_t stride, uint32_t dims, size_t keep, bool parallel,
    storage::ReadCounters* io, const std::atomic<bool>* cancel) const {
  const Metric metric = spec().metric;
  const DistanceKernels& kern = Kernels();
  const size_t nblocks = ladder_.BlocksCovering(dims);
  const bool on_ladder = ladder_.IsGranularity(dims);
  std::vector<double> q_sq(n, 0);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t d = 0; d < dims; ++d) q_sq[i] += double{queries[i * stride + d]} * queries[i * stride + d];
  }
  // Full scans go chunk by chunk: from the column cache when the blocks are resident, else in
  // chunk-sized views of one storage scan for all the queries (the same rows per chunk, so the
  // same results as one query at a time).
  const size_t chunks = (next_row_ + ColumnCache::kChunkRows - 1) / ColumnCache::kChunkRows;
  auto scan_chunk = [&](size_t i, size_t c, const float* const* x_blocks, const float* sq_level) {
    const float* query = queries + i * stride;
    const uint64_t first = c * ColumnCache::kChunkRows;
    const size_t rows = std::min<uint64_t>(ColumnCache::kChunkRows, next_row_ - first);
    std::vector<float> score(rows, 0.0f), norm;
    for (size_t b = 0; b < nblocks; ++b) {
      const uint32_t begin = ladder_.begin(b), width = ladder_.width(b);
      const uint32_t len = std::min(dims, ladder_.end(b)) - begin;
      const float* x = x_blocks[b];
      if (metric == Metric::kL2) {
        kern.l2_rows(query + begin, x, rows, width, len, score.data());
      } else {
        kern.dot_rows(query + begin, x, rows, width, len, score.data());
      }
      if (metric == Metric::kCosine && !on_ladder) {
        norm.resize(rows, 0.0f);
        for (size_t r = 0; r < rows; ++r) norm[r] += kern.dot(x + r * width, x + r * width, len);
      }
    }
    // Squared prefix norms matter for cosine only: stored on the ladder, else computed.
    const float* sq = metric != Metric::kCosine ? nullptr : on_ladder ? sq_level : norm.data();
    TopK top(keep);
    for (size_t r = 0; r < rows; ++r) {
      if (live_[first + r]) top.Push(FinalDistance(score[r], q_sq[i], sq ? sq[r] : 0.0), first + r);
    }
    return top.TakeSorted();
  };
  // Query i's best so far and a chunk's best, merged.
  std::vector<std::vector<Candidate>> best(n);
  auto fold = [&](size_t i, const std::vector<Candidate>& part) { best[i] = MergeBest(best[i], part, keep); };
  if (nblocks <= cache_.resident()) {
    // Chunks in parallel, folded in chunk order afterwards.
    std::vector<std::vector<std::vector<Candidate>>> parts(chunks, std::vector<std::vector<Candidate>>(n));
    auto from_cache = [&](size_t c) {
      std::vector<const float*> x(nblocks);
      for (size_t b = 0; b < nblocks; ++b) x[b] = cache_.Chunk(b, c);
      for (size_t i = 0; i < n; ++i) {
        parts[c][i] = scan_chunk(i, c, x.data(), cache_.SqNorms(nblocks - 1) + c * ColumnCache::kChunkRows);
      }
    };
    if (parallel) {
      pool_->ParallelFor(chunks, from_cache);
    } else {
      for (size_t c = 0; c < chunks; ++c) from_cache(c);
    }
    for (size_t c = 0; c < chunks; ++c) {
      for (size_t i = 0; i < n; ++i) fold(i, parts[c][i]);
    }
  } else {
    storage::ReadCounterScope scope(io);
    bool stopped = false;
    MRLDB_RETURN_IF_ERROR(storage::ScanVectorRows(
        *kv_, desc_.cid, ladder_, 0, nblocks, next_row_, ColumnCache::kChunkRows,
        [&](const storage::RowsView& view) {
          if (cancel && cancel->load(std::memory_order_relaxed)) return !(stopped = true);
          const size_t c = view.first_row / ColumnCache::kChunkRows;
          // Views arrive in chunk order: each query folds at once (one list per query held).
          auto one = [&](size_t i) { fold(i, scan_chunk(i, c, view.blocks.data(), view.sqnorms[nblocks - 1])); };
          if (parallel && n > 1) {
            pool_->ParallelFor(n, one);
          } else {
            for (size_t i = 0; i < n; ++i) one(i);
          }
          return true;
        },
        nullptr));
    if (stopped) return Status::Cancelled("scan cancelled");
  }
  return best;
}

Result<std::vector<Hit>> Collection::ExactSearch(std::span<const float> query,
                                                 const ExactSearchOptions& options) const {
  SearchOptions o;
  o.k = options.k;
  o.plan = SearchPlan::Exact(options.dims);
  o.attributes = options.attributes;
  return Search(query, o, nullptr);
}

Result<ScanStats> Collection::ScanPrefix(uint32_t dims, Database::ScanSink sink, void* ctx) const {
  const CollectionSpec& s = spec();
  if (dims < 1 || dims > s.dim) {
    return Status::InvalidArgument(fmt::format("scan dims {} outside 1..{} of collection '{}'",
                                               dims, s.dim, s.name));
  }
  std::shared_lock lock(mu_);  // the iterators below see one committed state
  std::vector<uint64_t> dead;
  MRLDB_RETURN_IF_ERROR(storage::LoadTombstones(*kv_, desc_.cid, &dead));
  const size_t nblocks = ladder_.BlocksCovering(dims);
  ScanStats stats;
  storage::SegmentScanCounters counters;
  std::vector<float> out;
  std::vector<uint64_t> ids;
  size_t dead_pos = 0;
  MRLDB_RETURN_IF_ERROR(storage::ScanVectorRows(
      *kv_, desc_.cid, ladder_, 0, nblocks, next_row_, ColumnCache::kChunkRows,
      [&](const storage::RowsView& view) {
        out.resize(view.n * dims);
        ids.clear();
        for (size_t r = 0; r < view.n; ++r) {
          const uint64_t row = view.first_row + r;
          while (dead_pos < dead.size() && dead[dead_pos] < row) ++dead_pos;
          if (dead_pos < dead.size() && dead[dead_pos] == row) continue;
          float* dst = out.data() + ids.size() * dims;
          for (size_t b = 0; b < nblocks; ++b) {
            const uint32_t begin = ladder_.begin(b);
            const uint32_t len = std::min(dims, ladder_.end(b)) - begin;
            std::memcpy(dst + begin, view.blocks[b] + r * ladder_.width(b), len * sizeof(float));
          }
          ids.push_back(row);
        }
        if (!ids.empty()) sink(ctx, ids.size(), ids.data(), out.data());
        stats.rows += ids.size();
        return true;
      },
      &counters));
  stats.segments = counters.segments;
  stats.value_bytes = counters.value_bytes;
  return stats;
}

}  // namespace mrldb
