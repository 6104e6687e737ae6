// mrldb-bench graph: stage 0 alone. One HNSW graph per encoding (float32 prefixes, int8 codes
// with one trained scale: engine/prefix_codes.h), built by hnswlib on the unit-normalized
// --prefix-dim prefixes of synthetic Matryoshka rows, and searched on the same graph by
//   hnswlib      HierarchicalNSW::searchKnn (its own visited-list pool, priority queues and
//                one-ahead prefetch of the first line of a neighbour)
//   mrldb a=N    engine/graph_search.h's SearchGraph with N neighbours' vectors prefetched
//                ahead (a=0: no software prefetch), reading vectors inside hnswlib's block
//   mrldb+al a=N the same over PrefixIndex's 64-byte-aligned copy of the codes (int8 only)
// One thread, k = 10; recall@k against the exact top k of the prefix (graph quality, not the
// funnel's recall). Each configuration is measured --repeat times interleaved with the others;
// medians. This is how the search layer and its prefetch depth were chosen (docs/benchmarks.md).
//
//   mrldb-bench graph [--rows N] [--dim D] [--prefix-dim P] [--nq Q] [--ef LIST] [--threads T]
//                     [--repeat R]
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <hnswlib/hnswlib.h>

#include "bench/commands.h"
#include "bench/measure.h"
#include "engine/distance.h"
#include "engine/graph_search.h"
#include "engine/prefix_codes.h"
#include "mrldb/synthetic.h"

namespace mrldb::bench {
namespace {

struct Args {
  size_t rows = 1000000, nq = 1000;
  uint32_t dim = 768, prefix = 64;
  std::vector<size_t> ef = {16, 32, 64, 128};
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  int repeat = 3;
};

// An hnswlib space over float32 prefixes or int8 codes, with mrldb's kernels (cosine: 1 - dot).
class BenchSpace final : public hnswlib::SpaceInterface<float> {
 public:
  BenchSpace(uint32_t dims, bool codes, float scale) : codes_(codes) {
    if (codes) {
      code_param_ = {PrefixCodes::Bytes(dims), scale * scale};
      bytes_ = code_param_.bytes;
      fn_ = CodeKernelsForCpu().ip_distance;
    } else {
      len_ = dims;
      bytes_ = dims * sizeof(float);
      fn_ = Kernels().ip_distance;
    }
  }
  size_t get_data_size() override { return bytes_; }
  hnswlib::DISTFUNC<float> get_dist_func() override { return fn_; }
  void* get_dist_func_param() override { return codes_ ? static_cast<void*>(&code_param_) : &len_; }

 private:
  bool codes_;
  size_t len_ = 0, bytes_ = 0;
  CodeParam code_param_{};
  hnswlib::DISTFUNC<float> fn_;
};

std::vector<float> Prefixes(const std::vector<float>& full, size_t n, uint32_t dim, uint32_t p) {
  std::vector<float> out(n * p);
  for (size_t i = 0; i < n; ++i) {
    double sq = 0;
    for (uint32_t d = 0; d < p; ++d) sq += double{full[i * dim + d]} * full[i * dim + d];
    const float inv = sq > 0 ? float(1 / std::sqrt(sq)) : 0.0f;
    for (uint32_t d = 0; d < p; ++d) out[i * p + d] = full[i * dim + d] * inv;
  }
  return out;
}

int Run(const Args& a) {
  SyntheticOptions so;
  so.dim = a.dim;
  const SyntheticGenerator gen(so);
  const uint32_t p = a.prefix;
  std::vector<float> base;
  base.reserve(a.rows * p);
  for (size_t first = 0; first < a.rows; first += 65536) {
    const size_t n = std::min<size_t>(65536, a.rows - first);
    auto chunk = Prefixes(gen.Rows(first, n), n, a.dim, p);
    base.insert(base.end(), chunk.begin(), chunk.end());
  }
  const std::vector<float> queries = Prefixes(gen.Queries(0, a.nq), a.nq, a.dim, p);
  constexpr size_t k = 10;
  // Exact top k of every query on the prefix.
  std::vector<std::set<size_t>> truth(a.nq);
  const DistanceKernels& kern = Kernels();
  if (!ParallelFor(a.nq, a.threads, [&](size_t qi) {
         std::priority_queue<std::pair<float, size_t>> top;
         for (size_t r = 0; r < a.rows; ++r) {
           const float d = -kern.dot(&queries[qi * p], &base[r * p], p);
           if (top.size() < k) top.push({d, r});
           else if (d < top.top().first) top.pop(), top.push({d, r});
         }
         for (; !top.empty(); top.pop()) truth[qi].insert(top.top().second);
       }).ok()) {
    return 1;
  }
  float max_abs = 0;
  for (size_t i = 0; i < std::min<size_t>(base.size(), 8192 * p); ++i) max_abs = std::max(max_abs, std::fabs(base[i]));
  const float scale = PrefixCodes::ScaleFor(max_abs);
  const size_t code_bytes = PrefixCodes::Bytes(p);
  fmt::print("graph bench: {} x {} prefixes of synthetic {}-dim rows, {} queries, k {}, M 16, "
             "ef_construction 200, {} build threads; int8 scale {:.3g}\n",
             a.rows, p, a.dim, a.nq, k, a.threads, scale);

  for (bool codes : {false, true}) {
    BenchSpace space(p, codes, scale);
    hnswlib::HierarchicalNSW<float> g(&space, a.rows, 16, 200, 100);
    auto encode = [&](const float* x, std::vector<uint8_t>* buf) -> const void* {
      if (!codes) return x;
      buf->resize(code_bytes);
      PrefixCodes::Encode(x, p, scale, buf->data());
      return buf->data();
    };
    const auto t0 = Clock::now();
    if (!ParallelFor(a.rows, a.threads, [&](size_t r) {
           thread_local std::vector<uint8_t> buf;
           g.addPoint(encode(&base[r * p], &buf), r);
         }).ok()) {
      return 1;
    }
    const double build_s = Since(t0);
    // The aligned copy by internal id, as PrefixIndex keeps it.
    std::unique_ptr<uint8_t, decltype(&std::free)> aligned(
        static_cast<uint8_t*>(std::aligned_alloc(64, (a.rows * code_bytes + 63) / 64 * 64)), &std::free);
    if (codes) {
      for (size_t i = 0; i < a.rows; ++i) {
        std::memcpy(aligned.get() + i * code_bytes, g.getDataByInternalId(hnswlib::tableint(i)), code_bytes);
      }
    }
    std::vector<std::vector<uint8_t>> qcodes(a.nq);
    for (size_t qi = 0; qi < a.nq; ++qi) encode(&queries[qi * p], &qcodes[qi]);
    auto query = [&](size_t qi) -> const void* {
      return codes ? static_cast<const void*>(qcodes[qi].data()) : &queries[qi * p];
    };

    struct Config {
      std::string name;
      int kind;  // 0 hnswlib, 1 mrldb in place, 2 mrldb aligned
      size_t ahead;
    };
    std::vector<Config> configs = {{"hnswlib", 0, 0}};
    for (size_t ahead : {0, 1, 3, 6, 12}) configs.push_back({fmt::format("mrldb a={}", ahead), 1, ahead});
    if (codes) {
      for (size_t ahead : {3, 6, 12}) configs.push_back({fmt::format("mrldb+al a={}", ahead), 2, ahead});
    }
    fmt::print("\n{} graph: build {:.1f} s ({} threads)\n{:<16} {:>5} {:>9} {:>10}\n",
               codes ? "int8" : "float32", build_s, a.threads, "search", "ef", "recall", "QPS 1 thr");
    const GraphVectors own{aligned.get(), code_bytes};
    for (size_t ef : a.ef) {
      std::vector<std::vector<double>> qps(configs.size());
      std::vector<double> recall(configs.size());
      for (int rep = 0; rep < a.repeat; ++rep) {
        for (size_t c = 0; c < configs.size(); ++c) {
          const Config& cfg = configs[c];
          std::vector<std::pair<float, uint64_t>> out;
          double hits = 0;
          g.setEf(ef);
          auto t = Timed(a.nq, a.nq, 0, [&](size_t first, size_t count) {
            hits = 0;
            for (size_t qi = first; qi < first + count; ++qi) {
              if (cfg.kind == 0) {
                auto pq = g.searchKnn(query(qi), k);
                out.clear();
                for (; !pq.empty(); pq.pop()) out.push_back({pq.top().first, pq.top().second});
              } else {
                SearchGraph(g, query(qi), k, ef, nullptr, &out, cfg.kind == 2 ? &own : nullptr,
                            GraphPrefetch{cfg.ahead});
              }
              for (const auto& [d, label] : out) hits += truth[qi].count(label);
            }
            return Status::Ok();
          });
          qps[c].push_back(t.ok() ? t->qps : 0);
          recall[c] = hits / double(a.nq * k);
        }
      }
      for (size_t c = 0; c < configs.size(); ++c) {
        fmt::print("{:<16} {:>5} {:>9.4f} {:>10.0f}\n", configs[c].name, ef, recall[c], Median(qps[c]));
      }
    }
  }
  return 0;
}

}  // namespace

void AddGraphBench(CLI::App* app, Runner* run) {
  auto a = std::make_shared<Args>();
  CLI::App* graph = app->add_subcommand(
      "graph", "stage 0 alone: hnswlib's search against mrldb's on the same graph");
  graph->add_option("--rows", a->rows, "rows (default 1000000)")->check(cli::Integer(10));
  graph->add_option("--dim", a->dim, "dimension (default 768)")->check(cli::Integer(1, 65536));
  graph->add_option("--prefix-dim", a->prefix, "the graph's prefix, at most --dim (default 64)")
      ->check(cli::Integer(1, 65536));
  graph->add_option("--nq", a->nq, "queries (default 1000)")->check(cli::Integer(1));
  graph->add_option("--ef", a->ef, "ef values (default 16,32,64,128)")
      ->type_name("LIST")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->check(cli::Integer(1, 100000));
  graph->add_option("--threads", a->threads, "threads (default: all cores)")->check(cli::Integer(1, 4096));
  graph->add_option("--repeat", a->repeat, "runs, the median reported (default 3)")->check(cli::Integer(1));
  graph->callback([a, run] {
    *run = [a] {
      if (a->prefix > a->dim) {
        fmt::print(stderr, "mrldb-bench graph: --prefix-dim {} is more than --dim {}\n", a->prefix, a->dim);
        return 2;
      }
      return Run(*a);
    };
  });
}

}  // namespace mrldb::bench
