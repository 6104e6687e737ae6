#include "bench/search_report.h"

#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

extern char** environ;

namespace mrldb::bench {
namespace {

constexpr const char* kOrder[] = {"mrldb", "mrldb-default", "hnswlib", "faiss", "exact-mrldb",
                                  "exact-own"};

int Rank(const std::string& system) {
  for (int i = 0; i < static_cast<int>(std::size(kOrder)); ++i) {
    if (system == kOrder[i]) return i;
  }
  return static_cast<int>(std::size(kOrder));
}

std::vector<std::string> Systems(const SearchRun& run) {
  std::vector<std::string> out;
  for (const SearchRow& r : run.results) {
    if (std::find(out.begin(), out.end(), r.system) == out.end()) out.push_back(r.system);
  }
  return out;
}

// A system's QPS at recall `target`: log-QPS interpolated linearly in recall between the last
// sweep point below the target and the first at or above it (that point itself if it is the
// first of the sweep).
struct AtTarget {
  bool reached = false;
  double qps1 = 0, qpsn = 0;
  std::string how;
};

AtTarget QpsAtTarget(const SearchRun& run, const std::string& system, double target) {
  std::vector<const SearchRow*> s;
  for (const SearchRow& r : run.results) {
    if (r.system == system && r.sweep) s.push_back(&r);
  }
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i]->recall1 < target) continue;
    if (i == 0) {
      return {true, s[0]->one.qps, s[0]->all.qps,
              fmt::format("first sweep point (sweep {}) already at {:.4f}", s[0]->sweep,
                          s[0]->recall1)};
    }
    const SearchRow &lo = *s[i - 1], &hi = *s[i];
    const double f = (target - lo.recall1) / (hi.recall1 - lo.recall1);
    auto lerp = [f](double a, double c) { return std::exp(std::log(a) + f * std::log(c / a)); };
    return {true, lerp(lo.one.qps, hi.one.qps), lerp(lo.all.qps, hi.all.qps),
            fmt::format("interpolated between sweep {} ({:.4f}) and {} ({:.4f})", lo.sweep,
                        lo.recall1, hi.sweep, hi.recall1)};
  }
  return {false, 0, 0, "not reached"};
}

std::string Json(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", int{c});
    else out += c;
  }
  return out + "\"";
}

Status WriteFile(const std::string& path, const std::string& text) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "w"), &std::fclose);
  if (!f || std::fputs(text.c_str(), f.get()) < 0) {
    return Status::IOError(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
  }
  return Status::Ok();
}

std::string Csv(const SearchRun& run) {
  std::string out =
      "system,params,sweep,recall,qps_1thread,qps_all_threads,threads,queries_1thread,"
      "queries_all_threads,build_s,ingest_vectors_per_s,index_mib,total_mib,rss_delta_mib,"
      "recall_all_threads\n";
  for (const SearchRow& r : run.results) {
    std::string params = r.params;
    std::replace(params.begin(), params.end(), ',', ';');
    out += fmt::format("{},{},{},{:.5f},{:.2f},{:.2f},{},{},{},{:.3f},{:.0f},{:.2f},{:.2f},{:.1f},"
                       "{:.5f}\n", r.system, params, r.sweep, r.recall1, r.one.qps, r.all.qps,
                       run.threads, r.one.done, r.all.done, r.build_s,
                       r.ingest_s > 0 ? run.rows / r.ingest_s : 0, r.index_mib, r.total_mib,
                       r.rss_mib, r.recalln);
  }
  return out;
}

// Runs gnuplot (no shell) on the CSV: gnuplot -e "csv='..'; out='..'; ..." SCRIPT.
Status Plot(const SearchRun& run, const ReportFiles& files, const std::string& csv) {
  auto quote = [](const std::string& s) {  // a gnuplot single-quoted string
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  };
  std::string systems;
  for (const std::string& s : Systems(run)) systems += (systems.empty() ? "" : " ") + s;
  std::vector<std::string> args = {
      "gnuplot", "-e",
      fmt::format("csv={}; out={}; systems={}; plot_title={}", quote(csv), quote(files.plot),
                  quote(systems), quote(fmt::format("recall@{} vs QPS: {}", run.k, run.data))),
      files.plot_script};
  std::vector<char*> argv;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int err = posix_spawnp(&pid, "gnuplot", nullptr, nullptr, argv.data(), environ)) {
    return Status::IOError(fmt::format("cannot run gnuplot: {} (apt-get install gnuplot-nox)",
                                       std::strerror(err)));
  }
  int ws = 0;
  if (waitpid(pid, &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
    return Status::Internal(
        fmt::format("gnuplot failed on {} (script {})", csv, files.plot_script));
  }
  return Status::Ok();
}

// Each system's best point reaching `target` and the QPS at it, printed; returns the JSON
// members "best" and "qps" for it.
std::string AtTargetReport(const SearchRun& run, const std::vector<std::string>& systems,
                           double target) {
  std::string json = "\"best\": {";
  fmt::print("\nhighest 1-thread QPS with recall@{} >= {}:\n", run.k, target);
  std::string sep = "\n";
  for (const std::string& s : systems) {
    const SearchRow* best = nullptr;
    for (const SearchRow& r : run.results) {
      if (r.system == s && r.recall1 >= target && (!best || r.one.qps > best->one.qps)) best = &r;
    }
    if (!best) {
      fmt::print("  {:<13} none reaches it\n", s);
      continue;
    }
    fmt::print("  {:<13} {:<34} recall {:.4f} {:>10.1f} QPS 1 thr {:>10.1f} QPS {} thr\n", s,
               best->params, best->recall1, best->one.qps, best->all.qps, run.threads);
    json += fmt::format("{}      {}: {{\"params\": {}, \"recall\": {:.5f}, \"qps_1thread\": {:.2f}, "
                        "\"qps_all_threads\": {:.2f}}}", sep, Json(s), Json(best->params),
                        best->recall1, best->one.qps, best->all.qps);
    sep = ",\n";
  }
  json += "\n    }, \"qps\": {";
  fmt::print("\nQPS at recall@{} = {} (log-QPS interpolated between the sweep points around it):\n",
             run.k, target);
  const AtTarget m = QpsAtTarget(run, "mrldb", target);
  sep = "\n";
  for (const char* s : {"mrldb", "hnswlib", "faiss"}) {
    if (std::find(systems.begin(), systems.end(), s) == systems.end()) continue;
    const AtTarget t = QpsAtTarget(run, s, target);
    fmt::print("  {:<8} {:>10.1f} QPS 1 thr {:>10.1f} QPS {} thr  ({})\n", s, t.qps1, t.qpsn,
               run.threads, t.how);
    json += fmt::format("{}      \"{}\": {{\"reached\": {}, \"qps_1thread\": {:.2f}, "
                        "\"qps_all_threads\": {:.2f}, \"how\": {}}}", sep, s, t.reached, t.qps1,
                        t.qpsn, Json(t.how));
    sep = ",\n";
    if (s != std::string("mrldb") && m.reached && t.reached) {
      fmt::print("  mrldb / {}: {:.2f}x (1 thr), {:.2f}x ({} thr)\n", s, m.qps1 / t.qps1,
                 m.qpsn / t.qpsn, run.threads);
      json += fmt::format(",\n      \"mrldb_over_{}\": {{\"qps_1thread\": {:.3f}, "
                          "\"qps_all_threads\": {:.3f}}}", s, m.qps1 / t.qps1, m.qpsn / t.qpsn);
    }
  }
  return json + "\n    }";
}

// The breakdown, printed; returns its JSON object.
std::string BreakdownReport(const QueryBreakdown& b) {
  fmt::print("\nwhere one query's time goes, mrldb {} (1 thread, mean of {} Search calls each):\n"
             "  whole Search call               {:>9.2f} us\n"
             "  with SearchStats                {:>9.2f} us\n"
             "    stage 0 ({:<4})                {:>9.2f} us\n"
             "    re-rank stages                {:>9.2f} us\n"
             "    rest (plan, result assembly)  {:>9.2f} us\n",
             b.params, b.queries, b.whole_us, b.whole_stats_us, b.stage0_method, b.stage0_us,
             b.rerank_us, b.rest_us);
  return fmt::format("{{\"params\": {}, \"queries\": {}, \"whole_us\": {:.3f}, "
                     "\"whole_with_stats_us\": {:.3f}, \"stage0_method\": {}, \"stage0_us\": {:.3f}, "
                     "\"rerank_us\": {:.3f}, \"rest_us\": {:.3f}}}", Json(b.params), b.queries,
                     b.whole_us, b.whole_stats_us, Json(b.stage0_method), b.stage0_us,
                     b.rerank_us, b.rest_us);
}

}  // namespace

Status Report(SearchRun* run, const ReportFiles& files, const std::vector<double>& targets) {
  std::stable_sort(run->results.begin(), run->results.end(), [](const auto& a, const auto& b) {
    return Rank(a.system) < Rank(b.system);
  });
  const std::vector<std::string> systems = Systems(*run);
  const std::string all = fmt::format("QPS {} thr", run->threads);
  fmt::print("\n{:<13} {:<34} {:>9} {:>10} {:>10} {:>8} {:>10} {:>9} {:>9} {:>8}\n", "system",
             "params", fmt::format("recall@{}", run->k), "QPS 1 thr", all, "build s",
             "ingest v/s", "index MiB", "total MiB", "RSS+ MiB");
  for (const SearchRow& r : run->results) {
    fmt::print("{:<13} {:<34} {:>9.4f} {:>10.1f} {:>10.1f} {:>8.2f} {:>10.0f} {:>9.1f} {:>9.1f} "
               "{:>8.1f}\n", r.system, r.params, r.recall1, r.one.qps, r.all.qps, r.build_s,
               r.ingest_s > 0 ? run->rows / r.ingest_s : 0, r.index_mib, r.total_mib, r.rss_mib);
  }
  for (const SearchRow& r : run->results) {
    if (r.one.done < run->queries || r.all.done < run->queries) {
      fmt::print("  {}: time-limited: {} queries on 1 thread, {} on {} threads\n", r.system,
                 r.one.done, r.all.done, run->threads);
    }
  }
  std::string json = fmt::format(
      "{{\n  \"benchmark\": \"search\",\n  \"command\": {},\n  \"data\": {},\n  \"rows\": {}, "
      "\"dim\": {}, \"queries\": {}, \"queries_equal_to_stored_rows\": {}, \"k\": {}, "
      "\"metric\": \"{}\", \"index_dim\": {}, \"threads\": {}, \"build_threads\": {},\n  "
      "\"ground_truth\": \"{}\", "
      "\"target_recalls\": [{}],\n  \"results\": [",
      Json(run->command), Json(run->data), run->rows, run->dim, run->queries,
      run->queries_stored, run->k, run->metric, run->index_dim, run->threads, run->build_threads,
      run->ground_truth,
      fmt::join(targets, ", "));
  std::string sep = "\n";
  for (const SearchRow& r : run->results) {
    json += fmt::format(
        "{}    {{\"system\": {}, \"params\": {}, \"sweep\": {}, \"recall\": {:.5f}, "
        "\"recall_all_threads\": {:.5f}, \"qps_1thread\": {:.2f}, \"qps_all_threads\": {:.2f}, "
        "\"queries_1thread\": {}, \"queries_all_threads\": {}, \"build_s\": {:.3f}, "
        "\"ingest_s\": {:.3f}, \"index_mib\": {:.2f}, \"total_mib\": {:.2f}, "
        "\"rss_delta_mib\": {:.1f}}}",
        sep, Json(r.system), Json(r.params), r.sweep, r.recall1, r.recalln, r.one.qps, r.all.qps,
        r.one.done, r.all.done, r.build_s, r.ingest_s, r.index_mib, r.total_mib, r.rss_mib);
    sep = ",\n";
  }
  json += "\n  ],\n  \"at_targets\": [";
  for (size_t ti = 0; ti < targets.size(); ++ti) {
    json += fmt::format("{}\n    {{\"target_recall\": {}, ", ti ? "," : "", targets[ti]);
    json += AtTargetReport(*run, systems, targets[ti]);
    json += "}";
  }
  json += "\n  ]";
  if (run->breakdown) json += ",\n  \"breakdown\": " + BreakdownReport(*run->breakdown);
  json += "\n}\n";
  const std::string csv =
      !files.csv.empty() || files.plot.empty() ? files.csv : files.plot + ".csv";
  if (!csv.empty()) MRLDB_RETURN_IF_ERROR(WriteFile(csv, Csv(*run)));
  if (!files.json.empty()) MRLDB_RETURN_IF_ERROR(WriteFile(files.json, json));
  if (!files.plot.empty()) {
    MRLDB_RETURN_IF_ERROR(Plot(*run, files, csv));
    fmt::print("\nplot: {} (from {})\n", files.plot, csv);
  }
  return Status::Ok();
}

}  // namespace mrldb::bench
