// mrldb: the command-line entry point. Until the shell issue lands it opens (or creates) the
// database, prints its collections and the GPU status, and exits.
//
//   mrldb [--db PATH] [--version] [--help]
#include <cstdio>
#include <cstring>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cuda/gpu_info.h"
#include "mrldb/database.h"

namespace {

constexpr char kUsage[] =
    "usage: mrldb [--db PATH] [--version] [--help]\n"
    "  --db PATH   database directory (created when missing). Default: ./mrldb-data\n";

std::string Ladder(const std::vector<uint32_t>& g) { return fmt::format("{}", fmt::join(g, ",")); }

void PrintGpu() {
  auto devices = mrldb::gpu::ListDevices();
  if (!devices.ok()) {
    fmt::print("GPU: none ({})\n", devices.status().message());
    return;
  }
  for (const auto& d : *devices) {
    fmt::print("GPU {}: {} (sm_{}{}, {:.1f} GiB)\n", d.index, d.name, d.compute_major,
               d.compute_minor, d.total_memory / double(1u << 30));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = "./mrldb-data";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--db") && i + 1 < argc) {
      path = argv[++i];
    } else if (!std::strcmp(argv[i], "--version")) {
      fmt::print("mrldb {}\n", MRLDB_VERSION);
      return 0;
    } else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      fmt::print("{}", kUsage);
      return 0;
    } else {
      fmt::print(stderr, "mrldb: unknown argument '{}'\n{}", argv[i], kUsage);
      return 2;
    }
  }
  auto db = mrldb::Database::Open(path);
  if (!db.ok()) {
    fmt::print(stderr, "mrldb: cannot open '{}': {}\n", path, db.status().ToString());
    return 1;
  }
  fmt::print("mrldb {} - database '{}'\n", MRLDB_VERSION, path);
  PrintGpu();
  auto names = (*db)->ListCollections();
  if (names.empty()) {
    fmt::print("no collections yet\n");
  } else {
    fmt::print("{:<24} {:>6} {:<8} {:>9} {:>12}  {}\n", "collection", "dim", "metric",
               "index_dim", "rows", "ladder");
    for (const auto& name : names) {
      auto info = (*db)->DescribeCollection(name);
      if (!info.ok()) continue;
      const auto& s = info->spec;
      fmt::print("{:<24} {:>6} {:<8} {:>9} {:>12}  {}\n", s.name, s.dim, mrldb::MetricName(s.metric),
                 s.index_dim, info->live_rows, Ladder(s.granularities));
    }
  }
  mrldb::Status st = (*db)->Close();
  if (!st.ok()) {
    fmt::print(stderr, "mrldb: {}\n", st.ToString());
    return 1;
  }
  return 0;
}
