#include "bench/search_options.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "mrldb/options.h"

namespace mrldb::bench {

namespace {

bool ParsePositive(const std::string& s, size_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out > 0;
}

constexpr char kData[] = "data (default: --synthetic 1000000, several GB of memory at 768 dims)";

bool ParseDouble(const std::string& s, double* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(*out);
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  for (size_t p = 0; p <= s.size();) {
    const size_t e = std::min(s.find(',', p), s.size());
    out.push_back(s.substr(p, e - p));
    p = e + 1;
  }
  return out;
}

}  // namespace

std::string SyntheticName(const SyntheticOptions& o) {
  const SyntheticOptions d;
  const bool flat = o.mode == SyntheticOptions::Mode::kFlat;
  std::vector<std::string> parts;
  if (!flat && o.decay != d.decay) parts.push_back(fmt::format("decay {:g}", o.decay));
  if (o.clusters != d.clusters || !parts.empty() || flat) {
    parts.push_back(fmt::format("{} clusters", o.clusters));
  }
  std::string name = flat ? "synthetic flat" : "synthetic Matryoshka";
  if (parts.empty()) return name;
  name += " (" + parts[0];
  for (size_t i = 1; i < parts.size(); ++i) name += ", " + parts[i];
  return name + ")";
}

CLI::App* AddSearchOptions(CLI::App* parent, SearchArgs* a) {
  CLI::App* app = parent->add_subcommand(
      "search", "recall against QPS: mrldb's funnel, hnswlib, FAISS and exact search on the same data");
  app->footer("Output: --csv, --json, --plot and --plot-script write the same results.");
  const auto positive = cli::Integer(1);
  const auto number = [&](const char* name, size_t* out, const char* help, const char* group) {
    app->add_option(name, *out, help)->check(positive)->group(group);
  };
  const auto text = [&](const char* name, std::string* out, const char* type, const char* help,
                        const char* group) {
    app->add_option(name, *out, help)->type_name(type)->group(group);
  };
  number("--synthetic", &a->synthetic, "N synthetic Matryoshka rows (SyntheticGenerator, seed 42)", kData);
  app->add_flag_callback("--quick", [a] { a->synthetic = 100000; }, "--synthetic 100000")->group(kData);
  number("--dim", &a->dim, "dimension of the synthetic rows (default 768)", kData);
  text("--decay", &a->decay, "X", "synthetic: per-dimension scale (1 + d/8)^-X (default 1; smaller: a "
       "slower decaying spectrum, so prefixes carry less of the neighbourhoods)", kData);
  number("--clusters", &a->clusters, "synthetic: rows drawn around C cluster centers (default 64; more "
         "clusters of fewer rows: neighbourhoods a short prefix tells apart less well)", kData);
  app->add_flag("--flat", a->flat, "synthetic: every dimension of the same scale (no Matryoshka decay "
                "at all)")->group(kData);
  text("--data", &a->data, "FILE", "base vectors: .npy (float32 or float16, C order, 2-D), .fvecs, or "
       "the embedding column of a .csv or .jsonl file (query/formats/formats.h)", kData);
  text("--queries", &a->queries, "FILE", "queries (same formats); default: SyntheticGenerator::Queries "
       "(an independent stream of the same distribution, never a stored row), or the last --nq rows "
       "of --data, held out of the base set", kData);
  number("--nq", &a->nq, "number of queries (default 1000)", kData);
  constexpr char kSearch[] = "search";
  number("--k", &a->k, "neighbours, recall@K (default 10)", kSearch);
  text("--metric", &a->metric, "M", "cosine | ip | l2 (default cosine)", kSearch);
  number("--index-dim", &a->index_dim, "prefix of mrldb's graph and of FAISS's HNSW (default 64; on "
         "the ladder)", kSearch);
  number("--ef-construction", &a->ef_construction, "HNSW ef_construction of every system's graph "
         "(default 200; smaller builds faster, e.g. for open-time runs)", kSearch);
  text("--sweep", &a->sweep, "LIST", "ef = keep0 values (default 20,40,80,160,320,640; values below k "
       "become k)", kSearch);
  number("--threads", &a->threads, "threads of the all-thread QPS (default: all cores)", kSearch);
  number("--build-threads", &a->build_threads, "threads for the builds, the ground truth and data "
         "preparation (default: --threads): a run may build on all cores and report QPS on two",
         kSearch);
  text("--systems", &a->systems, "LIST", "of mrldb,hnswlib,faiss,exact (default: all)", kSearch);
  text("--graph-codes", &a->graph_codes, "C", "int8 | float32: what mrldb's graph stores (default "
       "int8)", kSearch);
  text("--gt", &a->gt, "mrldb|own", "ground truth (default: mrldb's exact search when its database "
       "is built)", kSearch);
  text("--target", &a->targets, "LIST", "recall targets of the summary (default 0.95; e.g. "
       "0.95,0.99)", kSearch);
  text("--memory-budget", &a->memory_budget, "S", "mrldb's DatabaseOptions::memory_budget_bytes (K, "
       "M, G, T) for the whole run; reports the open-to-first-query time and storage reads per "
       "query", kSearch);
  app->add_flag("--breakdown", a->breakdown, "where one query's time goes at the first sweep point "
                "(mrldb, one thread): the whole Search call, then stage 0, the re-rank stages and the "
                "rest from SearchStats")->group(kSearch);
  constexpr char kOutput[] = "output";
  text("--csv", &a->csv, "FILE", "results as CSV", kOutput);
  text("--json", &a->json, "FILE", "results as JSON", kOutput);
  text("--plot", &a->plot, "FILE.png", "recall-QPS plot (gnuplot)", kOutput);
  text("--plot-script", &a->plot_script, "FILE.gp", "the gnuplot script of --plot", kOutput);
  text("--dir", &a->dir, "DIR", "mrldb database directory (default: a temporary one, removed at "
       "the end)", kOutput);
  return app;
}

Status FinishSearchArgs(const CLI::App& app, SearchArgs* a) {
  const size_t clusters = a->clusters;
  const std::string& decay = a->decay;
  const bool flat = a->flat;
  auto given = [&](const char* o) { return app.count(o) > 0; };
  for (const char* o : {"--synthetic", "--quick", "--dim", "--decay", "--clusters", "--flat"}) {
    if (given("--data") && given(o)) {
      return Status::InvalidArgument(fmt::format("--data cannot be combined with {}", o));
    }
  }
  if (!given("--data") && given("--queries")) {
    return Status::InvalidArgument("--queries needs --data (synthetic runs draw their queries)");
  }
  if (a->dim > 65536 || a->k > 100000 || a->threads > 4096 || a->build_threads > 4096) {
    return Status::InvalidArgument(
        "--dim is at most 65536, --k 100000, --threads and --build-threads 4096");
  }
  if (a->ef_construction < 1 || a->ef_construction > 4096) {
    return Status::InvalidArgument("--ef-construction is in 1..4096");
  }
  SyntheticOptions& so = a->synthetic_options;
  so.dim = static_cast<uint32_t>(a->dim);
  if (clusters > 10000000) return Status::InvalidArgument("--clusters is at most 10000000");
  so.clusters = static_cast<uint32_t>(clusters);
  if (flat && given("--decay")) {
    return Status::InvalidArgument("--flat has no decay: give --flat or --decay, not both");
  }
  if (flat) so.mode = SyntheticOptions::Mode::kFlat;
  if (given("--decay") && (!ParseDouble(decay, &so.decay) || so.decay < 0 || so.decay > 16)) {
    return Status::InvalidArgument(fmt::format("--decay: '{}' is not a number in 0..16", decay));
  }
  auto metric = ParseMetric(a->metric);
  if (!metric.ok()) {
    return Status::InvalidArgument(fmt::format("--metric: {}", metric.status().message()));
  }
  a->metric_value = *metric;
  if (a->graph_codes != "int8" && a->graph_codes != "float32") {
    return Status::InvalidArgument(fmt::format("--graph-codes: '{}' is not int8 or float32", a->graph_codes));
  }
  for (const std::string& s : Split(a->sweep)) {
    size_t v = 0;
    if (!ParsePositive(s, &v) || v > 100000) {
      return Status::InvalidArgument(fmt::format("--sweep: '{}' is not in 1..100000", s));
    }
    a->sweep_values.push_back(static_cast<uint32_t>(std::max(v, a->k)));  // a funnel keeps >= k
  }
  std::sort(a->sweep_values.begin(), a->sweep_values.end());
  a->sweep_values.erase(std::unique(a->sweep_values.begin(), a->sweep_values.end()),
                        a->sweep_values.end());
  for (const std::string& s : Split(a->targets)) {
    double t = 0;
    if (!ParseDouble(s, &t) || t <= 0 || t > 1) {
      return Status::InvalidArgument(fmt::format("--target: '{}' is not a recall in (0, 1]", s));
    }
    a->target_values.push_back(t);
  }
  std::sort(a->target_values.begin(), a->target_values.end());
  a->target_values.erase(std::unique(a->target_values.begin(), a->target_values.end()),
                         a->target_values.end());
  for (const std::string& s : Split(a->systems)) {
    bool* flag = s == "mrldb" ? &a->mrldb : s == "hnswlib" ? &a->hnswlib
               : s == "faiss" ? &a->faiss : s == "exact" ? &a->exact : nullptr;
    if (!flag) {
      return Status::InvalidArgument(fmt::format(
          "--systems: unknown system '{}' (mrldb, hnswlib, faiss, exact)", s));
    }
    *flag = true;
  }
  if (a->breakdown && !a->mrldb) {
    return Status::InvalidArgument("--breakdown measures mrldb's funnel: --systems needs mrldb");
  }
  if (given("--memory-budget")) {
    auto budget = ParseMemoryBudget(a->memory_budget);
    if (!budget.ok()) return Status::InvalidArgument(fmt::format("--memory-budget: {}", budget.status().message()));
    a->memory_budget_bytes = *budget;
  }
  if (!a->gt.empty() && a->gt != "mrldb" && a->gt != "own") {
    return Status::InvalidArgument("--gt: need 'mrldb' or 'own'");
  }
  return Status::Ok();
}

}  // namespace mrldb::bench
