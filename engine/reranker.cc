#include "engine/reranker.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/distance.h"

namespace mrldb {

float FinalDistance(Metric metric, double acc, double q_sq, double x_sq) {
  switch (metric) {
    case Metric::kL2: return static_cast<float>(std::sqrt(std::max(0.0, acc)));
    case Metric::kInnerProduct: return static_cast<float>(-acc);
    default: {
      if (x_sq <= 0) return 1.0f;
      // Rounding can take a vector's cosine with itself past 1 (its distance to itself printed
      // as -3.6e-08): the distance is clamped to its true range [0, 2].
      return static_cast<float>(std::clamp(1.0 - acc / std::sqrt(q_sq * x_sq), 0.0, 2.0));
    }
  }
}

std::string DeviceLabel(const RerankSplit& split) {
  if (split.gpu == 0) return "cpu";
  if (split.cpu == 0) return "gpu";
  return "gpu+cpu (" + std::to_string(split.gpu) + "/" + std::to_string(split.cpu) + ")";
}

void CpuReranker::Prefetch(uint64_t row, size_t b_from, size_t level) const {
  const storage::Ladder& ladder = cache_.ladder();
  for (size_t b = b_from; b <= level; ++b) {
    const char* p = reinterpret_cast<const char*>(cache_.Row(b, row));
    const size_t bytes = ladder.width(b) * sizeof(float);
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off, 0, 3);
  }
}

Status CpuReranker::Rerank(const RerankArgs& args, CandidateLists* lists, RerankSplit* split) {
  const DistanceKernels& kern = Kernels();
  const storage::Ladder& ladder = cache_.ladder();
  // Stage dims are granularities, so the blocks [b_from, level] cover exactly [done, dims).
  const size_t level = ladder.BlocksCovering(args.dims) - 1;
  const size_t b_from = args.done == 0 ? 0 : ladder.BlocksCovering(args.done);
  // Per-thread: swapped with *lists at the end, so a thread's buffers are reused query after
  // query.
  thread_local CandidateLists next;
  next.cands.clear();
  next.acc.clear();
  next.offsets.assign(1, 0);
  next.cands.reserve(std::min<size_t>(lists->cands.size(), lists->queries() * size_t{args.keep}));
  next.acc.reserve(next.cands.capacity());
  thread_local std::vector<size_t> order;
  // Blocks beyond the resident ones: every candidate's, read in one batch per block.
  const bool resident = level < cache_.resident();
  thread_local RowBlocks fetched;
  thread_local std::vector<uint64_t> rows;
  if (!resident) {
    rows.clear();
    for (const Candidate& c : lists->cands) rows.push_back(c.row);
    MRLDB_RETURN_IF_ERROR(fetched.Fetch(cache_, storage_, rows, b_from, level + 1, args.io));
  }
  // About kLinesInFlight cache lines of candidate rows in flight (a row's blocks at this stage
  // span `lines`): enough to overlap misses, not so many that prefetches queue behind each other.
  constexpr size_t kLinesInFlight = 48;
  const size_t lines = std::max<size_t>(1, (ladder.end(level) - ladder.begin(b_from)) * sizeof(float) / 64);
  const size_t ahead = std::clamp<size_t>(kLinesInFlight / lines, 1, 8);
  for (size_t qi = 0; qi < lists->queries(); ++qi) {
    const float* q = args.queries + qi * args.query_stride;
    const size_t first = lists->offsets[qi], last = lists->offsets[qi + 1];
    // Candidates are random rows: their blocks are fetched `ahead` candidates ahead, so that
    // the misses of several rows overlap instead of stalling one after another.
    for (size_t i = first; resident && i < std::min(last, first + ahead); ++i) {
      Prefetch(lists->cands[i].row, b_from, level);
    }
    for (size_t i = first; i < last; ++i) {
      if (resident && i + ahead < last) Prefetch(lists->cands[i + ahead].row, b_from, level);
      const uint64_t row = lists->cands[i].row;
      double acc = lists->acc[i];
      for (size_t b = b_from; b <= level; ++b) {
        const uint32_t begin = ladder.begin(b), len = ladder.width(b);
        const float* x = resident ? cache_.Row(b, row) : fetched.Row(i, b);
        acc += metric_ == Metric::kL2 ? kern.l2sqr(q + begin, x, len) : kern.dot(q + begin, x, len);
      }
      lists->acc[i] = acc;
      const float x_sq = resident ? cache_.SqNorm(level, row) : fetched.SqNorm(i, level);
      lists->cands[i].distance = FinalDistance(metric_, acc, args.q_sq[qi], x_sq);
    }
    // Keep the best `keep`, in order, carrying their scores along.
    order.resize(last - first);
    std::iota(order.begin(), order.end(), first);
    const size_t keep = std::min<size_t>(args.keep, order.size());
    std::partial_sort(order.begin(), order.begin() + keep, order.end(),
                      [&](size_t a, size_t b) { return lists->cands[a] < lists->cands[b]; });
    for (size_t i = 0; i < keep; ++i) {
      next.cands.push_back(lists->cands[order[i]]);
      next.acc.push_back(lists->acc[order[i]]);
    }
    next.offsets.push_back(static_cast<uint32_t>(next.cands.size()));
    if (split) split->cpu += last - first;
  }
  std::swap(*lists, next);
  return Status::Ok();
}

}  // namespace mrldb
