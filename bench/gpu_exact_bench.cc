// `mrldb-bench gpu`: exact search on the device by the GEMM and by the fused scan (see
// gpu_exact_bench.h).
#include "bench/gpu_exact_bench.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "bench/measure.h"

namespace mrldb::bench {

Result<std::string> ExactMethodTable(gpu::DeviceBlocks* dev, const SyntheticGenerator& gen,
                                     uint64_t rows, uint32_t dim, int repeat, std::string* json) {
  std::string t = fmt::format(
      "\nexact search on the device at a prefix, {} rows, cosine, median of {} calls (whole call, "
      "transfers included; kernel = GEMM or fused scan, select = the selections after it):\n"
      "| dims | k | batch | GEMM + select | kernel / select | fused scan | kernel / merge | fused / GEMM |\n"
      "|---|---|---|---|---|---|---|---|\n", rows, repeat);
  bool first = true;
  for (uint32_t dims : {32u, 64u, 128u, 256u}) {
    for (uint32_t k : {10u, 100u, 1000u}) {
      for (size_t nq : {size_t{1}, size_t{16}, size_t{256}, size_t{1024}}) {
        std::vector<float> q = gen.Queries(0, nq);
        std::vector<double> q_sq(nq, 0.0);
        for (size_t i = 0; i < nq; ++i) {
          for (uint32_t d = 0; d < dims; ++d) q_sq[i] += double{q[i * dim + d]} * q[i * dim + d];
        }
        gpu::ExactBatch b;
        b.queries = q.data();
        b.nq = nq;
        b.query_stride = dim;
        b.dims = dims;
        b.q_sq = q_sq.data();
        b.rows = rows;
        b.metric = gpu::Metric::kCosine;
        b.k = k;
        double whole[2], kernel[2], select[2];
        for (int m = 0; m < 2; ++m) {
          b.method = m == 0 ? gpu::ExactMethod::kGemm : gpu::ExactMethod::kFused;
          std::vector<double> w, g, s;
          for (int r = 0; r < repeat + 1; ++r) {
            MRLDB_ASSIGN_OR_RETURN(gpu::ExactResult res, dev->Exact(b));
            if (r == 0) continue;
            w.push_back(res.total_seconds);
            g.push_back(res.gemm_seconds);
            s.push_back(res.topk_seconds);
          }
          whole[m] = Median(w);
          kernel[m] = Median(g);
          select[m] = Median(s);
        }
        t += fmt::format("| {} | {} | {} | {:.3f} ms | {:.3f} / {:.3f} | {:.3f} ms | {:.3f} / {:.3f} | {:.2f} |\n",
                         dims, k, nq, whole[0] * 1e3, kernel[0] * 1e3, select[0] * 1e3, whole[1] * 1e3,
                         kernel[1] * 1e3, select[1] * 1e3, whole[1] / whole[0]);
        *json += fmt::format("{}{{\"dims\": {}, \"k\": {}, \"batch\": {}, \"gemm_ms\": {:.4f}, \"fused_ms\": {:.4f}, "
                             "\"gemm_kernel_ms\": {:.4f}, \"fused_kernel_ms\": {:.4f}}}",
                             first ? "" : ", ", dims, k, nq, whole[0] * 1e3, whole[1] * 1e3,
                             kernel[0] * 1e3, kernel[1] * 1e3);
        first = false;
      }
    }
  }
  return t;
}

}  // namespace mrldb::bench
