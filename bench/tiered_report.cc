#include "bench/tiered_report.h"

#include <cmath>
#include <cstdio>
#include <optional>

#include <fmt/format.h>

namespace mrldb::bench {
namespace {

constexpr double kMiB = 1 << 20;

// The stage counters of a plan (measured at the first thread count) for every thread count.
const PlanPoint* WithStages(const SearchPhase& s, uint32_t sweep) {
  for (const PlanPoint& p : s.points) {
    if (p.sweep == sweep && !p.stages.empty()) return &p;
  }
  return nullptr;
}

// QPS at recall `target` over the --sweep funnels at `threads`: log-QPS interpolated linearly in
// recall between the last point below the target and the first at or above it.
std::optional<double> QpsAtTarget(const SearchPhase& s, unsigned threads, double target,
                                  std::string* how) {
  std::vector<const PlanPoint*> pts;
  for (const PlanPoint& p : s.points) {
    if (p.threads == threads && p.sweep) pts.push_back(&p);
  }
  for (size_t i = 0; i < pts.size(); ++i) {
    if (pts[i]->recall < target) continue;
    if (i == 0) {
      *how = fmt::format("first sweep point (keep {}) already at {:.4f}", pts[0]->sweep,
                         pts[0]->recall);
      return pts[0]->qps;
    }
    const PlanPoint &lo = *pts[i - 1], &hi = *pts[i];
    const double f = (target - lo.recall) / (hi.recall - lo.recall);
    *how = fmt::format("between keep {} ({:.4f}) and {} ({:.4f})", lo.sweep, lo.recall, hi.sweep,
                       hi.recall);
    return std::exp(std::log(lo.qps) + f * std::log(hi.qps / lo.qps));
  }
  *how = "not reached";
  return std::nullopt;
}

std::string Q(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

int Report(const TieredArgs& a, const TieredResult& r) {
  const SearchPhase& s = r.search;
  const double budget_mib = a.budget_bytes ? *a.budget_bytes / kMiB : 0;
  const DiskProbePoint best = r.probe.Best();
  fmt::print("\ntiered: {} x {} synthetic Matryoshka (seed {}), {}, k {}, {} queries; budget {}\n",
             a.rows, a.dim, a.seed, MetricName(a.metric_value), a.k, a.nq,
             a.memory_budget.empty() ? "none" : a.memory_budget);
  std::string json = "{\n  \"benchmark\": \"tiered\",\n";
  json += fmt::format("  \"command\": {},\n  \"rows\": {}, \"dim\": {}, \"nq\": {}, \"k\": {}, "
                      "\"metric\": \"{}\", \"seed\": {}, \"budget_bytes\": {}, \"build_threads\": "
                      "{}, \"reused\": {},\n", Q(r.command), a.rows, a.dim, a.nq, a.k,
                      MetricName(a.metric_value), a.seed,
                      a.budget_bytes ? std::to_string(*a.budget_bytes) : "null", r.build_threads,
                      r.reused);
  if (!r.reused) {
    const double durable = a.rows / std::max(r.ingest_insert_s, 1e-9);
    fmt::print("ingest ({} build threads; graph {}):\n  durable rate    {:.0f} rows/s in Insert "
               "(WAL on, no fsync per batch); {:.0f} rows/s wall with the generation\n  indexed "
               "        {:.1f} s after the first insert; background tuning {:.1f} s more; close "
               "{:.1f} s\n", r.build_threads, r.graph, durable, a.rows / r.ingest_wall_s,
               r.indexed_s, r.tuning_s, r.close_s);
    const MemoryUse& u = r.ingest_use;
    const DatabaseMemory& m = r.ingest_memory;
    fmt::print("  accounted after indexing: graph {:.1f} MiB ({:.1f} B/row), blocks {:.1f} MiB "
               "({} of {} resident), row state {:.1f} MiB ({:.1f} B/row), block cache {:.1f} of "
               "{:.1f} MiB, write buffers {:.1f} MiB (limit {:.1f}), table readers {:.1f} MiB; "
               "total {:.1f} MiB\n", u.graph_bytes / kMiB, double(u.graph_bytes) / a.rows,
               u.blocks_bytes / kMiB, u.resident_blocks, u.blocks, u.row_state_bytes / kMiB,
               double(u.row_state_bytes) / a.rows, m.cache_usage_bytes / kMiB,
               m.cache_capacity_bytes / kMiB, m.write_buffer_bytes / kMiB,
               m.write_buffer_limit_bytes / kMiB, m.table_reader_bytes / kMiB,
               m.TotalBytes() / kMiB);
    fmt::print("  RSS then {:.0f} MiB, {:.0f} MiB after malloc_trim(0) (free heap pages the "
               "allocator kept)\n", r.rss_before_trim_mib, r.rss_after_trim_mib);
    json += fmt::format(
        "  \"graph\": {},\n  \"ingest\": {{\"insert_s\": {:.3f}, \"wall_s\": {:.3f}, "
        "\"durable_rows_per_s\": {:.0f}, \"indexed_s\": {:.3f}, \"tuning_s\": {:.3f}, \"close_s\": "
        "{:.3f}, \"graph_bytes\": {}, \"blocks_bytes\": {}, \"resident_blocks\": {}, \"blocks\": "
        "{}, \"row_state_bytes\": {}, \"cache_usage_bytes\": {}, \"cache_capacity_bytes\": {}, "
        "\"write_buffer_bytes\": {}, \"table_reader_bytes\": {}, \"accounted_bytes\": {}, \"rss_before_trim_mib\": {:.1f}, "
        "\"rss_after_trim_mib\": {:.1f}}},\n",
        Q(r.graph), r.ingest_insert_s, r.ingest_wall_s, durable, r.indexed_s, r.tuning_s,
        r.close_s, u.graph_bytes, u.blocks_bytes, u.resident_blocks, u.blocks, u.row_state_bytes,
        m.cache_usage_bytes, m.cache_capacity_bytes, m.write_buffer_bytes, m.table_reader_bytes,
        m.TotalBytes(), r.rss_before_trim_mib, r.rss_after_trim_mib);
  } else {
    fmt::print("ingest: skipped (--reuse)\n");
  }
  const double peak = std::max(r.vm_hwm_mib, r.peak_sampled_mib);
  fmt::print("memory: peak RSS over the run {:.0f} MiB (VmHWM {:.0f}, sampled {:.0f}){}; by phase: "
             "ground truth {:.0f}, ingest + index {:.0f}, searches {:.0f}; at the start {:.0f}, before the database "
             "{:.0f}\n", peak, r.vm_hwm_mib, r.peak_sampled_mib,
             budget_mib ? fmt::format(" = {:.3f} x the budget (target <= 1.10)", peak / budget_mib)
                        : "", r.peak_truth_mib, r.peak_ingest_mib, r.peak_search_mib,
             r.start_rss_mib, r.base_rss_mib);
  json += fmt::format("  \"memory\": {{\"peak_rss_mib\": {:.1f}, \"vm_hwm_mib\": {:.1f}, "
                      "\"peak_sampled_mib\": {:.1f}, \"peak_over_budget\": {}, \"truth_peak_mib\": "
                      "{:.1f}, \"ingest_peak_mib\": {:.1f}, \"search_peak_mib\": {:.1f}, "
                      "\"start_rss_mib\": {:.1f}, \"base_rss_mib\": {:.1f}}},\n", peak, r.vm_hwm_mib, r.peak_sampled_mib,
                      budget_mib ? fmt::format("{:.4f}", peak / budget_mib) : "null",
                      r.peak_truth_mib, r.peak_ingest_mib, r.peak_search_mib, r.start_rss_mib,
                      r.base_rss_mib);
  fmt::print("disk: database {:.2f} GiB ({:.2f} GiB in {} SST files)\n", r.disk_bytes / 1073741824.0,
             r.sst_bytes / 1073741824.0, r.sst_files.size());
  fmt::print("ground truth: streaming exact scan at {} dims, {}; engine's exact search on {} "
             "queries agrees {:.4f}\n", a.dim,
             r.truth_cached ? "cached" : fmt::format("{:.1f} s", r.truth_s), r.truth_checked,
             r.truth_check_recall);
  json += fmt::format("  \"disk_bytes\": {}, \"sst_bytes\": {}, \"sst_files\": {},\n  \"truth\": "
                      "{{\"seconds\": {:.3f}, \"cached\": {}, \"checked_queries\": {}, "
                      "\"check_recall\": {:.4f}}},\n", r.disk_bytes, r.sst_bytes,
                      r.sst_files.size(), r.truth_s, r.truth_cached, r.truth_checked,
                      r.truth_check_recall);
  json += "  \"disk_probe\": {";
  if (!r.probe_error.empty()) {
    fmt::print("disk probe: {}\n", r.probe_error);
    json += fmt::format("\"error\": {}", Q(r.probe_error));
  } else if (!r.probe.points.empty()) {
    fmt::print("disk probe (O_DIRECT 4 KiB random preads over the SST files, {:.2f} GiB):",
               r.probe.bytes / 1073741824.0);
    json += fmt::format("\"bytes\": {}, \"files\": {}, \"points\": [", r.probe.bytes, r.probe.files);
    for (size_t i = 0; i < r.probe.points.size(); ++i) {
      const DiskProbePoint& p = r.probe.points[i];
      fmt::print(" depth {}: {:.0f}/s (p50 {:.0f} us, p99 {:.0f} us){}", p.threads, p.reads_per_s,
                 p.p50_us, p.p99_us, i + 1 < r.probe.points.size() ? ";" : "\n");
      json += fmt::format("{}{{\"depth\": {}, \"reads_per_s\": {:.0f}, \"p50_us\": {:.1f}, "
                          "\"p99_us\": {:.1f}}}", i ? ", " : "", p.threads, p.reads_per_s,
                          p.p50_us, p.p99_us);
    }
    json += "]";
  }
  json += "},\n  \"opens\": [";
  for (size_t i = 0; i < s.opens.size(); ++i) {
    json += fmt::format("{}{{\"threads\": {}, \"open_s\": {:.3f}, \"first_query_s\": {:.3f}, "
                        "\"loaded_s\": {:.3f}}}", i ? ", " : "", s.opens[i].threads,
                        s.opens[i].open_s, s.opens[i].first_query_s, s.opens[i].loaded_s);
  }
  json += fmt::format("],\n  \"plan_in_force\": {}, \"resident_blocks\": {}, \"blocks\": {},\n  "
                      "\"searches\": [", Q(s.plan_in_force), s.resident_blocks, s.blocks);
  fmt::print("searches (resident blocks {} of {}; T client threads, one Search at a time each; "
             "storage per query from SearchStats on {} other queries; ceiling = disk reads/s "
             "(best depth; depth T) / reads per query):\n", s.resident_blocks, s.blocks,
             a.stats_queries);
  fmt::print("  {:<44} {:>2} {:>8} {:>8} {:>8} {:>7} {:>7} {:>8} {:>9} {:>15} {:>15}\n", "plan",
             "T", "QPS", "p50 ms", "p99 ms", "recall", "reads/q", "KB/q", "hits/q",
             "ceil best/ratio", "ceil T/ratio");
  for (size_t i = 0; i < s.points.size(); ++i) {
    const PlanPoint& p = s.points[i];
    const PlanPoint* st = WithStages(s, p.sweep);
    const double reads = st ? st->Reads() : 0, bytes = st ? st->Bytes() : 0;
    const double at_t = r.probe.At(p.threads).reads_per_s;
    auto ceil = [&](double rate) -> std::string {
      if (!(reads > 0) || !(rate > 0)) return "-";
      return fmt::format("{:.0f}/{:.2f}", rate / reads, p.qps / (rate / reads));
    };
    fmt::print("  {:<44} {:>2} {:>8.0f} {:>8.3f} {:>8.3f} {:>7.4f} {:>7.1f} {:>8.1f} {:>9.1f} "
               "{:>15} {:>15}\n", p.plan, p.threads, p.qps, p.p50_ms, p.p99_ms, p.recall, reads,
               bytes / 1e3, st ? st->CacheHits() : 0, ceil(best.reads_per_s), ceil(at_t));
    json += fmt::format("{}\n    {{\"plan\": {}, \"sweep\": {}, \"threads\": {}, \"qps\": {:.1f}, "
                        "\"p50_ms\": {:.4f}, \"p99_ms\": {:.4f}, \"recall\": {:.4f}, "
                        "\"reads_per_query\": {:.2f}, \"bytes_per_query\": {:.0f}, "
                        "\"ceiling_best_qps\": {}, \"ceiling_same_depth_qps\": {}", i ? "," : "",
                        Q(p.plan), p.sweep, p.threads, p.qps, p.p50_ms, p.p99_ms, p.recall, reads,
                        bytes, reads > 0 && best.reads_per_s > 0
                            ? fmt::format("{:.1f}", best.reads_per_s / reads) : "null",
                        reads > 0 && at_t > 0 ? fmt::format("{:.1f}", at_t / reads) : "null");
    if (!p.stages.empty()) {
      json += ", \"stages\": [";
      for (size_t j = 0; j < p.stages.size(); ++j) {
        const StageMean& m = p.stages[j];
        json += fmt::format("{}{{\"method\": \"{}\", \"dims\": {}, \"cache_hits\": {:.2f}, "
                            "\"reads\": {:.2f}, \"bytes\": {:.0f}, \"us\": {:.1f}}}", j ? ", " : "",
                            m.method, m.dims, m.cache_hits, m.reads, m.bytes, m.us);
      }
      json += "]";
    }
    json += "}";
  }
  json += "\n  ],\n  \"stages\": [";
  fmt::print("per stage, per query (first thread count):\n");
  bool first = true;
  for (const PlanPoint& p : s.points) {
    if (p.stages.empty()) continue;
    std::string line;
    for (const StageMean& m : p.stages) {
      line += fmt::format(" | {} {}: {:.1f} hits, {:.1f} reads, {:.0f} B, {:.0f} us", m.method,
                          m.dims, m.cache_hits, m.reads, m.bytes, m.us);
    }
    fmt::print("  {}{}\n", p.plan, line);
    json += fmt::format("{}{}", first ? "" : ", ", Q(p.plan + line));
    first = false;
  }
  json += "],\n  \"at_target\": [";
  if (!a.sweep_values.empty()) {
    fmt::print("QPS at recall@{} {} (over the --sweep funnels):", a.k, a.target);
    for (size_t i = 0; i < a.thread_values.size(); ++i) {
      std::string how;
      const auto qps = QpsAtTarget(s, a.thread_values[i], a.target, &how);
      fmt::print(" {} threads: {} ({});", a.thread_values[i],
                 qps ? fmt::format("{:.0f}", *qps) : "-", how);
      json += fmt::format("{}{{\"threads\": {}, \"target\": {}, \"qps\": {}, \"how\": {}}}",
                          i ? ", " : "", a.thread_values[i], a.target,
                          qps ? fmt::format("{:.1f}", *qps) : "null", Q(how));
    }
    fmt::print("\n");
  }
  json += "]\n}\n";
  if (!a.json.empty()) {
    FILE* f = std::fopen(a.json.c_str(), "w");
    if (!f || std::fputs(json.c_str(), f) < 0 || std::fclose(f) != 0) {
      fmt::print(stderr, "mrldb-bench tiered: cannot write {}\n", a.json);
      return 1;
    }
  }
  return 0;
}

}  // namespace mrldb::bench
