// mrldb-bench search's peers (bench/search_bench.h): hnswlib on all D dims, its distances on
// mrldb's run-time-chosen SIMD kernels, and FAISS's prefix-HNSW + refine chain, each built,
// swept over --sweep and freed (bench/search_bench.cc's header comment has the details).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <faiss/IndexHNSW.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/IndexRefine.h>
#include <faiss/VectorTransform.h>
#include <fmt/format.h>
#include <hnswlib/hnswlib.h>

#include "bench/search_bench.h"
#include "engine/distance.h"

namespace mrldb::bench {
namespace {

// ---- hnswlib ------------------------------------------------------------------------------------

const DistanceKernels* g_kernels = &Kernels();
float HnswIp(const void* a, const void* b, const void* len) {
  return 1.0f - g_kernels->dot(static_cast<const float*>(a), static_cast<const float*>(b),
                               *static_cast<const size_t*>(len));
}
float HnswL2(const void* a, const void* b, const void* len) {
  return g_kernels->l2sqr(static_cast<const float*>(a), static_cast<const float*>(b),
                          *static_cast<const size_t*>(len));
}

// hnswlib's InnerProductSpace (1 - <a, b>) or L2Space on mrldb's kernels.
class KernelSpace final : public hnswlib::SpaceInterface<float> {
 public:
  KernelSpace(size_t dim, bool l2) : dim_(dim), l2_(l2) {}
  size_t get_data_size() override { return dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return l2_ ? HnswL2 : HnswIp; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  size_t dim_;
  bool l2_;
};

}  // namespace

Status RunHnswlib(Bench& b, double prep_s) {
  using Hnsw = hnswlib::HierarchicalNSW<float>;
  const Matrix& x = b.base;
  const uint32_t k = b.k();
  try {
    Progress(fmt::format("hnswlib: building ({} threads)", b.build_threads()));
    KernelSpace space(x.d, b.a.metric_value == Metric::kL2);
    const double rss0 = RssMiB();
    const auto t0 = Clock::now();
    auto index = std::make_unique<Hnsw>(&space, x.n, kHnswM, b.a.ef_construction, /*seed=*/100);
    MRLDB_RETURN_IF_ERROR(
        ParallelFor(x.n, b.build_threads(), [&](size_t i) { index->addPoint(x.Row(i), i); }));
    SearchRow base = b.NewRow("hnswlib");
    base.build_s = base.ingest_s = prep_s + Since(t0);
    base.rss_mib = RssMiB() - rss0;
    double upper = 0;
    for (size_t i = 0; i < x.n; ++i) upper += index->element_levels_[i];
    const double bytes = static_cast<double>(index->max_elements_) * index->size_data_per_element_ +
        upper * index->size_links_per_element_ +
        index->max_elements_ * (sizeof(void*) + sizeof(int) + sizeof(std::mutex)) +
        index->label_lookup_.bucket_count() * sizeof(void*) + index->label_lookup_.size() * 32.0 +
        Hnsw::MAX_LABEL_OPERATION_LOCKS * sizeof(std::mutex);
    base.index_mib = base.total_mib = bytes / kMiB;
    auto search = [&](std::vector<int64_t>* ids, size_t q) {
      auto heap = index->searchKnn(b.queries.Row(q), k);
      int64_t* out = ids->data() + q * k;
      std::fill(out, out + k, -1);
      for (size_t j = heap.size(); j-- > 0; heap.pop()) out[j] = heap.top().second;
    };
    for (uint32_t ef : b.a.sweep_values) {
      Progress(fmt::format("hnswlib: ef {}", ef));
      index->setEf(ef);
      SearchRow r = base;
      r.params = fmt::format("ef {}", ef);
      r.sweep = ef;
      MRLDB_ASSIGN_OR_RETURN(r.one, Timed(b.nq(), 1, 0, [&](size_t q, size_t) {
        search(&r.ids1, q);
        return Status::Ok();
      }));
      MRLDB_ASSIGN_OR_RETURN(r.all, Timed(b.nq(), b.nq(), 0, [&](size_t first, size_t count) {
        return ParallelFor(count, b.threads(), [&](size_t i) { search(&r.idsn, first + i); });
      }));
      b.run.results.push_back(std::move(r));
    }
  } catch (const std::exception& e) {
    return Status::Internal(fmt::format("hnswlib: {}", e.what()));
  }
  return Status::Ok();
}

// ---- FAISS --------------------------------------------------------------------------------------

Status RunFaiss(Bench& b, double prep_s) {
  const Matrix& x = b.base;
  const uint32_t k = b.k(), g = b.a.index_dim;
  const int threads = static_cast<int>(b.threads());
  try {
    Progress(fmt::format("faiss: building ({} OpenMP threads)", b.build_threads()));
    omp_set_num_threads(static_cast<int>(b.build_threads()));
    const double rss0 = RssMiB();
    const auto t0 = Clock::now();
    std::vector<float> prefix(x.n * g);  // renormalized under cosine: see the top of the file
    for (size_t i = 0; i < x.n; ++i) {
      float* p = prefix.data() + i * g;
      std::copy(x.Row(i), x.Row(i) + g, p);
      const float nn = b.a.metric_value == Metric::kCosine ? Kernels().dot(p, p, g) : 0;
      for (uint32_t j = 0; nn > 0 && j < g; ++j) p[j] /= std::sqrt(nn);
    }
    const faiss::MetricType mt =
        b.a.metric_value == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
    auto hnsw = std::make_unique<faiss::IndexHNSWFlat>(g, kHnswM, mt);
    hnsw->hnsw.efConstruction = int(b.a.ef_construction);
    hnsw->add(x.n, prefix.data());
    std::vector<float>().swap(prefix);
    faiss::IndexHNSWFlat* hnsw_raw = hnsw.get();
    auto remap = std::make_unique<faiss::RemapDimensionsTransform>(x.d, g, /*uniform=*/false);
    auto pre = std::make_unique<faiss::IndexPreTransform>(remap.get(), hnsw.get());
    remap.release();
    hnsw.release();
    pre->own_fields = true;
    pre->ntotal = x.n;  // filled through its sub-index
    auto refine = std::make_unique<faiss::IndexRefineFlat>(pre.get(), x.v.data());
    pre.release();
    refine->own_fields = true;
    SearchRow base = b.NewRow("faiss");
    base.build_s = base.ingest_s = prep_s + Since(t0);
    base.rss_mib = RssMiB() - rss0;
    if (refine->ntotal != static_cast<int64_t>(x.n)) {
      return Status::Internal(fmt::format("faiss: {} rows indexed, not {}", refine->ntotal, x.n));
    }
    const faiss::HNSW& h = hnsw_raw->hnsw;
    base.index_mib = (h.neighbors.size() * sizeof(h.neighbors[0]) + h.levels.size() * sizeof(int) +
                      h.offsets.size() * sizeof(size_t) + x.n * g * 4.0) / kMiB;
    base.total_mib = base.index_mib + x.n * x.d * 4.0 / kMiB;
    std::vector<float> dist(b.nq() * k);
    for (uint32_t keep0 : b.a.sweep_values) {
      Progress(fmt::format("faiss: efSearch {}", keep0));
      hnsw_raw->hnsw.efSearch = static_cast<int>(keep0);
      refine->k_factor = static_cast<float>(keep0) / k;
      SearchRow r = base;
      r.params = fmt::format("efSearch {} k_factor {:g}", keep0, refine->k_factor);
      r.sweep = keep0;
      auto run = [&](std::vector<int64_t>* ids) {
        return [&, ids](size_t first, size_t count) {
          refine->search(count, b.queries.Row(first), k, dist.data() + first * k,
                         ids->data() + first * k);
          return Status::Ok();
        };
      };
      omp_set_num_threads(1);
      MRLDB_ASSIGN_OR_RETURN(r.one, Timed(b.nq(), 1, 0, run(&r.ids1)));
      omp_set_num_threads(threads);
      MRLDB_ASSIGN_OR_RETURN(r.all, Timed(b.nq(), b.nq(), 0, run(&r.idsn)));
      b.run.results.push_back(std::move(r));
    }
  } catch (const std::exception& e) {
    return Status::Internal(fmt::format("faiss: {}", e.what()));
  }
  return Status::Ok();
}

}  // namespace mrldb::bench
