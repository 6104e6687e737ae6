// mrldb-bench gpu: the GPU re-ranker and GPU exact search, measured on the device at hand.
//
//   mrldb-bench gpu [--rows N] [--nq Q] [--batch B] [--repeat R] [--k K] [--dir DIR]
//                   [--json FILE] [--no-e2e] [--no-rerank] [--no-exact] [--batches 1,16,...]
//
// 1. Device copy bandwidth: cudaMemcpy device-to-device (bytes read + written per second) and a
//    read-only kernel, medians of R runs over 2 GiB buffers.
// 2. Re-rank throughput: DeviceBlocks::Rerank over N synthetic Matryoshka rows x 768 dims, all
//    7 blocks of the default ladder in one stage, candidates drawn uniformly from the rows (a
//    random gather), for several (queries x candidates) shapes, float32 and float16: bytes of
//    candidate vectors read / gather+dot kernel time (CUDA events), as a fraction of the copy
//    and the read bandwidth; medians of R calls. The whole call (transfers, selection) too.
// 2b. Exact search shapes (unless --no-exact): the GEMM + selection against the fused scan +
//    top-k at prefixes 32..256, k 10/100/1000, batches 1..1024 (gpu_exact_bench.cc).
// 3. End to end (unless --no-e2e): a database of the same N rows (index_dim 64), Q queries as
//    SearchBatch calls of B queries, k = K: the CPU funnel and the GPU funnel (stage 0 by the
//    graph) over an ef sweep, the GPU funnel with stage 0 by GPU brute force at 32 dims, and
//    GPU brute force at 768 dims (the ground truth; checked against the CPU's exact search on
//    64 queries). QPS at recall@K = 0.95 interpolated as `mrldb-bench search` does.
// 4. The device graph (part of 3): built on the GPU (timed; Database::BuildGpuGraph), then for
//    each --batches size the whole funnel on the device (gpu-graph-funnel) beside the CPU
//    funnel and the placement model's choice (auto), same plans, max(Q, batch) queries; per
//    batch size the QPS at 0.95 and the ratios to the CPU funnel and to GPU brute force.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench/measure.h"
#include "bench/commands.h"
#include "bench/gpu_exact_bench.h"
#include "cuda/gpu_info.h"
#include "cuda/gpu_search.h"
#include "mrldb/database.h"
#include "mrldb/synthetic.h"

namespace mrldb::bench {
namespace {

constexpr uint32_t kDim = 768;
const std::vector<uint32_t> kLadder = {16, 32, 64, 128, 256, 512, 768};

struct Args {
  size_t rows = 1000000;
  size_t nq = 1024;
  size_t batch = 1024;
  int repeat = 5;
  uint32_t k = 10;
  std::string dir;
  std::string json;
  bool e2e = true;
  bool rerank = true;
  bool exact = true;
  // Batch sizes of the device-graph section (each runs max(nq, batch) queries).
  std::vector<size_t> batches = {1, 16, 256, 1024, 10000};
};

void Log(const std::string& s) { fmt::print(stderr, "[gpu] {}\n", s); }

// Rows [0, n) of the generator, made on all cores.
std::vector<float> MakeRows(const SyntheticGenerator& gen, size_t n) {
  std::vector<float> x(n * kDim);
  const size_t chunk = 16384;
  ParallelFor((n + chunk - 1) / chunk, std::thread::hardware_concurrency(), [&](size_t c) {
    const size_t first = c * chunk, count = std::min(chunk, n - first);
    gen.Fill(first, count, x.data() + first * kDim);
  }).IgnoreError();
  return x;
}

std::vector<uint32_t> Widths() {
  std::vector<uint32_t> w;
  for (size_t b = 0; b < kLadder.size(); ++b) w.push_back(kLadder[b] - (b ? kLadder[b - 1] : 0));
  return w;
}

Result<std::unique_ptr<gpu::DeviceBlocks>> Upload(const std::vector<float>& x, size_t n,
                                                  gpu::Precision p) {
  gpu::DeviceBlocksOptions o;
  o.precision = p;
  MRLDB_ASSIGN_OR_RETURN(auto dev, gpu::DeviceBlocks::Create(Widths(), o));
  MRLDB_RETURN_IF_ERROR(dev->Reserve(n));
  if (dev->resident_rows() < n) return Status::IOError("the rows do not fit on the device");
  const size_t chunk = 65536;
  std::vector<float> block, norms;
  for (size_t b = 0; b < kLadder.size(); ++b) {
    const uint32_t begin = b ? kLadder[b - 1] : 0, w = kLadder[b] - begin;
    for (size_t first = 0; first < n; first += chunk) {
      const size_t count = std::min(chunk, n - first);
      block.resize(count * w);
      for (size_t r = 0; r < count; ++r) {
        std::copy_n(x.data() + (first + r) * kDim + begin, w, block.data() + r * w);
      }
      MRLDB_RETURN_IF_ERROR(dev->SetRows(b, first, count, block.data()));
    }
  }
  // Prefix norms per level.
  norms.assign(n, 0.0f);
  for (size_t b = 0; b < kLadder.size(); ++b) {
    const uint32_t begin = b ? kLadder[b - 1] : 0;
    for (size_t r = 0; r < n; ++r) {
      const float* v = x.data() + r * kDim;
      for (uint32_t d = begin; d < kLadder[b]; ++d) norms[r] += v[d] * v[d];
    }
    MRLDB_RETURN_IF_ERROR(dev->SetSqNorms(b, 0, n, norms.data()));
  }
  return dev;
}

struct RerankRow {
  std::string precision;
  size_t nq = 0, cands = 0;
  double kernel_s = 0, total_s = 0, bytes = 0;
  double union_s = 0;  // the union-GEMM alternative (float32; 0: not measured)
};

Result<std::vector<RerankRow>> RerankThroughput(const Args& a, const std::vector<float>& x,
                                                const SyntheticGenerator& gen) {
  std::vector<RerankRow> out;
  const std::vector<std::pair<size_t, size_t>> shapes = {
      {256, 100}, {256, 400}, {1024, 100}, {1024, 400}, {4096, 100}};
  for (gpu::Precision p : {gpu::Precision::kFloat32, gpu::Precision::kFloat16}) {
    const char* pname = p == gpu::Precision::kFloat32 ? "float32" : "float16";
    Log(fmt::format("re-rank: uploading {} rows as {}", a.rows, pname));
    MRLDB_ASSIGN_OR_RETURN(auto dev, Upload(x, a.rows, p));
    for (auto [nq, nc] : shapes) {
      std::vector<float> q = gen.Queries(0, nq);
      std::vector<double> q_sq(nq, 0.0);
      for (size_t i = 0; i < nq; ++i) {
        for (uint32_t d = 0; d < kDim; ++d) q_sq[i] += double{q[i * kDim + d]} * q[i * kDim + d];
      }
      std::vector<uint32_t> offsets(nq + 1);
      for (size_t i = 0; i <= nq; ++i) offsets[i] = static_cast<uint32_t>(i * nc);
      std::vector<uint64_t> rows(nq * nc);
      uint64_t s = 12345;
      for (uint64_t& r : rows) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        r = (s >> 17) % a.rows;
      }
      std::vector<double> acc(rows.size(), 0.0);
      gpu::RerankBatch b;
      b.queries = q.data();
      b.nq = nq;
      b.query_stride = kDim;
      b.q_sq = q_sq.data();
      b.offsets = offsets.data();
      b.rows = rows.data();
      b.acc = acc.data();
      b.b_from = 0;
      b.b_to = kLadder.size() - 1;
      b.metric = gpu::Metric::kCosine;
      b.keep = a.k;
      std::vector<double> kt, tt;
      for (int r = 0; r < a.repeat + 1; ++r) {  // the first call warms up
        MRLDB_ASSIGN_OR_RETURN(gpu::RerankResult res, dev->Rerank(b));
        if (r > 0) {
          kt.push_back(res.kernel_seconds);
          tt.push_back(res.total_seconds);
        }
      }
      std::vector<double> ut;
      if (p == gpu::Precision::kFloat32) {
        std::vector<double> acc_u;
        for (int r = 0; r < a.repeat + 1; ++r) {
          auto u = dev->UnionGemmSeconds(b, &acc_u);
          if (!u.ok()) {
            Log(fmt::format("union GEMM {} x {}: {}", nq, nc, u.status().message()));
            break;
          }
          if (r > 0) ut.push_back(*u);
        }
      }
      RerankRow row;
      row.union_s = Median(ut);
      row.precision = pname;
      row.nq = nq;
      row.cands = nc;
      row.kernel_s = Median(kt);
      row.total_s = Median(tt);
      row.bytes = double(nq) * nc * kDim * (p == gpu::Precision::kFloat32 ? 4 : 2);
      out.push_back(row);
    }
  }
  return out;
}

// The device funnel alone (DeviceBlocks::Funnel on a float32 copy with its own graph): where a
// batch's time goes, walk and re-ranks by CUDA events and the whole call with its transfers,
// without the engine's work around it (query checks, hits), and the recall@10 of what it
// returns against exact search on the device. Plan: the graph at 64 dims keeping `keep` from
// a buffer of `keep`, 256 dims keeping max(k, keep / 4), then 768; for batches below 256 with
// 1, 4, 8 and 16 blocks walking each query, the automatic choice (0) and capped iterations.
Status DeviceFunnelBreakdown(const Args& a, const std::vector<float>& x,
                             const SyntheticGenerator& gen, std::string* out) {
  MRLDB_ASSIGN_OR_RETURN(auto dev, Upload(x, a.rows, gpu::Precision::kFloat32));
  gpu::GraphBuildOptions g;
  g.level = 2;  // 64 dims
  g.rows = a.rows;
  MRLDB_ASSIGN_OR_RETURN(gpu::GraphBuildResult built, dev->BuildGraph(g));
  *out += fmt::format("\ndevice graph build, {} rows at 64 dims: {:.2f} s (exact 64-NN {:.2f} s, "
                      "pruning {:.3f} s, the rest on the host)\n", a.rows, built.total_seconds,
                      built.knn_seconds, built.prune_seconds);
  // Every batch size searches at least 256 queries (small batches in several calls).
  size_t all_q = 256;
  for (size_t batch : a.batches) all_q = std::max(all_q, batch);
  const std::vector<float> q = gen.Queries(0, all_q);
  const std::vector<uint8_t> all_rows(a.rows, 1);
  std::vector<std::set<uint64_t>> truth(all_q);
  for (size_t first = 0; first < all_q; first += 1024) {
    const size_t n = std::min<size_t>(1024, all_q - first);
    std::vector<double> q_sq(n, 0.0);
    for (size_t i = 0; i < n; ++i) {
      for (uint32_t d = 0; d < kDim; ++d) q_sq[i] += double{q[(first + i) * kDim + d]} * q[(first + i) * kDim + d];
    }
    gpu::ExactBatch e;
    e.queries = q.data() + first * kDim;
    e.nq = n;
    e.query_stride = kDim;
    e.dims = kDim;
    e.q_sq = q_sq.data();
    e.mask = all_rows.data();
    e.rows = a.rows;
    e.k = a.k;
    MRLDB_ASSIGN_OR_RETURN(gpu::ExactResult ex, dev->Exact(e));
    for (size_t i = 0; i < n; ++i) {
      for (uint32_t j = ex.offsets[i]; j < ex.offsets[i + 1]; ++j) truth[first + i].insert(ex.rows[j]);
    }
  }
  *out += "| batch | blocks/query | iterations | keep | recall@10 | walk | re-ranks | whole call | QPS of the calls |\n"
          "|---|---|---|---|---|---|---|---|---|\n";
  for (size_t batch : a.batches) {
    // (blocks per query, iterations per block; 0: as the buffer needs)
    std::vector<std::pair<uint32_t, uint32_t>> shapes = {{1, 0}};
    if (batch < 256) shapes = {{1, 0}, {4, 0}, {8, 0}, {16, 0}, {0, 0}, {8, 8}, {16, 8}, {8, 16}, {16, 16}};
    for (auto [bpq, iters] : shapes) {
      for (uint32_t keep : {32u, 64u, 128u}) {
        gpu::FunnelBatch b;
        b.query_stride = kDim;
        b.rows = a.rows;
        b.keep0 = keep;
        b.itopk = keep;
        b.blocks_per_query = bpq;
        b.max_iterations = iters;
        b.stages = {{4, std::max(a.k, keep / 4)}, {6, a.k}};
        std::vector<double> walk, rerank, total;
        size_t hit = 0, n_q = 0;
        uint32_t used = 0;
        // Pass 0 warms up and gives the recall; pass 1 times the walk and the re-ranks (CUDA
        // events, launch by launch); the other passes time the whole call as it runs.
        for (int r = 0; r < a.repeat + 2; ++r) {
          b.time_stages = r == 1;
          for (size_t first = 0; first + batch <= std::max<size_t>(batch, 256); first += batch) {
            b.queries = q.data() + first * kDim;
            b.nq = batch;
            MRLDB_ASSIGN_OR_RETURN(gpu::FunnelResult res, dev->Funnel(b));
            used = res.blocks_per_query;
            if (r == 0) {
              for (size_t i = 0; i < batch; ++i) {
                for (uint32_t j = res.offsets[i]; j < res.offsets[i + 1]; ++j) hit += truth[first + i].count(res.rows[j]);
              }
              n_q += batch;
            } else if (r == 1) {
              walk.push_back(res.graph_seconds);
              rerank.push_back(res.rerank_seconds);
            } else {
              total.push_back(res.total_seconds);
            }
          }
        }
        const std::string label = bpq ? std::to_string(used) : fmt::format("auto ({})", used);
        *out += fmt::format("| {} | {} | {} | {} | {:.4f} | {:.3f} ms | {:.3f} ms | {:.3f} ms | {:.0f} |\n",
                            batch, label, iters ? std::to_string(iters) : "auto", keep, double(hit) / double(n_q * a.k), Median(walk) * 1e3,
                            Median(rerank) * 1e3, Median(total) * 1e3, batch / Median(total));
      }
    }
  }
  return Status::Ok();
}

struct E2eRow {
  std::string system;
  std::string plan;
  double recall = 0, qps = 0;
  size_t batch = 0;
};

Result<std::vector<E2eRow>> EndToEnd(const Args& a, const std::vector<float>& x,
                                     const SyntheticGenerator& gen, std::string* notes) {
  std::string dir = a.dir;
  if (dir.empty()) {
    dir = (std::filesystem::temp_directory_path() / fmt::format("mrldb-gpu-bench-{}", ::getpid())).string();
  }
  std::filesystem::remove_all(dir);
  DatabaseOptions dbo;
  dbo.auto_tune = false;  // the plans are explicit; no background tuning competes for the CPUs
  MRLDB_ASSIGN_OR_RETURN(auto db, Database::Open(dir, dbo));
  CollectionSpec spec;
  spec.name = "bench";
  spec.id_type = IdType::kBigint;
  spec.dim = kDim;
  spec.metric = Metric::kCosine;
  spec.index_dim = 64;
  MRLDB_RETURN_IF_ERROR(db->CreateCollection(spec));
  Log(fmt::format("e2e: inserting {} rows", a.rows));
  auto t0 = Clock::now();
  InsertBatch rows;
  for (size_t first = 0; first < a.rows; first += 10000) {
    const size_t count = std::min<size_t>(10000, a.rows - first);
    rows.Clear();
    rows.Reserve(count, kDim);
    for (size_t i = first; i < first + count; ++i) {
      rows.Add(Key{int64_t(i)}, std::span<const float>(x.data() + i * kDim, kDim));
    }
    MRLDB_RETURN_IF_ERROR(db->Insert("bench", rows));
  }
  MRLDB_RETURN_IF_ERROR(db->WaitForIndexing());
  *notes += fmt::format("build (insert + graph): {:.1f} s; threads: {}\n", Since(t0),
                        std::thread::hardware_concurrency());
  size_t all_q = a.nq;
  for (size_t b : a.batches) all_q = std::max(all_q, b);
  const std::vector<float> q = gen.Queries(0, all_q);
  const uint32_t k = a.k;

  // Runs `nq` queries in batches of `batch`; returns ids (-1 padded) and the median QPS of R runs.
  auto run_n = [&](const SearchOptions& o, size_t nq, size_t batch, std::vector<int64_t>* ids,
                   double* qps) -> Status {
    std::vector<double> rates;
    for (int r = 0; r < a.repeat + 1; ++r) {
      ids->assign(nq * k, -1);
      auto start = Clock::now();
      for (size_t first = 0; first < nq; first += batch) {
        const size_t n = std::min(batch, nq - first);
        MRLDB_ASSIGN_OR_RETURN(auto hits, db->SearchBatch("bench", std::span<const float>(q.data() + first * kDim, n * kDim), n, o));
        for (size_t i = 0; i < n; ++i) {
          for (size_t j = 0; j < hits[i].size() && j < k; ++j) {
            (*ids)[(first + i) * k + j] = std::get<int64_t>(hits[i][j].id);
          }
        }
      }
      if (r > 0) rates.push_back(nq / Since(start));  // the first run warms up
    }
    *qps = Median(rates);
    return Status::Ok();
  };
  auto run = [&](const SearchOptions& o, std::vector<int64_t>* ids, double* qps) {
    return run_n(o, a.nq, a.batch, ids, qps);
  };
  auto recall = [&](const std::vector<int64_t>& got, const std::vector<int64_t>& truth, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
      std::set<int64_t> want(truth.begin() + i * k, truth.begin() + (i + 1) * k);
      want.erase(-1);
      size_t hit = 0;
      for (size_t j = 0; j < k; ++j) hit += want.count(got[i * k + j]);
      sum += want.empty() ? 1.0 : double(hit) / want.size();
    }
    return sum / n;
  };

  std::vector<E2eRow> out;
  SearchOptions o;
  o.k = k;
  o.plan = SearchPlan::Exact();
  o.device = Device::kGpu;
  std::vector<int64_t> truth, got;
  double qps = 0;
  Log("e2e: GPU brute force (ground truth)");
  MRLDB_RETURN_IF_ERROR(run_n(o, all_q, a.batch, &truth, &qps));
  out.push_back({"gpu-brute-force", "EXACT (768)", 1.0, qps, a.batch});
  {
    // The GPU's ground truth against the CPU's exact search, first 64 queries.
    const size_t n = std::min<size_t>(64, a.nq);
    SearchOptions c = o;
    c.device = Device::kCpu;
    auto start = Clock::now();
    MRLDB_ASSIGN_OR_RETURN(auto hits, db->SearchBatch("bench", std::span<const float>(q.data(), n * kDim), n, c));
    const double cpu_qps = n / Since(start);
    std::vector<int64_t> cpu(n * k, -1);
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < hits[i].size() && j < k; ++j) cpu[i * k + j] = std::get<int64_t>(hits[i][j].id);
    }
    const double agree = recall(truth, cpu, n);
    *notes += fmt::format("GPU exact vs CPU exact on {} queries: recall {:.4f}\n", n, agree);
    out.push_back({"cpu-brute-force", "EXACT (768), 64 queries", 1.0, cpu_qps});
  }
  for (uint32_t ef : {10u, 20u, 40u, 80u, 160u, 320u}) {
    o.plan = SearchPlan::Funnel({{64, ef}, {256, std::max(k, ef / 4)}, {kDim, 0}}, ef);
    for (Device d : {Device::kCpu, Device::kGpu}) {
      o.device = d;
      Log(fmt::format("e2e: {} {}", d == Device::kCpu ? "cpu" : "gpu", o.plan.ToString()));
      MRLDB_RETURN_IF_ERROR(run(o, &got, &qps));
      out.push_back({d == Device::kCpu ? "cpu-funnel" : "gpu-funnel-hnsw", o.plan.ToString(),
                     recall(got, truth, a.nq), qps, a.batch});
    }
  }
  o.device = Device::kGpu;
  for (uint32_t keep : {50u, 100u, 200u, 400u, 800u, 1600u}) {
    o.plan = SearchPlan::Funnel({{32, keep}, {256, std::max(k, keep / 4)}, {kDim, 0}});
    Log(fmt::format("e2e: gpu {}", o.plan.ToString()));
    MRLDB_RETURN_IF_ERROR(run(o, &got, &qps));
    out.push_back({"gpu-funnel-scan", o.plan.ToString(), recall(got, truth, a.nq), qps, a.batch});
  }
  // The device graph: built on the GPU, then the whole funnel on the device at each batch size,
  // beside the CPU funnel at the same batch size.
  Log("e2e: building the device graph");
  t0 = Clock::now();
  MRLDB_RETURN_IF_ERROR(db->BuildGpuGraph("bench"));
  *notes += fmt::format("device graph build (GPU, degree 32 from exact 64-NN at 64 dims): {:.1f} s\n",
                        Since(t0));
  for (size_t batch : a.batches) {
    const size_t nq = std::max(a.nq, batch);
    for (uint32_t ef : {16u, 32u, 64u, 128u, 256u}) {
      o.plan = SearchPlan::Funnel({{64, ef}, {256, std::max(k, ef / 4)}, {kDim, 0}}, ef);
      // 'auto': the placement model's choice (engine/placement.h), its exploration included.
      for (Device d : {Device::kGpu, Device::kCpu, Device::kAuto}) {
        o.device = d;
        const char* system = d == Device::kCpu ? "cpu-funnel" : d == Device::kGpu ? "gpu-graph-funnel" : "auto-funnel";
        Log(fmt::format("e2e: batch {} {} {}", batch, system, o.plan.ToString()));
        MRLDB_RETURN_IF_ERROR(run_n(o, nq, batch, &got, &qps));
        out.push_back({system, o.plan.ToString(), recall(got, truth, nq), qps, batch});
      }
    }
  }
  db.reset();
  std::filesystem::remove_all(dir);
  return out;
}

// log-QPS interpolated in recall between the sweep points around `target` (rows in sweep order).
double QpsAt(const std::vector<E2eRow>& rows, const std::string& system, double target,
             size_t batch) {
  const E2eRow* prev = nullptr;
  for (const E2eRow& r : rows) {
    if (r.system != system || r.batch != batch) continue;
    if (r.recall >= target) {
      if (!prev) return r.qps;
      const double f = (target - prev->recall) / (r.recall - prev->recall);
      return std::exp(std::log(prev->qps) + f * std::log(r.qps / prev->qps));
    }
    prev = &r;
  }
  return 0;
}

int Run(const Args& a) {
  auto devices = gpu::ListDevices();
  if (!devices.ok()) {
    fmt::print(stderr, "mrldb-bench gpu: {}\n", devices.status().message());
    return 1;
  }
  const gpu::GpuDevice& dev = (*devices)[0];
  std::string report = fmt::format("device: {} ({} SMs, {:.1f} GiB), sm_{}{}\n", dev.name,
                                   dev.multiprocessors, dev.total_memory / double(1u << 30),
                                   dev.compute_major, dev.compute_minor);
  auto bw = gpu::MeasureBandwidth(0, size_t{2} << 30, std::max(a.repeat, 5));
  if (!bw.ok()) {
    fmt::print(stderr, "mrldb-bench gpu: bandwidth: {}\n", bw.status().ToString());
    return 1;
  }
  report += fmt::format("copy bandwidth (cudaMemcpy D2D, read + write): {:.0f} GB/s\n",
                        bw->copy_bytes_per_s / 1e9);
  report += fmt::format("read bandwidth (read-only kernel): {:.0f} GB/s\n", bw->read_bytes_per_s / 1e9);
  fmt::print("{}", report);
  std::fflush(stdout);

  SyntheticGenerator gen({.dim = kDim});
  Log(fmt::format("making {} synthetic rows x {}", a.rows, kDim));
  const std::vector<float> x = MakeRows(gen, a.rows);

  std::string json = fmt::format("{{\"device\": \"{}\", \"copy_gbs\": {:.1f}, \"read_gbs\": {:.1f}, \"rows\": {}, \"rerank\": [",
                                 dev.name, bw->copy_bytes_per_s / 1e9, bw->read_bytes_per_s / 1e9, a.rows);
  auto rr = a.rerank ? RerankThroughput(a, x, gen) : Result<std::vector<RerankRow>>(std::vector<RerankRow>{});
  if (!rr.ok()) {
    fmt::print(stderr, "mrldb-bench gpu: re-rank: {}\n", rr.status().ToString());
    return 1;
  }
  std::string table = fmt::format(
      "\nre-rank, one stage over all 768 dims (7 blocks), {} rows, median of {} calls:\n"
      "| precision | queries x candidates | kernel | GB/s read | of copy bw | of read bw | whole call | union GEMM |\n"
      "|---|---|---|---|---|---|---|---|\n", a.rows, a.repeat);
  for (size_t i = 0; i < rr->size(); ++i) {
    const RerankRow& r = (*rr)[i];
    const double gbs = r.bytes / r.kernel_s / 1e9;
    table += fmt::format("| {} | {} x {} | {:.1f} us | {:.0f} | {:.1f}% | {:.1f}% | {:.1f} us | {} |\n",
                         r.precision, r.nq, r.cands, r.kernel_s * 1e6, gbs,
                         100 * gbs * 1e9 / bw->copy_bytes_per_s, 100 * gbs * 1e9 / bw->read_bytes_per_s,
                         r.total_s * 1e6,
                         r.union_s > 0 ? fmt::format("{:.1f} us", r.union_s * 1e6) : std::string("-"));
    json += fmt::format("{}{{\"precision\": \"{}\", \"nq\": {}, \"cands\": {}, \"kernel_us\": {:.2f}, \"gbs\": {:.1f}, \"total_us\": {:.1f}, \"union_gemm_us\": {:.2f}}}",
                        i ? ", " : "", r.precision, r.nq, r.cands, r.kernel_s * 1e6, gbs, r.total_s * 1e6,
                        r.union_s * 1e6);
  }
  json += "]";
  fmt::print("{}", table);
  std::fflush(stdout);

  if (a.exact) {
    Log(fmt::format("exact shapes: uploading {} rows as float32", a.rows));
    std::string rows_json;
    auto copy = Upload(x, a.rows, gpu::Precision::kFloat32);
    auto shapes = copy.ok() ? ExactMethodTable(copy->get(), gen, a.rows, kDim, a.repeat, &rows_json)
                            : Result<std::string>(copy.status());
    if (!shapes.ok()) {
      fmt::print(stderr, "mrldb-bench gpu: exact shapes: {}\n", shapes.status().ToString());
      return 1;
    }
    fmt::print("{}", *shapes);
    std::fflush(stdout);
    json += ", \"exact\": [" + rows_json + "]";
  }
  {
    std::string breakdown;
    if (Status st = DeviceFunnelBreakdown(a, x, gen, &breakdown); !st.ok()) {
      fmt::print(stderr, "mrldb-bench gpu: device funnel: {}\n", st.ToString());
      return 1;
    }
    fmt::print("{}", breakdown);
    std::fflush(stdout);
  }
  if (a.e2e) {
    std::string notes;
    auto e2e = EndToEnd(a, x, gen, &notes);
    if (!e2e.ok()) {
      fmt::print(stderr, "mrldb-bench gpu: end to end: {}\n", e2e.status().ToString());
      return 1;
    }
    std::string t = fmt::format(
        "\nend to end, {} rows x 768, cosine, {} queries in SearchBatch calls of {}, k = {}, "
        "median of {} runs:\n{}| system | batch | plan | recall@{} | QPS |\n|---|---|---|---|---|\n",
        a.rows, a.nq, a.batch, a.k, a.repeat, notes, a.k);
    json += ", \"e2e\": [";
    for (size_t i = 0; i < e2e->size(); ++i) {
      const E2eRow& r = (*e2e)[i];
      t += fmt::format("| {} | {} | {} | {:.4f} | {:.0f} |\n", r.system, r.batch, r.plan, r.recall, r.qps);
      json += fmt::format("{}{{\"system\": \"{}\", \"batch\": {}, \"plan\": \"{}\", \"recall\": {:.4f}, \"qps\": {:.1f}}}",
                          i ? ", " : "", r.system, r.batch, r.plan, r.recall, r.qps);
    }
    json += "]";
    const double brute = (*e2e)[0].qps;
    const double cpu = QpsAt(*e2e, "cpu-funnel", 0.95, a.batch);
    const double hnsw = QpsAt(*e2e, "gpu-funnel-hnsw", 0.95, a.batch);
    const double scan = QpsAt(*e2e, "gpu-funnel-scan", 0.95, a.batch);
    t += fmt::format("\nQPS at recall@{} = 0.95 (0: not reached): cpu-funnel {:.0f}, gpu-funnel-hnsw "
                     "{:.0f}, gpu-funnel-scan {:.0f}, gpu-brute-force {:.0f}\n", a.k, cpu, hnsw, scan, brute);
    const double best = std::max(hnsw, scan);
    t += fmt::format("best GPU funnel / CPU funnel: {:.2f}x; / GPU brute force: {:.2f}x (target >= 5x)\n",
                     cpu > 0 ? best / cpu : 0.0, best / brute);
    json += fmt::format(", \"at_095\": {{\"cpu_funnel\": {:.1f}, \"gpu_funnel_hnsw\": {:.1f}, \"gpu_funnel_scan\": {:.1f}, \"gpu_brute_force\": {:.1f}}}",
                        cpu, hnsw, scan, brute);
    // The device graph per batch size (brute force measured at --batch).
    t += "\ndevice graph funnel at recall@10 = 0.95 (0: not reached), per batch size:\n"
         "| batch | gpu-graph-funnel QPS | cpu-funnel QPS | / CPU funnel | / GPU brute force | "
         "mean latency GPU / CPU | auto QPS | auto / better side |\n|---|---|---|---|---|---|---|---|\n";
    json += ", \"graph_at_095\": [";
    for (size_t i = 0; i < a.batches.size(); ++i) {
      const size_t b = a.batches[i];
      const double g = QpsAt(*e2e, "gpu-graph-funnel", 0.95, b), c = QpsAt(*e2e, "cpu-funnel", 0.95, b);
      const double au = QpsAt(*e2e, "auto-funnel", 0.95, b), better = std::max(g, c);
      // A batch's latency: batch / QPS (the calls run one after another).
      t += fmt::format("| {} | {:.0f} | {:.0f} | {:.2f}x | {:.2f}x | {:.3f} / {:.3f} ms | {:.0f} | {:.2f} |\n", b, g, c,
                       c > 0 ? g / c : 0.0, g / brute, g > 0 ? 1e3 * b / g : 0.0, c > 0 ? 1e3 * b / c : 0.0,
                       au, better > 0 ? au / better : 0.0);
      json += fmt::format("{}{{\"batch\": {}, \"gpu_graph_funnel\": {:.1f}, \"cpu_funnel\": {:.1f}, \"auto_funnel\": {:.1f}}}",
                          i ? ", " : "", b, g, c, au);
    }
    json += "]";
    fmt::print("{}", t);
  }
  json += "}\n";
  if (!a.json.empty()) {
    FILE* f = std::fopen(a.json.c_str(), "w");
    if (f) {
      std::fputs(json.c_str(), f);
      std::fclose(f);
    }
  }
  return 0;
}

}  // namespace

void AddGpuBench(CLI::App* app, Runner* run) {
  auto a = std::make_shared<Args>();
  CLI::App* gpu = app->add_subcommand("gpu", "the GPU re-ranker and exact search on the device at hand");
  gpu->add_option("--rows", a->rows, "rows (default 1000000)")->check(cli::Integer(1));
  gpu->add_option("--nq", a->nq, "queries (default 1024)")->check(cli::Integer(1));
  gpu->add_option("--batch", a->batch, "queries per batch (default 1024)")->check(cli::Integer(1));
  gpu->add_option("--repeat", a->repeat, "runs, the median reported (default 5)")->check(cli::Integer(1));
  gpu->add_option("--k", a->k, "neighbours (default 10)")->check(cli::Integer(1, 100000));
  gpu->add_option("--dir", a->dir, "database directory (default: a temporary one)")->type_name("DIR");
  gpu->add_option("--json", a->json, "results as JSON")->type_name("FILE");
  gpu->add_flag_callback("--no-e2e", [a] { a->e2e = false; }, "skip the end-to-end searches");
  gpu->add_flag_callback("--no-rerank", [a] { a->rerank = false; }, "skip the re-rank kernel shapes");
  gpu->add_flag_callback("--no-exact", [a] { a->exact = false; },
                         "skip the exact-search shapes (GEMM against the fused scan)");
  gpu->add_option("--batches", a->batches, "batch sizes of the device-graph funnel (default 1,16,256,1024,10000)")
      ->delimiter(',')->check(cli::Integer(1));
  gpu->callback([a, run] { *run = [a] { return Run(*a); }; });
}

}  // namespace mrldb::bench
