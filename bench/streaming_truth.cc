#include "bench/streaming_truth.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "bench/measure.h"

namespace mrldb::bench {
namespace {

// One query's best k so far: a max-heap on (distance, row), the worst kept on top.
struct Best {
  std::vector<std::pair<float, int64_t>> heap;
  void Offer(float dist, int64_t row, uint32_t k) {
    const std::pair<float, int64_t> e(dist, row);
    if (heap.size() < k) {
      heap.push_back(e);
      std::push_heap(heap.begin(), heap.end());
    } else if (e < heap.front()) {
      std::pop_heap(heap.begin(), heap.end());
      heap.back() = e;
      std::push_heap(heap.begin(), heap.end());
    }
  }
};

float SquaredNorm(const float* v, uint32_t d) {
  double s = 0;
  for (uint32_t j = 0; j < d; ++j) s += double{v[j]} * v[j];
  return static_cast<float>(s);
}

void Scale(float* v, uint32_t d, float by) {
  for (uint32_t j = 0; j < d; ++j) v[j] *= by;
}

}  // namespace

Result<std::vector<int64_t>> StreamingExactTopK(const RowSource& fill, uint64_t rows,
                                                uint32_t dim, const float* queries, size_t nq,
                                                const StreamingTruthOptions& o) {
  if (o.k == 0 || dim == 0) return Status::InvalidArgument("k and dim must be positive");
  const size_t chunk = std::max<size_t>(1, o.chunk_rows);
  const unsigned threads = std::max(1u, o.threads);
  std::vector<float> q(queries, queries + nq * dim);
  if (o.metric == Metric::kCosine) {
    for (size_t i = 0; i < nq; ++i) {
      const float nn = SquaredNorm(q.data() + i * dim, dim);
      if (!(nn > 0)) return Status::InvalidArgument(fmt::format("query {} is zero (cosine)", i));
      Scale(q.data() + i * dim, dim, 1.0f / std::sqrt(nn));
    }
  }
  std::vector<Best> best(nq);
  std::vector<float> x(chunk * dim), scores(nq * chunk), norms(chunk);
  const size_t slice = (chunk + threads - 1) / threads;
  for (uint64_t first = 0; first < rows; first += chunk) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, rows - first));
    const size_t slices = (n + slice - 1) / slice;
    MRLDB_RETURN_IF_ERROR(ParallelFor(slices, threads, [&](size_t s) {
      const size_t lo = s * slice, hi = std::min(n, lo + slice);
      fill(first + lo, hi - lo, x.data() + lo * dim);
      for (size_t i = lo; i < hi; ++i) {
        float* r = x.data() + i * dim;
        norms[i] = SquaredNorm(r, dim);
        if (o.metric == Metric::kCosine) Scale(r, dim, norms[i] > 0 ? 1.0f / std::sqrt(norms[i]) : 0.0f);
      }
    }));
    // scores (nq x n) = q (nq x dim) * x^T (dim x n)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nq), static_cast<int>(n),
                static_cast<int>(dim), 1.0f, q.data(), static_cast<int>(dim), x.data(),
                static_cast<int>(dim), 0.0f, scores.data(), static_cast<int>(n));
    MRLDB_RETURN_IF_ERROR(ParallelFor(nq, threads, [&](size_t i) {
      const float* s = scores.data() + i * n;
      for (size_t j = 0; j < n; ++j) {
        float dist;
        switch (o.metric) {
          case Metric::kL2: dist = norms[j] - 2 * s[j]; break;  // + |q|^2, the same for all rows
          case Metric::kCosine: dist = norms[j] > 0 ? 1 - s[j] : 1; break;
          default: dist = -s[j]; break;
        }
        best[i].Offer(dist, static_cast<int64_t>(first + j), o.k);
      }
    }));
    if (o.progress) o.progress(first + n);
  }
  std::vector<int64_t> ids(nq * o.k, -1);
  for (size_t i = 0; i < nq; ++i) {
    std::sort_heap(best[i].heap.begin(), best[i].heap.end());
    for (size_t j = 0; j < best[i].heap.size(); ++j) ids[i * o.k + j] = best[i].heap[j].second;
  }
  return ids;
}

}  // namespace mrldb::bench
