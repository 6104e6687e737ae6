// ANALYZE: how well each prefix of the ladder stands in for the full vector, measured on sampled
// rows left out of their own results. Every search here is exact (no graph walk that a stored
// row could shortcut, as Tune's must be kept from doing), so a sampled row is an unseen query to
// the other rows as it is: recall@10 of exact prefix search, rank correlation, the shortlist a prefix
// needs to hold the target share of the full top 10, k-NN accuracy with a label column, and a
// verdict whether the prefixes behave like a Matryoshka embedding's.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include <fmt/format.h>

#include "engine/distance.h"
#include "engine/predict_internal.h"
#include "engine/row_blocks.h"
#include "engine/top_k.h"
#include "storage/vector_segments.h"

namespace mrldb {
namespace {

constexpr uint32_t kMinSample = 10, kMaxSample = 10000;
constexpr size_t kTop = 10;
// Rows per query whose prefix and full distances are rank-correlated.
constexpr size_t kCorrRows = 100;
// The verdict: in a Matryoshka embedding a prefix as wide as the ladder's last block finds
// clearly more of the full top 10 than that block alone; in an ordinary embedding any dims
// are as good as any others (measured on the synthetic sets: docs/benchmarks.md).
constexpr double kPrefixAdvantage = 0.15;
// What a shortlisted candidate costs beyond the values its re-rank reads, in values scanned:
// measured on a flat 6,000 x 256 set, FUNNEL (128 KEEP 779, 256) took 0.95 ms where exact search
// took 0.42 (2 busy cores), about 1 us per candidate against 0.27 ns per value scanned; the
// constant is set low so that a scan is measured rather than missed.
constexpr double kCandidateCost = 1000;

// Spearman's rho of two equally long lists (no ties expected among float distances).
double Spearman(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = a.size();
  if (n < 2) return 1;
  auto ranks = [n](const std::vector<double>& v) {
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
    std::vector<double> r(n);
    for (size_t i = 0; i < n; ++i) r[order[i]] = double(i);
    return r;
  };
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  double d2 = 0;
  for (size_t i = 0; i < n; ++i) d2 += (ra[i] - rb[i]) * (ra[i] - rb[i]);
  return 1 - 6 * d2 / (double(n) * (double(n) * n - 1));
}

}  // namespace

Status MatryoshkaAnalysis::ScanLevels(const Collection& c, const float* queries, size_t n,
                                      size_t stride, size_t keep, const uint64_t* exclude,
                                      LevelScan* out, const std::atomic<bool>* cancel) {
  const storage::Ladder& ladder = c.ladder_;
  const Metric metric = c.spec().metric;
  const DistanceKernels& kern = Kernels();
  const size_t L = ladder.blocks();
  const bool suffix = L >= 2;
  // Per query: squared norms of its prefixes, and of its last block alone.
  std::vector<std::vector<double>> q_sq(n, std::vector<double>(L, 0));
  std::vector<double> q_suffix(n);
  for (size_t i = 0; i < n; ++i) {
    const float* q = queries + i * stride;
    for (size_t b = 0; b < L; ++b) {
      for (uint32_t d = ladder.begin(b); d < ladder.end(b); ++d) q_sq[i][b] += double{q[d]} * q[d];
    }
    q_suffix[i] = q_sq[i][L - 1];
    for (size_t b = 1; b < L; ++b) q_sq[i][b] += q_sq[i][b - 1];
  }
  const size_t chunks = (c.next_row_ + ColumnCache::kChunkRows - 1) / ColumnCache::kChunkRows;
  // One chunk of rows for query i: its blocks' values and squared prefix norms (from the column
  // cache, or a view of a storage scan over the same rows, shared by all the queries); its best
  // rows per level and by the suffix.
  auto scan_chunk = [&](size_t i, size_t ch, const float* const* x_blocks, const float* const* sq_levels) {
    const float* q = queries + i * stride;
    const uint64_t first = ch * ColumnCache::kChunkRows;
    const size_t rows = std::min<uint64_t>(ColumnCache::kChunkRows, c.next_row_ - first);
    std::vector<float> score(rows, 0.0f), block(rows);
    LevelScan part;
    part.levels.resize(L);
    for (size_t b = 0; b < L; ++b) {
      const uint32_t begin = ladder.begin(b), width = ladder.width(b);
      const float* x = x_blocks[b];
      std::fill(block.begin(), block.end(), 0.0f);
      if (metric == Metric::kL2) {
        kern.l2_rows(q + begin, x, rows, width, width, block.data());
      } else {
        kern.dot_rows(q + begin, x, rows, width, width, block.data());
      }
      TopK top(keep);
      for (size_t r = 0; r < rows; ++r) {
        score[r] += block[r];
        const uint64_t row = first + r;
        if (!c.live_[row] || row == exclude[i]) continue;
        top.Push(FinalDistance(metric, score[r], q_sq[i][b], sq_levels[b][r]), row);
      }
      part.levels[b] = top.TakeSorted();
    }
    if (!suffix) return part;
    TopK top(kTop);
    for (size_t r = 0; r < rows; ++r) {
      const uint64_t row = first + r;
      if (!c.live_[row] || row == exclude[i]) continue;
      const double x_sq = double{sq_levels[L - 1][r]} - sq_levels[L - 2][r];
      top.Push(FinalDistance(metric, block[r], q_suffix[i], x_sq), row);
    }
    part.suffix = top.TakeSorted();
    return part;
  };
  for (size_t i = 0; i < n; ++i) {
    out[i].levels.assign(L, {});
    out[i].suffix.clear();
  }
  auto fold = [&](size_t i, const LevelScan& part) {
    for (size_t b = 0; b < L; ++b) out[i].levels[b] = MergeBest(out[i].levels[b], part.levels[b], keep);
    out[i].suffix = MergeBest(out[i].suffix, part.suffix, kTop);
  };
  if (L <= c.cache_.resident()) {
    // Chunks in parallel, folded in chunk order afterwards.
    std::vector<std::vector<LevelScan>> parts(chunks, std::vector<LevelScan>(n));
    c.pool_->ParallelFor(chunks, [&](size_t ch) {
      std::vector<const float*> x(L), sq(L);
      for (size_t b = 0; b < L; ++b) {
        x[b] = c.cache_.Chunk(b, ch);
        sq[b] = c.cache_.SqNorms(b) + ch * ColumnCache::kChunkRows;
      }
      for (size_t i = 0; i < n; ++i) parts[ch][i] = scan_chunk(i, ch, x.data(), sq.data());
    });
    for (size_t ch = 0; ch < chunks; ++ch) {
      for (size_t i = 0; i < n; ++i) fold(i, parts[ch][i]);
    }
  } else {
    // Views arrive in chunk order: each query folds its part at once, so what is held is one
    // list per query and level, not one per chunk (4096 a level: 1.8 GB for 64 queries at 1M rows).
    bool stopped = false;
    MRLDB_RETURN_IF_ERROR(storage::ScanVectorRows(
        *c.kv_, c.desc_.cid, ladder, 0, L, c.next_row_, ColumnCache::kChunkRows,
        [&](const storage::RowsView& view) {
          if (cancel && cancel->load(std::memory_order_relaxed)) return !(stopped = true);
          const size_t ch = view.first_row / ColumnCache::kChunkRows;
          c.pool_->ParallelFor(n, [&](size_t i) {
            fold(i, scan_chunk(i, ch, view.blocks.data(), view.sqnorms.data()));
          });
          return true;
        },
        nullptr));
    if (stopped) return Status::Cancelled("scan cancelled");
  }
  return Status::Ok();
}

double MatryoshkaAnalysis::AnalyzedShortlist(const PrefixAnalysis& analysis, uint32_t dims,
                                             uint32_t k) {
  if (analysis.rows == 0) return 0;
  for (const PrefixQuality& q : analysis.levels) {
    if (q.dims != dims) continue;
    const double measured = q.shortlist ? q.shortlist : 2.0 * kMaxAnalyzedShortlist;
    return measured * std::sqrt(std::max(1.0, k / 10.0));
  }
  return 0;
}

uint32_t MatryoshkaAnalysis::AnalyzedKeep(const PrefixAnalysis& analysis, uint32_t dims,
                                          uint32_t k) {
  const double keep = 1.5 * AnalyzedShortlist(analysis, dims, k);
  return uint32_t(std::min<double>(std::ceil(keep), kMaxSearchEf));
}

uint32_t MatryoshkaAnalysis::CheapestScan(const PrefixAnalysis& analysis, const CollectionSpec& s,
                                          uint64_t rows, uint32_t k) {
  if (!WeakIndexPrefix(analysis, s.index_dim)) return 0;
  uint32_t best = s.dim;
  double best_cost = double(rows) * s.dim;  // exact search
  for (uint32_t g : s.granularities) {
    const uint32_t keep = AnalyzedKeep(analysis, g, k);
    if (g <= s.index_dim || g >= s.dim || keep == 0) continue;
    const double cost = double(rows) * g + double(keep) * (kCandidateCost + s.dim - g);
    if (cost < best_cost) best = g, best_cost = cost;
  }
  return best;
}

Result<PrefixAnalysis> Collection::Analyze(const AnalyzeOptions& options) {
  MRLDB_RETURN_IF_ERROR(WaitForRows());  // reads every row's id and attributes
  if (options.sample < kMinSample || options.sample > kMaxSample) {
    return Status::InvalidArgument(fmt::format("sample of {} rows is outside {}..{}", options.sample,
                                               kMinSample, kMaxSample));
  }
  const CollectionSpec& s = spec();
  const size_t L = ladder_.blocks();
  int label = -1;
  TuneSample set;
  std::vector<uint64_t> corr_rows;
  PrefixAnalysis a;
  {
    std::shared_lock lock(mu_);
    std::vector<uint64_t> candidates;
    if (!options.label.empty()) {
      MRLDB_ASSIGN_OR_RETURN(label, MatryoshkaAnalysis::LabelColumn(*this, options.label));
      MRLDB_ASSIGN_OR_RETURN(auto labelled, MatryoshkaAnalysis::Voters(*this, label, std::nullopt));
      candidates = MatryoshkaAnalysis::VoterRows(*this, labelled.get());
      a.label = s.attributes[label].name;
    } else {
      for (uint64_t row = 0; row < next_row_; ++row) {
        if (live_[row]) candidates.push_back(row);
      }
    }
    if (live_rows_ <= kTop || candidates.size() < 1) {
      return Status::InvalidArgument(fmt::format(
          "ANALYZE needs more than {} live rows{}; collection '{}' has {}", kTop,
          label >= 0 ? " and a labelled one" : "", s.name, live_rows_));
    }
    for (uint64_t row : MatryoshkaAnalysis::SampleRows(candidates, options.sample)) {
      MRLDB_ASSIGN_OR_RETURN(const std::vector<float> v, RowPrefix(row, s.dim));
      set.queries.insert(set.queries.end(), v.begin(), v.end());
      set.self.push_back(keys_.Get(row));
    }
    set.n = set.self.size();
    std::vector<uint64_t> live;
    for (uint64_t row = 0; row < next_row_; ++row) {
      if (live_[row]) live.push_back(row);
    }
    corr_rows = MatryoshkaAnalysis::SampleRows(live, kCorrRows + 1);
    a.rows = live_rows_;
    a.target = s.target_recall;
  }

  std::vector<double> recall(L, 0), corr(L, 0), correct(L, 0);
  std::vector<std::vector<uint32_t>> ranks(L);  // of each full-D neighbour, kMax + 1: not found
  double suffix = 0;
  size_t queries = 0, labelled = 0;
  const DistanceKernels& kern = Kernels();
  // What one query of a storage scan holds: its running lists (L levels and the suffix) and a
  // merge's copy of them.
  const size_t scan_bytes = 2 * sizeof(Candidate) * (L * kMaxAnalyzedShortlist + kTop);
  std::vector<MatryoshkaAnalysis::LevelScan> scans;
  size_t scanned_from = 0, scanned_to = 0;
  for (size_t i = 0; i < set.n; ++i) {
    if (options.cancel && options.cancel->load(std::memory_order_relaxed)) {
      return Status::Cancelled("ANALYZE cancelled; nothing was stored");
    }
    std::shared_lock lock(mu_);
    if (i == scanned_to) {
      // The next group's scans: one query at a time while the blocks are in memory (a writer
      // waits for one scan at most); one storage scan for a group of queries otherwise.
      const size_t m = L <= cache_.resident() ? 1 : ScanGroup(set.n - i, scan_bytes);
      std::vector<uint64_t> exclude(m);
      for (size_t j = 0; j < m; ++j) {
        exclude[j] = keys_.Find(set.self[i + j]);  // kNoRow: none
      }
      scans.assign(m, {});
      const Status st = MatryoshkaAnalysis::ScanLevels(*this, set.queries.data() + i * s.dim, m,
                                                       s.dim, kMaxAnalyzedShortlist, exclude.data(),
                                                       scans.data(), options.cancel);
      if (st.code() == Status::Code::kCancelled) {
        return Status::Cancelled("ANALYZE cancelled; nothing was stored");
      }
      MRLDB_RETURN_IF_ERROR(st);
      scanned_from = i;
      scanned_to = i + m;
    }
    const uint64_t row = keys_.Find(set.self[i]);
    if (row == RowKeys::kNoRow || !live_[row]) continue;  // deleted meanwhile
    const float* q = set.queries.data() + i * s.dim;
    const MatryoshkaAnalysis::LevelScan& scan = scans[i - scanned_from];
    std::vector<uint64_t> truth;
    for (size_t j = 0; j < std::min(kTop, scan.levels[L - 1].size()); ++j) {
      truth.push_back(scan.levels[L - 1][j].row);
    }
    if (truth.empty()) continue;
    ++queries;
    auto found = [&](const std::vector<Candidate>& list, size_t limit) {
      size_t hit = 0;
      for (size_t j = 0; j < std::min(limit, list.size()); ++j) {
        hit += std::count(truth.begin(), truth.end(), list[j].row);
      }
      return double(hit) / truth.size();
    };
    suffix += found(scan.suffix, kTop);
    // Prefix and full distances of the correlation rows, block by block.
    std::vector<std::vector<double>> dist(L);
    double q_sq = 0;
    std::vector<double> accs(corr_rows.size(), 0);
    thread_local RowBlocks corr_blocks;
    MRLDB_RETURN_IF_ERROR(corr_blocks.Fetch(cache_, Storage(), corr_rows, 0, L, nullptr));
    for (size_t b = 0; b < L; ++b) {
      const uint32_t begin = ladder_.begin(b), width = ladder_.width(b);
      for (uint32_t d = begin; d < begin + width; ++d) q_sq += double{q[d]} * q[d];
      for (size_t j = 0; j < corr_rows.size(); ++j) {
        if (corr_rows[j] == row) continue;
        const float* x = corr_blocks.Row(j, b);
        accs[j] += s.metric == Metric::kL2 ? kern.l2sqr(q + begin, x, width) : kern.dot(q + begin, x, width);
        dist[b].push_back(FinalDistance(accs[j], q_sq, corr_blocks.SqNorm(j, b)));
      }
    }
    std::unordered_map<uint64_t, uint32_t> pos;
    for (size_t b = 0; b < L; ++b) {
      const std::vector<Candidate>& list = scan.levels[b];
      recall[b] += found(list, kTop);
      corr[b] += Spearman(dist[b], dist[L - 1]);
      pos.clear();
      for (size_t j = 0; j < list.size(); ++j) pos.emplace(list[j].row, uint32_t(j + 1));
      for (uint64_t t : truth) {
        auto it = pos.find(t);
        ranks[b].push_back(it == pos.end() ? kMaxAnalyzedShortlist + 1 : it->second);
      }
      if (label < 0) continue;
      std::vector<Candidate> voters;
      for (const Candidate& x : list) {
        if (!std::holds_alternative<std::monostate>(attrs_[label][x.row])) voters.push_back(x);
        if (voters.size() == kTop) break;
      }
      const LevelVote v = MatryoshkaAnalysis::Vote(*this, label, VoteRule::kUniform, voters.data(),
                                                   voters.size());
      correct[b] += v.label == attrs_[label][row];
    }
    if (label >= 0) ++labelled;
  }
  if (queries == 0) return Status::InvalidArgument("ANALYZE: every sampled row was deleted meanwhile");
  a.sample = uint32_t(queries);
  a.suffix_recall = suffix / queries;
  a.graph_prefix = s.dim;
  for (size_t b = 0; b < L; ++b) {
    PrefixQuality p;
    p.dims = ladder_.end(b);
    p.recall = recall[b] / queries;
    p.rank_corr = corr[b] / queries;
    std::sort(ranks[b].begin(), ranks[b].end());
    const size_t need = size_t(std::ceil(a.target * ranks[b].size() - 1e-9));
    const uint32_t at = ranks[b][std::clamp<size_t>(need, 1, ranks[b].size()) - 1];
    p.shortlist = at > kMaxAnalyzedShortlist ? 0 : std::max<uint32_t>(at, kTop);
    p.accuracy = label >= 0 && labelled ? correct[b] / labelled : -1;
    if (p.shortlist && p.shortlist <= kGoodShortlist && a.graph_prefix == s.dim) a.graph_prefix = p.dims;
    a.levels.push_back(p);
  }
  // The prefix as wide as the last block (or the widest prefix below that width).
  const uint32_t width = L >= 2 ? ladder_.width(L - 1) : s.dim;
  size_t same = 0;
  while (same + 1 < L && ladder_.end(same + 1) <= width) ++same;
  const PrefixQuality& half = a.levels[same];
  a.matryoshka = L >= 2 && half.recall >= a.suffix_recall + kPrefixAdvantage;
  uint32_t index_keep = 0, graph_keep = 0;
  for (const PrefixQuality& p : a.levels) {
    if (p.dims == s.index_dim) index_keep = p.shortlist;
    if (p.dims == a.graph_prefix) graph_keep = p.shortlist;
  }
  // What the figures mean for the graph: a weak index prefix is said in words a user can act on
  // (the derived plan and TUNE act on it themselves: engine/default_plan.cc, engine/tune.cc).
  std::string graph;
  if (MatryoshkaAnalysis::WeakIndexPrefix(a, s.index_dim)) {
    graph = a.graph_prefix == s.dim
                ? fmt::format("; no prefix holds it in {} rows: consider a graph on the full "
                              "dimension, ALTER COLLECTION {} SET (index_dim = {})",
                              kGoodShortlist, s.name, s.dim)
                : fmt::format("; the index prefix is too weak to shortlist from: consider ALTER "
                              "COLLECTION {} SET (index_dim = {}), where {} rows hold it",
                              s.name, a.graph_prefix, graph_keep);
  } else if (a.graph_prefix != s.index_dim) {
    graph = fmt::format("; a graph on {} dims would need at most {}", a.graph_prefix, kGoodShortlist);
  }
  a.verdict = fmt::format(
      "{}: the first {} dims find {:.2f} of the full top 10, the last {} alone {:.2f}; an exact "
      "shortlist at the index prefix {} must hold {} rows for recall {}{}",
      a.matryoshka ? "Matryoshka-like prefixes" : "weak prefixes (not a Matryoshka embedding)",
      half.dims, half.recall, width, a.suffix_recall, s.index_dim,
      index_keep ? fmt::format("{}", index_keep) : "over " + std::to_string(kMaxAnalyzedShortlist),
      a.target, graph);
  if (options.store) {
    MRLDB_RETURN_IF_ERROR(MatryoshkaAnalysis::StoreSpec(*this, [&](CollectionSpec& sp) { sp.analysis = a; }));
  }
  if (log_) log_(fmt::format("collection '{}': analysed its prefixes over {} rows: {}", s.name, a.rows, a.verdict));
  return a;
}

}  // namespace mrldb
