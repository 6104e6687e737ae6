// Collection's exact search (brute force over the in-memory prefix blocks) and the storage-level
// prefix scan.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <queue>

#include <fmt/format.h>

#include "engine/collection.h"
#include "engine/distance.h"
#include "storage/vector_segments.h"

namespace mrldb {

namespace {

constexpr uint32_t kMaxK = 100000;

struct Candidate {
  float distance;
  uint64_t row;
  bool operator<(const Candidate& o) const {
    return distance < o.distance || (distance == o.distance && row < o.row);
  }
};

// Keeps the k smallest candidates (a max-heap on distance).
class TopK {
 public:
  explicit TopK(size_t k) : k_(k) {}
  void Push(float d, uint64_t row) {
    if (heap_.size() < k_) {
      heap_.push({d, row});
    } else if (Candidate{d, row} < heap_.top()) {
      heap_.pop();
      heap_.push({d, row});
    }
  }
  std::vector<Candidate> Take() {
    std::vector<Candidate> v;
    v.reserve(heap_.size());
    while (!heap_.empty()) {
      v.push_back(heap_.top());
      heap_.pop();
    }
    return v;
  }

 private:
  size_t k_;
  std::priority_queue<Candidate> heap_;
};

}  // namespace

Result<std::vector<Hit>> Collection::ExactSearch(std::span<const float> query,
                                                 const ExactSearchOptions& options) const {
  const CollectionSpec& s = spec();
  const uint32_t dims = options.dims == 0 ? s.dim : options.dims;
  if (dims > s.dim) {
    return Status::InvalidArgument(fmt::format(
        "search dims {} exceed the dimension {} of collection '{}'", dims, s.dim, s.name));
  }
  if (query.size() != dims && query.size() != s.dim) {
    return Status::InvalidArgument(fmt::format(
        "query has {} dimensions; collection '{}' expects {} (or its full dimension {})",
        query.size(), s.name, dims, s.dim));
  }
  if (options.k < 1 || options.k > kMaxK) {
    return Status::InvalidArgument(fmt::format("k = {} is outside 1..{}", options.k, kMaxK));
  }
  double q_norm = 0;
  for (uint32_t d = 0; d < dims; ++d) {
    if (!std::isfinite(query[d])) {
      return Status::InvalidArgument(fmt::format("query value {} at dimension {} is not finite",
                                                 query[d], d));
    }
    q_norm += double{query[d]} * query[d];
  }
  if (s.metric == Metric::kCosine && q_norm == 0) {
    return Status::InvalidArgument(fmt::format(
        "query has zero norm over its first {} dimensions; cosine distance is undefined", dims));
  }
  std::vector<int> columns;
  for (const std::string& name : options.attributes) {
    int c = s.AttributeIndex(name);
    if (c < 0) {
      return Status::InvalidArgument(fmt::format("collection '{}' has no attribute column '{}'",
                                                 s.name, name));
    }
    columns.push_back(c);
  }

  std::shared_lock lock(mu_);
  const DistanceKernels& kern = Kernels();
  const size_t nblocks = ladder_.BlocksCovering(dims);
  const bool on_ladder = ladder_.IsGranularity(dims);
  const float inv_q = static_cast<float>(1.0 / std::sqrt(q_norm));
  const size_t chunks = (next_row_ + ColumnCache::kChunkRows - 1) / ColumnCache::kChunkRows;
  std::vector<std::vector<Candidate>> partial(chunks);

  pool_->ParallelFor(chunks, [&](size_t c) {
    const uint64_t first = c * ColumnCache::kChunkRows;
    const size_t n = std::min<uint64_t>(ColumnCache::kChunkRows, next_row_ - first);
    std::vector<float> score(n, 0.0f), norm;
    for (size_t b = 0; b < nblocks; ++b) {
      const uint32_t begin = ladder_.begin(b), width = ladder_.width(b);
      const uint32_t len = std::min(dims, ladder_.end(b)) - begin;
      const float* x = cache_.Chunk(b, c);
      if (s.metric == Metric::kL2) {
        kern.l2_rows(query.data() + begin, x, n, width, len, score.data());
      } else {
        kern.dot_rows(query.data() + begin, x, n, width, len, score.data());
      }
      if (s.metric == Metric::kCosine && !on_ladder) {
        norm.resize(n, 0.0f);
        for (size_t r = 0; r < n; ++r) norm[r] += kern.dot(x + r * width, x + r * width, len);
      }
    }
    const float* sq = on_ladder ? cache_.SqNorms(nblocks - 1) + first : norm.data();
    TopK top(options.k);
    for (size_t r = 0; r < n; ++r) {
      if (!live_[first + r]) continue;
      float d;
      switch (s.metric) {
        case Metric::kL2: d = std::sqrt(std::max(0.0f, score[r])); break;
        case Metric::kInnerProduct: d = -score[r]; break;
        default: d = sq[r] > 0 ? 1.0f - score[r] * inv_q / std::sqrt(sq[r]) : 1.0f; break;
      }
      top.Push(d, first + r);
    }
    partial[c] = top.Take();
  });

  TopK top(options.k);
  for (const auto& p : partial) {
    for (const Candidate& cand : p) top.Push(cand.distance, cand.row);
  }
  std::vector<Candidate> best = top.Take();
  std::sort(best.begin(), best.end());
  std::vector<Hit> hits;
  hits.reserve(best.size());
  for (const Candidate& cand : best) {
    Hit h;
    h.id = keys_[cand.row];
    h.distance = cand.distance;
    for (int col : columns) h.attributes.push_back(attrs_[col][cand.row]);
    hits.push_back(std::move(h));
  }
  return hits;
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
  MRLDB_RETURN_IF_ERROR(storage::ScanSegments(
      *kv_, desc_.cid, ladder_, nblocks,
      [&](const storage::SegmentView& view) {
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
            std::memcpy(dst + begin, view.blocks[b] + r * ladder_.width(b) * sizeof(float),
                        len * sizeof(float));
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
