#include "engine/graph_advisor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_set>

#include <fmt/format.h>

#include "engine/distance.h"
#include "engine/prefix_index.h"

namespace mrldb {

namespace {

// As in Tune (engine/tune.cc): the tuning half aims target + kMargin; the shortlist is bisected
// kBisections times between the last miss and the first hit.
constexpr double kMargin = 0.005;
constexpr int kBisections = 3;
constexpr uint64_t kMaxKeep = 20000;

struct QuerySet {
  std::vector<size_t> rows;                   // sample rows used as queries
  std::vector<std::unordered_set<size_t>> truth;  // each one's exact k nearest other rows
};

}  // namespace

Result<std::vector<GraphCandidate>> MeasureGraphs(
    const GraphSample& sample, const std::vector<std::pair<uint32_t, GraphCodes>>& candidates,
    const GraphMeasureOptions& options) {
  const size_t n = sample.n();
  const uint32_t dim = sample.dim, k = options.k;
  if (k < 1 || n < 10 * (size_t{k} + 1)) {
    return Status::InvalidArgument(fmt::format(
        "choosing a graph for k = {} needs a sample of at least {} rows, not {}", k,
        10 * (size_t{k} + 1), n));
  }
  for (const auto& [dims, codes] : candidates) {
    if (dims < 1 || dims > dim) {
      return Status::InvalidArgument(fmt::format("graph candidate of {} dims: outside 1..{}", dims, dim));
    }
  }
  const DistanceKernels& kern = Kernels();
  const Metric metric = sample.metric;
  auto row = [&](size_t r) { return sample.rows.data() + r * dim; };
  auto cancelled = [&] { return options.cancel && options.cancel->load(std::memory_order_relaxed); };
  const Status cancel_status = Status::Cancelled("choosing the graph was cancelled");

  // Full-dimension distances (smaller is closer), the ground truth and the re-rank.
  std::vector<float> norms(n, 1.0f);
  if (metric == Metric::kCosine) {
    for (size_t r = 0; r < n; ++r) norms[r] = std::sqrt(kern.dot(row(r), row(r), dim));
  }
  auto distance = [&](size_t a, size_t b) {
    switch (metric) {
      case Metric::kCosine: return 1.0f - kern.dot(row(a), row(b), dim) / (norms[a] * norms[b]);
      case Metric::kInnerProduct: return -kern.dot(row(a), row(b), dim);
      case Metric::kL2: break;
    }
    return kern.l2sqr(row(a), row(b), dim);
  };
  // The k nearest of `cands` to row q (q itself left out), nearest first.
  auto nearest = [&](size_t q, std::vector<std::pair<float, size_t>>& cands) {
    std::erase_if(cands, [&](const auto& c) { return c.second == q; });
    const size_t keep = std::min<size_t>(k, cands.size());
    std::partial_sort(cands.begin(), cands.begin() + keep, cands.end());
    cands.resize(keep);
  };

  QuerySet halves[2];
  const size_t stride = std::max<size_t>(1, n / std::max<uint32_t>(1, options.queries));
  std::vector<std::pair<float, size_t>> all;
  for (size_t r = 0, taken = 0; r < n && taken < options.queries; r += stride, ++taken) {
    if (cancelled()) return cancel_status;
    all.clear();
    for (size_t x = 0; x < n; ++x) all.push_back({distance(r, x), x});
    nearest(r, all);
    QuerySet& into = halves[taken % 2];
    into.rows.push_back(r);
    into.truth.emplace_back();
    for (const auto& c : all) into.truth.back().insert(c.second);
  }
  if (halves[1].rows.empty()) halves[1] = halves[0];

  std::vector<GraphCandidate> out;
  std::vector<float> prefix;
  for (const auto& [dims, codes] : candidates) {
    GraphCandidate c;
    c.dims = dims;
    c.codes = codes;
    HnswParams params = options.hnsw;
    params.codes = codes;
    PrefixIndex graph(metric, dims, params);
    MRLDB_RETURN_IF_ERROR(graph.Reserve(n));
    // What the graph stores and is searched with: the prefix, unit-normalized under cosine.
    auto prefix_of = [&](size_t r) {
      prefix.assign(row(r), row(r) + dims);
      if (metric == Metric::kCosine) {
        const float nn = std::sqrt(kern.dot(prefix.data(), prefix.data(), dims));
        for (float& v : prefix) v = nn > 0 ? v / nn : 0.0f;
      }
      return prefix.data();
    };
    if (graph.NeedsTraining()) {  // int8 codes: their scale from the sample's prefixes
      std::vector<float> training;
      for (size_t r = 0; r < n; ++r) {
        const float* p = prefix_of(r);
        training.insert(training.end(), p, p + dims);
      }
      graph.Train(training.data(), n, n);
    }
    for (size_t r = 0; r < n; ++r) {
      if (r % 256 == 0 && cancelled()) return cancel_status;
      MRLDB_RETURN_IF_ERROR(graph.Add(r, prefix_of(r)));
    }
    c.memory_bytes = graph.MemoryBytes();

    // Recall@k of the straight funnel with shortlist keep0 over one half, and its latency.
    auto measure = [&](uint64_t keep0, const QuerySet& set, double* recall, double* ms) -> Status {
      double hits = 0, wanted = 0;
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<std::pair<float, size_t>> cands;
      std::vector<std::pair<float, uint64_t>> found;
      for (size_t i = 0; i < set.rows.size(); ++i) {
        if (cancelled()) return cancel_status;
        const size_t q = set.rows[i];
        cands.clear();
        graph.Search(prefix_of(q), keep0 + 1, keep0 + 1, nullptr, &found);
        for (const auto& [d, r] : found) cands.push_back({distance(q, r), size_t(r)});
        nearest(q, cands);
        for (const auto& hit : cands) hits += set.truth[i].count(hit.second);
        wanted += set.truth[i].size();
      }
      *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
            set.rows.size();
      *recall = wanted > 0 ? hits / wanted : 1.0;
      return Status::Ok();
    };
    const double goal = std::min(1.0, options.target_recall + kMargin);
    const uint64_t top = std::max<uint64_t>(k, std::min<uint64_t>(n - 1, kMaxKeep));
    uint64_t miss = 0, hit = 0;
    double recall = 0, ms = 0, hit_ms = 0;
    for (uint64_t keep0 = k;; keep0 = std::min(top, keep0 * 2)) {
      MRLDB_RETURN_IF_ERROR(measure(keep0, halves[0], &recall, &ms));
      if (recall >= goal) {
        hit = keep0, hit_ms = ms;
        break;
      }
      miss = keep0;
      if (keep0 == top) break;
    }
    if (hit == 0) hit = top, hit_ms = ms;  // the target is out of reach: the best shortlist
    for (int step = 0; step < kBisections && miss && hit - miss > 1; ++step) {
      const uint64_t mid = (miss + hit) / 2;
      MRLDB_RETURN_IF_ERROR(measure(mid, halves[0], &recall, &ms));
      if (recall >= goal) {
        hit = mid, hit_ms = ms;
      } else {
        miss = mid;
      }
    }
    // Confirmed on the held-back half: the shortlist grows by an eighth until it holds there.
    for (c.keep0 = hit, c.ms = hit_ms;;) {
      MRLDB_RETURN_IF_ERROR(measure(c.keep0, halves[1], &c.recall, &ms));
      if (c.recall >= options.target_recall || c.keep0 == top) break;
      c.keep0 = std::min(top, c.keep0 + std::max<uint64_t>(1, c.keep0 / 8));
      MRLDB_RETURN_IF_ERROR(measure(c.keep0, halves[0], &recall, &c.ms));
    }
    c.reached = c.recall >= options.target_recall;
    out.push_back(c);
  }
  return out;
}

std::vector<std::pair<uint32_t, GraphCodes>> GraphCandidates(const CollectionSpec& spec) {
  const PrefixAnalysis& a = spec.analysis;
  auto hopeless = [&](uint32_t g) {
    for (const PrefixQuality& q : a.levels) {
      if (q.dims == g) return q.shortlist == 0;
    }
    return false;
  };
  std::vector<std::pair<uint32_t, GraphCodes>> out;
  for (uint32_t g : spec.granularities) {
    const bool analysed_best = a.rows > 0 && g == a.graph_prefix;
    if (!analysed_best && (g < 16 || g > 128 || (a.rows > 0 && hopeless(g)))) continue;
    for (GraphCodes c : {GraphCodes::kFloat32, GraphCodes::kInt8}) out.push_back({g, c});
  }
  const std::pair<uint32_t, GraphCodes> current = {spec.index_dim, spec.hnsw.codes};
  if (std::find(out.begin(), out.end(), current) == out.end()) out.push_back(current);
  return out;
}

const GraphCandidate* ChooseGraph(const std::vector<GraphCandidate>& measured,
                                  uint32_t current_dims, GraphCodes current_codes, double factor) {
  const GraphCandidate* current = nullptr;
  const GraphCandidate* best = nullptr;
  for (const GraphCandidate& c : measured) {
    if (c.dims == current_dims && c.codes == current_codes) current = &c;
    if (c.reached && (!best || c.ms < best->ms)) best = &c;
  }
  if (!best || best == current) return nullptr;
  if (current && current->reached && best->ms * factor > current->ms) return nullptr;
  return best;
}

}  // namespace mrldb
