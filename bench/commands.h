// The benchmarks of mrldb-bench, one subcommand each. Each Add*Bench adds its subcommand and its
// options to the mrldb-bench app (the one place to add an option) and, when the parse reaches
// it, sets *run to the benchmark with the parsed options. *run returns the exit status: 0 done,
// 1 a run-time error (printed), 2 bad usage (a check across options, printed).
#pragma once

#include <functional>
#include <string>

#include "cli/cli.h"

namespace mrldb::bench {

using Runner = std::function<int()>;

// bench/search_bench.cc: recall@k, QPS, build time and memory of mrldb's funnel against hnswlib,
// FAISS and exact search, on the same data and queries in one run. `command` is the command
// line, for the report.
void AddSearchBench(CLI::App* app, Runner* run, std::string command);
// bench/gpu_bench.cc: the GPU re-ranker and exact search on the device at hand.
void AddGpuBench(CLI::App* app, Runner* run);
// bench/recovery_bench.cc: open, first query and full speed after a SIGKILL mid-ingest (and its
// hidden `recovery-writer`, the process that is killed).
void AddRecoveryBench(CLI::App* app, Runner* run);
// bench/load_bench.cc: concurrent clients against `mrldb serve`.
void AddLoadBench(CLI::App* app, Runner* run);
// bench/graph_bench.cc: stage 0 alone, hnswlib's search against mrldb's on the same graph.
void AddGraphBench(CLI::App* app, Runner* run);
// bench/predict_bench.cc: PREDICT's cascade against exact k-NN classification.
void AddPredictBench(CLI::App* app, Runner* run);
// bench/vacuum_bench.cc: storage before and after VACUUM of deleted and replaced rows.
void AddVacuumBench(CLI::App* app, Runner* run);
// bench/tiered_bench.cc: a collection larger than the memory budget (streaming ingest, peak RSS,
// default-plan recall and QPS, storage reads per query against the disk's random-read rate).
void AddTieredBench(CLI::App* app, Runner* run, std::string command);

}  // namespace mrldb::bench
