// mrldb-bench search: recall@k, QPS, build time and memory of mrldb's Matryoshka funnel against
// hnswlib, FAISS and exact search, on the same data and queries in one run.
#pragma once

// Runs the benchmark with the options in argv[first_arg, argc) (see the usage text it prints
// for --help). Returns the process exit code: 0 done, 1 a run-time error (printed), 2 bad usage.
int RunSearchBench(int argc, char** argv, int first_arg);
