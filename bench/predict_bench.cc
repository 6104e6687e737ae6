// mrldb-bench predict: adaptive k-NN classification (PREDICT's cascade) against exact k-NN at the
// full dimension and at every single granularity, on labelled synthetic sets
// (LabelledSyntheticGenerator, mrldb/synthetic.h): accuracy on unseen queries, mean dims used and
// batch throughput.
//
//   mrldb-bench predict [--rows N] [--dim D] [--nq Q] [--k K] [--variant matryoshka|flat|both]
//                       [--sample S] [--modes M] [--hard H] [--shared S] [--noise X] [--dir DIR]
// The set: 32 classes of M components; H classes in pairs sharing their first S dims; row noise
// X * u (u uniform in [0.5, 1.5)) per dimension scale (mrldb/synthetic.h).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bench/commands.h"
#include "mrldb/database.h"
#include "mrldb/synthetic.h"

namespace mrldb::bench {
namespace {

struct PredictArgs {
  size_t rows = 30000, nq = 1000;
  uint32_t dim = 512, k = 10, sample = 400;
  uint32_t modes = 2, hard = 8, shared = 32;
  double noise = 0.5;
  std::string variant = "both";
  std::string dir;
};

[[noreturn]] void Fail(const std::string& what, const Status& st) {
  fmt::print(stderr, "mrldb-bench predict: {}: {}\n", what, st.ToString());
  std::exit(1);
}

struct Measured {
  double accuracy = 0, dims = 0, ms = 0;  // ms per query, batch wall time / queries
};

Measured Run(Database& db, const PredictOptions& o, const std::vector<float>& qs,
             const std::vector<int64_t>& labels) {
  const size_t n = labels.size();
  PredictStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  auto p = db.PredictBatch("p", qs, n, o, &stats);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!p.ok()) Fail("PredictBatch", p.status());
  Measured m;
  for (size_t i = 0; i < n; ++i) m.accuracy += (*p)[i].label == Value{labels[i]};
  m.accuracy /= n;
  m.dims = stats.mean_dims;
  m.ms = s * 1e3 / n;
  return m;
}

void Variant(const PredictArgs& a, bool flat) {
  const std::string dir = (a.dir.empty() ? std::filesystem::temp_directory_path().string() : a.dir) +
                          "/mrldb_predict_bench_" + (flat ? "flat" : "mrl");
  std::filesystem::remove_all(dir);
  DatabaseOptions dbo;
  dbo.auto_tune = false;
  auto db = Database::Open(dir, dbo);
  if (!db.ok()) Fail("open", db.status());
  CollectionSpec spec;
  spec.name = "p";
  spec.dim = a.dim;
  spec.id_type = IdType::kBigint;
  spec.attributes = {{"label", AttrType::kInt}};
  if (Status st = (*db)->CreateCollection(spec); !st.ok()) Fail("create", st);
  LabelledSyntheticOptions lo;
  lo.dim = a.dim;
  lo.mode = flat ? SyntheticOptions::Mode::kFlat : SyntheticOptions::Mode::kMatryoshka;
  lo.modes = a.modes;
  lo.hard_classes = a.hard;
  lo.shared_dims = a.shared;
  lo.noise = a.noise;
  LabelledSyntheticGenerator gen(lo);
  std::vector<float> v;
  std::vector<int64_t> labels;
  for (size_t first = 0; first < a.rows; first += 10000) {
    const size_t n = std::min<size_t>(10000, a.rows - first);
    v.resize(n * a.dim);
    labels.resize(n);
    gen.Fill(first, n, v.data(), labels.data());
    InsertBatch b;
    for (size_t i = 0; i < n; ++i) {
      b.Add(Key{int64_t(first + i)}, std::span<const float>(v.data() + i * a.dim, a.dim),
            {Value{labels[i]}});
    }
    if (Status st = (*db)->Insert("p", b); !st.ok()) Fail("insert", st);
  }
  if (Status st = (*db)->WaitForIndexing({}); !st.ok()) Fail("index", st);
  std::vector<float> qs(a.nq * a.dim);
  std::vector<int64_t> ql(a.nq);
  gen.Queries(0, a.nq, qs.data(), ql.data());
  auto info = (*db)->DescribeCollection("p");
  const std::vector<uint32_t> ladder = info->spec.granularities;

  fmt::print("{} set: {} rows x {} dims, {} classes ({} in prefix-sharing pairs over {} dims), "
             "{} unseen queries, k = {}\n",
             flat ? "weak-prefix (flat)" : "Matryoshka-like", a.rows, a.dim, lo.classes,
             lo.hard_classes, lo.shared_dims, a.nq, a.k);
  fmt::print("  {:<52} {:>9} {:>10} {:>10} {:>8}\n", "method", "accuracy", "mean dims",
             "ms/query", "vs full");
  PredictOptions exact;
  exact.label = "label";
  exact.k = a.k;
  exact.confidence = 1;
  exact.shortlist = a.k;  // a scan at the one granularity keeping k: exact k-NN there
  exact.cascade = {a.dim};
  const Measured full = Run(**db, exact, qs, ql);
  auto row = [&](const std::string& name, const Measured& m) {
    fmt::print("  {:<52} {:>9.4f} {:>10.1f} {:>10.3f} {:>7.1f}x\n", name, m.accuracy, m.dims, m.ms,
               full.ms / m.ms);
  };
  row("exact k-NN at the full dimension", full);
  for (uint32_t g : ladder) {
    if (g == a.dim) continue;
    exact.cascade = {g};
    row(g == info->spec.index_dim ? fmt::format("k-NN at {} dims alone (HNSW graph)", g)
                                  : fmt::format("exact k-NN at {} dims alone", g),
        Run(**db, exact, qs, ql));
  }
  PredictOptions cascade;
  cascade.label = "label";
  cascade.k = a.k;
  for (VoteRule vote : {VoteRule::kUniform, VoteRule::kDistance}) {
    for (double c : {0.9, 0.95}) {
      cascade.vote = vote;
      cascade.confidence = c;
      row(fmt::format("cascade, confidence {}, vote {}", c, VoteRuleName(vote)),
          Run(**db, cascade, qs, ql));
    }
  }
  // From the index prefix on: stage 0 by the graph instead of a scan of the first granularity.
  cascade.vote = VoteRule::kUniform;
  cascade.confidence = 0.95;
  for (uint32_t g : ladder) {
    if (g >= info->spec.index_dim) cascade.cascade.push_back(g);
  }
  row(fmt::format("cascade ({}), confidence 0.95, uniform", fmt::join(cascade.cascade, ", ")),
      Run(**db, cascade, qs, ql));
  for (VoteRule vote : {VoteRule::kUniform, VoteRule::kDistance}) {
    TunePredictOptions t;
    t.label = "label";
    t.k = a.k;
    t.vote = vote;
    t.sample = a.sample;
    const auto t0 = std::chrono::steady_clock::now();
    auto cal = (*db)->TunePredict("p", t);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!cal.ok()) Fail("TUNE PREDICT", cal.status());
    PredictOptions tuned;
    tuned.label = "label";
    row(fmt::format("TUNE PREDICT ({}): confidence {:.3f}, shortlist {}", VoteRuleName(vote),
                    cal->confidence, cal->shortlist),
        Run(**db, tuned, qs, ql));
    fmt::print("    (tuned in {:.1f} s on {} rows; held back: accuracy {:.4f}, full {:.4f}, "
               "mean dims {:.1f})\n", s, cal->sample, cal->accuracy, cal->full_accuracy,
               cal->mean_dims);
  }
  db->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace

void AddPredictBench(CLI::App* app, Runner* run) {
  auto a = std::make_shared<PredictArgs>();
  CLI::App* predict = app->add_subcommand(
      "predict", "PREDICT's cascade against exact k-NN classification on labelled synthetic sets");
  predict->add_option("--rows", a->rows, "rows (default 30000)")->check(cli::Integer(1));
  predict->add_option("--dim", a->dim, "dimension (default 512)")->check(cli::Integer(1, 65536));
  predict->add_option("--nq", a->nq, "unseen queries (default 1000)")->check(cli::Integer(1));
  predict->add_option("--k", a->k, "neighbours that vote (default 10)")->check(cli::Integer(1, 100000));
  predict->add_option("--sample", a->sample, "rows of the calibration sample (default 400)")
      ->check(cli::Integer(1));
  predict->add_option("--variant", a->variant, "the sets: matryoshka, flat or both (default both)")
      ->type_name("matryoshka|flat|both")
      ->check(cli::OneOf({"matryoshka", "flat", "both"}));
  predict->add_option("--modes", a->modes, "components per class (default 2)")->check(cli::Integer(1));
  predict->add_option("--hard", a->hard, "classes in pairs sharing their first --shared dims "
                      "(default 8)")->check(cli::Integer(0));
  predict->add_option("--shared", a->shared, "dims the hard pairs share (default 32)")
      ->check(cli::Integer(0));
  predict->add_option("--noise", a->noise, "row noise scale (default 0.5)")->check(cli::Number(0, 1e6));
  predict->add_option("--dir", a->dir, "database directory (default: a temporary one)")->type_name("DIR");
  predict->callback([a, run] {
    *run = [a] {
      if (a->variant != "flat") Variant(*a, false);
      if (a->variant != "matryoshka") Variant(*a, true);
      return 0;
    };
  });
}

}  // namespace mrldb::bench
