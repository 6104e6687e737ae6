// Test data for re-ranking: a column cache of random rows on a given ladder, random queries,
// random candidate lists, and the double-precision reference the rerankers are checked against.
#pragma once

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "engine/column_cache.h"
#include "engine/reranker.h"

namespace mrldb::testing {

struct RerankFixture {
  RerankFixture(const std::vector<uint32_t>& granularities, uint64_t n_rows, size_t n_queries,
                uint32_t seed)
      : cache(storage::Ladder(granularities)), dim(granularities.back()), rows(n_rows),
        nq(n_queries) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    data.resize(rows * dim);
    for (float& v : data) v = u(rng);
    queries.resize(nq * dim);
    for (float& v : queries) v = u(rng);
    cache.Reserve(rows);
    const storage::Ladder& ladder = cache.ladder();
    cache.Hold(ladder.blocks());
    std::vector<float> norms(ladder.blocks());
    for (uint64_t r = 0; r < rows; ++r) {
      ColumnCache::PrefixSqNorms(ladder, data.data() + r * dim, norms.data());
      cache.SetRow(r, data.data() + r * dim, norms.data());
    }
    cache.MarkResident(ladder.blocks());
  }

  // Query i gets sizes[i] candidates for the sizes given, then random sizes up to `max`;
  // rows distinct within a query.
  CandidateLists RandomCandidates(const std::vector<size_t>& sizes, size_t max, uint32_t seed) const {
    std::mt19937 rng(seed);
    CandidateLists lists;
    std::vector<uint64_t> all(rows);
    for (uint64_t r = 0; r < rows; ++r) all[r] = r;
    for (size_t q = 0; q < nq; ++q) {
      const size_t n = q < sizes.size() ? sizes[q] : rng() % (std::min<size_t>(max, rows) + 1);
      std::shuffle(all.begin(), all.end(), rng);
      std::vector<Candidate> c;
      for (size_t i = 0; i < n; ++i) c.push_back({0.0f, all[i]});
      lists.AddQuery(c);
    }
    return lists;
  }

  static std::vector<std::vector<uint64_t>> ListRows(const CandidateLists& lists) {
    std::vector<std::vector<uint64_t>> out(lists.queries());
    for (size_t q = 0; q < lists.queries(); ++q) {
      for (const Candidate& c : lists.Query(q)) out[q].push_back(c.row);
    }
    return out;
  }

  std::vector<double> QuerySqNorms(uint32_t dims) const {
    std::vector<double> out(nq, 0.0);
    for (size_t q = 0; q < nq; ++q) {
      for (uint32_t d = 0; d < dims; ++d) out[q] += double{queries[q * dim + d]} * queries[q * dim + d];
    }
    return out;
  }

  double Distance(Metric metric, size_t q, uint64_t row, uint32_t dims) const {
    double dot = 0, l2 = 0, qq = 0, xx = 0;
    for (uint32_t d = 0; d < dims; ++d) {
      const double a = queries[q * dim + d], b = data[row * dim + d];
      dot += a * b;
      l2 += (a - b) * (a - b);
      qq += a * a;
      xx += b * b;
    }
    if (metric == Metric::kL2) return std::sqrt(l2);
    if (metric == Metric::kInnerProduct) return -dot;
    return 1.0 - dot / std::sqrt(qq * xx);
  }

  // The best `keep` of `cands` for query q at `dims`, ascending.
  std::vector<Candidate> Reference(Metric metric, size_t q, const std::vector<uint64_t>& cands,
                                   uint32_t dims, size_t keep) const {
    std::vector<Candidate> all;
    for (uint64_t row : cands) all.push_back({float(Distance(metric, q, row, dims)), row});
    std::sort(all.begin(), all.end());
    if (all.size() > keep) all.resize(keep);
    return all;
  }

  ColumnCache cache;
  uint32_t dim;
  uint64_t rows;
  size_t nq;
  std::vector<float> data;     // rows x dim
  std::vector<float> queries;  // nq x dim
};

}  // namespace mrldb::testing
