// Adaptive k-NN classification: resolving a cascade, running one query through it (stage 0 as
// the funnel's, then exact re-ranking granularity by granularity, reading only the new blocks),
// the vote, and Predict / PredictBatch.
#include <algorithm>
#include <mutex>
#include <atomic>
#include <cmath>
#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/predict_internal.h"
#include "engine/reranker.h"
#include "engine/stage_recorder.h"

namespace mrldb {
namespace {

constexpr uint32_t kMaxVoters = 1000;
constexpr uint32_t kMaxShortlist = 100000;

}  // namespace

std::string_view VoteRuleName(VoteRule v) {
  return v == VoteRule::kDistance ? "distance" : "uniform";
}

Result<int> MatryoshkaAnalysis::LabelColumn(const Collection& c, const std::string& label) {
  const CollectionSpec& s = c.spec();
  if (label.empty()) return Status::InvalidArgument("a label column is required");
  const int col = s.AttributeIndex(label);
  if (col < 0) {
    return Status::InvalidArgument(fmt::format("collection '{}' has no attribute column '{}' to "
                                               "take labels from", s.name, label));
  }
  if (s.attributes[col].type == AttrType::kFloat) {
    return Status::InvalidArgument(fmt::format(
        "column '{}' of collection '{}' is FLOAT: a label column must be TEXT, INT or BOOL",
        label, s.name));
  }
  return col;
}

Result<Cascade> MatryoshkaAnalysis::Resolve(const Collection& c, const PredictOptions& o,
                                            bool calibration) {
  const CollectionSpec& s = c.spec();
  Cascade r;
  MRLDB_ASSIGN_OR_RETURN(r.label, LabelColumn(c, o.label));
  const PredictCalibration* cal = nullptr;
  for (const PredictCalibration& p : s.calibrations) {
    if (calibration && p.label == s.attributes[r.label].name) cal = &p;
  }
  r.k = o.k.value_or(cal ? cal->k : 10);
  if (r.k < 1 || r.k > kMaxVoters) {
    return Status::InvalidArgument(fmt::format("k = {} is outside 1..{}", r.k, kMaxVoters));
  }
  r.dims = !o.cascade.empty() ? o.cascade : cal ? cal->cascade : s.granularities;
  for (size_t i = 0; i < r.dims.size(); ++i) {
    if (!c.ladder_.IsGranularity(r.dims[i])) {
      return Status::InvalidArgument(fmt::format(
          "cascade step {} at {} dims: not a granularity of '{}' (ladder {})", i + 1, r.dims[i],
          s.name, fmt::join(s.granularities, ", ")));
    }
    if (i > 0 && r.dims[i] <= r.dims[i - 1]) {
      return Status::InvalidArgument(fmt::format(
          "cascade step {} at {} dims does not increase on step {} at {} dims", i + 1, r.dims[i],
          i, r.dims[i - 1]));
    }
  }
  if (r.dims.empty()) return Status::InvalidArgument("a cascade needs at least one granularity");
  r.confidence = o.confidence.value_or(cal ? cal->confidence : 0.9);
  if (!(r.confidence >= 0 && r.confidence <= 1)) {
    return Status::InvalidArgument(fmt::format("confidence {} is outside 0..1", r.confidence));
  }
  r.vote = o.vote.value_or(cal ? cal->vote : VoteRule::kUniform);
  const uint32_t derived = std::max({10 * r.k, 100u, AnalyzedKeep(s.analysis, r.dims[0], 10)});
  r.shortlist = o.shortlist.value_or(cal ? cal->shortlist : std::min(derived, kMaxShortlist));
  if (r.shortlist < r.k || r.shortlist > kMaxShortlist) {
    return Status::InvalidArgument(fmt::format("shortlist {} is outside k = {}..{}", r.shortlist,
                                               r.k, kMaxShortlist));
  }
  r.calibrated = cal != nullptr;
  return r;
}

Result<std::shared_ptr<const MatryoshkaAnalysis::FilterMatch>> MatryoshkaAnalysis::Voters(
    const Collection& c, int label, const std::optional<Filter>& filter) {
  std::optional<Filter> f = filter;
  if (label >= 0) {
    Filter labelled = Filter::IsNotNull(c.spec().attributes[label].name);
    f = filter ? Filter::And({*filter, labelled}) : labelled;
  }
  MRLDB_ASSIGN_OR_RETURN(auto m, c.MatchFilter(f));
  if (m && !filter && m->rows.size() == c.live_rows_) m.reset();
  return m;
}

std::vector<uint64_t> MatryoshkaAnalysis::VoterRows(const Collection& c, const FilterMatch* voters) {
  if (voters) return voters->rows;
  std::vector<uint64_t> rows;
  for (uint64_t row = 0; row < c.next_row_; ++row) {
    if (c.live_[row]) rows.push_back(row);
  }
  return rows;
}

LevelVote MatryoshkaAnalysis::Vote(const Collection& c, int label, VoteRule rule,
                                   const Candidate* top, size_t n) {
  LevelVote v;
  if (n == 0 || label < 0) return v;
  const std::vector<Value>& labels = c.attrs_[label];
  const double d1 = top[0].distance, dk = top[n - 1].distance;
  // Labels in order of their nearest voter: a tie goes to the label whose voter is nearest.
  std::vector<std::pair<const Value*, double>> tally;
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    const double w = rule == VoteRule::kUniform || dk <= d1 ? 1.0 : (dk - top[i].distance) / (dk - d1);
    const Value* l = &labels[top[i].row];
    auto it = std::find_if(tally.begin(), tally.end(), [&](const auto& t) { return *t.first == *l; });
    if (it == tally.end()) {
      tally.push_back({l, w});
    } else {
      it->second += w;
    }
    total += w;
  }
  const auto best = std::max_element(tally.begin(), tally.end(), [](const auto& a, const auto& b) {
    return a.second < b.second;  // the first of equal maxima wins
  });
  v.label = *best->first;
  v.confidence = total > 0 ? best->second / total : 0;
  return v;
}

Status MatryoshkaAnalysis::Run(const Collection& c, const float* q, const Cascade& cascade,
                               const FilterMatch* voters, uint64_t exclude, bool parallel,
                               bool all_levels, bool keep_neighbours, CascadeRun* out) {
  const CollectionSpec& s = c.spec();
  *out = CascadeRun{};
  Collection::ResolvedPlan first;
  first.stages = {{cascade.dims[0], cascade.shortlist + (exclude != kNoRow ? 1u : 0u)}};
  first.hnsw = cascade.dims[0] == s.index_dim;
  StageRecorder none(nullptr);
  CandidateLists lists;
  MRLDB_RETURN_IF_ERROR(c.FirstStage(q, first, voters, parallel, none, &lists.cands));
  std::erase_if(lists.cands, [&](const Candidate& x) { return x.row == exclude; });
  if (lists.cands.size() > cascade.shortlist) lists.cands.resize(cascade.shortlist);
  out->graph = c.GraphFirst(first, voters);
  lists.acc.assign(lists.cands.size(), 0.0);
  lists.offsets = {0, uint32_t(lists.cands.size())};
  // A scan's candidates are exact at the first granularity already; the graph's distances
  // only chose them, so the graph's are re-ranked from dims 0.
  uint32_t done = 0;
  if (!out->graph) {
    MRLDB_RETURN_IF_ERROR(c.PrefixScores(q, cascade.dims[0], &lists));
    done = cascade.dims[0];
  }
  CpuReranker reranker(c.cache_, s.metric, c.Storage());
  double q_sq = 0;
  uint32_t q_dims = 0;
  for (size_t li = 0; li < cascade.dims.size(); ++li) {
    const uint32_t g = cascade.dims[li];
    for (; q_dims < g; ++q_dims) q_sq += double{q[q_dims]} * q[q_dims];
    if (done < g && !lists.cands.empty()) {
      RerankArgs args;
      args.queries = q;
      args.query_stride = s.dim;
      args.q_sq = &q_sq;
      args.done = done;
      args.dims = g;
      args.keep = uint32_t(lists.cands.size());
      RerankSplit split;
      MRLDB_RETURN_IF_ERROR(reranker.Rerank(args, &lists, &split));  // fails only reading storage
    }
    done = g;
    const size_t n = std::min<size_t>(cascade.k, lists.cands.size());
    out->votes.push_back(Vote(c, cascade.label, cascade.vote, lists.cands.data(), n));
    if (keep_neighbours) {
      std::vector<uint64_t>& rows = out->neighbours.emplace_back();
      for (size_t i = 0; i < n; ++i) rows.push_back(lists.cands[i].row);
    }
    const bool last = li + 1 == cascade.dims.size();
    const bool sure = cascade.confidence < 1 && out->votes.back().confidence >= cascade.confidence;
    if (!all_levels && (last || sure || n == 0)) {
      out->decided = li;
      return Status::Ok();
    }
  }
  // With all_levels the decision is the first sure granularity, else the last.
  out->decided = cascade.dims.size() - 1;
  for (size_t li = 0; li + 1 < out->votes.size(); ++li) {
    const bool nobody = std::holds_alternative<std::monostate>(out->votes[li].label);
    if (nobody || (cascade.confidence < 1 && out->votes[li].confidence >= cascade.confidence)) {
      out->decided = li;
      break;
    }
  }
  return Status::Ok();
}

Result<LevelVote> MatryoshkaAnalysis::FullVote(const Collection& c, const float* q,
                                               const Cascade& cascade, const FilterMatch* voters,
                                               uint64_t exclude) {
  const uint32_t extra = exclude != kNoRow ? 1 : 0;
  MRLDB_ASSIGN_OR_RETURN(std::vector<Candidate> top,
      c.ScanTopK(q, c.spec().dim, cascade.k + extra, voters ? &voters->rows : nullptr, false, nullptr, nullptr));
  std::erase_if(top, [&](const Candidate& x) { return x.row == exclude; });
  if (top.size() > cascade.k) top.resize(cascade.k);
  return Vote(c, cascade.label, cascade.vote, top.data(), top.size());
}

std::vector<uint64_t> MatryoshkaAnalysis::SampleRows(const std::vector<uint64_t>& rows, size_t n) {
  if (rows.size() <= n) return rows;
  std::vector<uint64_t> picked = rows;
  std::mt19937_64 rng(0x70726564);  // reproducible
  for (size_t i = 0; i < n; ++i) {
    std::swap(picked[i], picked[i + rng() % (picked.size() - i)]);
  }
  picked.resize(n);
  std::sort(picked.begin(), picked.end());
  return picked;
}

// ---- Predict, PredictBatch ----

namespace {

Prediction MakePrediction(const CascadeRun& run,
                          const Cascade& cascade, const RowKeys& keys, bool neighbours) {
  Prediction p;
  p.label = run.votes[run.decided].label;
  p.confidence = run.votes[run.decided].confidence;
  p.dims = cascade.dims[run.decided];
  if (neighbours) {
    for (uint64_t row : run.neighbours[run.decided]) p.neighbours.push_back(keys.Get(row));
  }
  return p;
}

void FillStats(const Cascade& cascade, uint64_t voters, bool graph, PredictStats* stats) {
  *stats = PredictStats{};
  stats->cascade = cascade.dims;
  stats->stopped.assign(cascade.dims.size(), 0);
  stats->k = cascade.k;
  stats->shortlist = cascade.shortlist;
  stats->confidence = cascade.confidence;
  stats->vote = cascade.vote;
  stats->calibrated = cascade.calibrated;
  stats->first_stage = graph ? "hnsw" : "scan";
  stats->voters = voters;
}

}  // namespace

Result<Prediction> Collection::Predict(std::span<const float> query, const PredictOptions& options,
                                       PredictStats* stats) const {
  MRLDB_RETURN_IF_ERROR(WaitForRows());  // names its neighbours by id
  std::shared_lock lock(mu_);
  MRLDB_ASSIGN_OR_RETURN(Cascade cascade, MatryoshkaAnalysis::Resolve(*this, options, true));
  if (query.size() != spec().dim) {
    return Status::InvalidArgument(fmt::format("query has {} dimensions; collection '{}' expects {}",
                                               query.size(), spec().name, spec().dim));
  }
  MRLDB_RETURN_IF_ERROR(CheckQuery(query, cascade.dims[0]));
  MRLDB_ASSIGN_OR_RETURN(auto voters, MatryoshkaAnalysis::Voters(*this, cascade.label, options.filter));
  CascadeRun run;
  MRLDB_RETURN_IF_ERROR(MatryoshkaAnalysis::Run(*this, query.data(), cascade, voters.get(),
                                                MatryoshkaAnalysis::kNoRow, /*parallel=*/true,
                                                false, options.neighbours, &run));
  if (stats) {
    FillStats(cascade, voters ? voters->rows.size() : live_rows_, run.graph, stats);
    stats->stopped[run.decided] = 1;
    stats->queries = 1;
    stats->mean_dims = cascade.dims[run.decided];
  }
  return MakePrediction(run, cascade, keys_, options.neighbours);
}

Result<std::vector<Prediction>> Collection::PredictBatch(std::span<const float> queries, size_t n,
                                                         const PredictOptions& options,
                                                         PredictStats* stats) const {
  MRLDB_RETURN_IF_ERROR(WaitForRows());  // names its neighbours by id
  std::shared_lock lock(mu_);
  MRLDB_ASSIGN_OR_RETURN(Cascade cascade, MatryoshkaAnalysis::Resolve(*this, options, true));
  const uint32_t dim = spec().dim;
  if (queries.size() != n * size_t{dim}) {
    return Status::InvalidArgument(fmt::format(
        "query matrix has {} values, not {} queries x {} dimensions", queries.size(), n, dim));
  }
  for (size_t i = 0; i < n; ++i) {
    Status st = CheckQuery(queries.subspan(i * dim, dim), cascade.dims[0]);
    if (!st.ok()) return Status::InvalidArgument(fmt::format("query {}: {}", i + 1, st.message()));
  }
  MRLDB_ASSIGN_OR_RETURN(auto voters, MatryoshkaAnalysis::Voters(*this, cascade.label, options.filter));
  std::vector<Prediction> out(n);
  std::vector<uint32_t> decided(n, 0);
  std::atomic<size_t> done{0};
  std::atomic<bool> graph{false};
  std::mutex error_mu;
  Status error;  // the first query's that failed (a storage read)
  pool_->ParallelFor(n, [&](size_t i) {
    if (options.cancel && options.cancel->load(std::memory_order_relaxed)) return;
    CascadeRun run;
    Status st = MatryoshkaAnalysis::Run(*this, queries.data() + i * dim, cascade, voters.get(),
                                        MatryoshkaAnalysis::kNoRow, false, false,
                                        options.neighbours, &run);
    if (!st.ok()) {
      std::lock_guard l(error_mu);
      if (error.ok()) error = st;
      return;
    }
    if (run.graph) graph.store(true, std::memory_order_relaxed);
    decided[i] = uint32_t(run.decided);
    out[i] = MakePrediction(run, cascade, keys_, options.neighbours);
    done.fetch_add(1, std::memory_order_relaxed);
  });
  MRLDB_RETURN_IF_ERROR(error);
  if (done.load() < n) {
    return Status::Cancelled(fmt::format("PREDICT cancelled after {} of {} queries", done.load(), n));
  }
  if (stats) {
    FillStats(cascade, voters ? voters->rows.size() : live_rows_, graph.load(), stats);
    double dims = 0;
    for (uint32_t d : decided) ++stats->stopped[d], dims += cascade.dims[d];
    stats->queries = n;
    stats->mean_dims = n ? dims / n : 0;
  }
  return out;
}

}  // namespace mrldb
