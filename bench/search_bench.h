// Internal to mrldb-bench search (bench/search_bench.cc, the driver and the mrldb and exact
// runs; bench/search_peers.cc, the hnswlib and FAISS runs): the data and results of one run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/measure.h"
#include "bench/search_options.h"
#include "bench/search_report.h"
#include "mrldb/search.h"
#include "mrldb/status.h"

namespace mrldb::bench {

constexpr uint32_t kHnswM = 16;  // ef_construction: --ef-construction (default 200)
constexpr double kMiB = 1 << 20;

// Row-major n x d float32 values.
struct Matrix {
  size_t n = 0;
  uint32_t d = 0;
  std::vector<float> v;
  const float* Row(size_t i) const { return v.data() + i * d; }
  float* Row(size_t i) { return v.data() + i * d; }
};

struct Bench {
  SearchArgs a;
  Matrix base, queries;
  std::vector<int64_t> gt;  // nq x k exact neighbours
  Timing gt_timing;
  SearchRun run;
  size_t nq() const { return queries.n; }
  uint32_t k() const { return run.k; }
  unsigned threads() const { return run.threads; }
  unsigned build_threads() const { return run.build_threads; }
  // A row of `system`, its result arrays sized.
  SearchRow NewRow(std::string system, std::string params = "", uint32_t sweep = 0) const {
    SearchRow r{.system = std::move(system), .params = std::move(params), .sweep = sweep};
    r.ids1.assign(nq() * k(), -1);
    r.idsn = r.ids1;
    return r;
  }
};

void Progress(const std::string& what);
// Query hits' BIGINT ids into out[0, k), -1 padded.
void StoreHits(const std::vector<Hit>& hits, uint32_t k, int64_t* out);
// The peers (search_peers.cc); prep_s: the data preparation their build time includes.
Status RunHnswlib(Bench& b, double prep_s);
Status RunFaiss(Bench& b, double prep_s);

}  // namespace mrldb::bench
