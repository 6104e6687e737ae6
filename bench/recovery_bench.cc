// mrldb-bench recovery: how long a collection takes to serve at full speed after a SIGKILL in
// the middle of an ingest.
//
//   mrldb-bench recovery [--rows N] [--dim D] [--batch B] [--extra E] [--checkpoint-rows C]
//                        [--dir DIR] [--keep]
//
// A writer process (this binary, `recovery-writer`) creates a collection of synthetic Matryoshka
// vectors, inserts N rows with the default options (background graph checkpoints every C rows),
// waits for the background indexer, then inserts E more (default N / 10) and is killed with
// SIGKILL once N + E/2 rows were acknowledged: mid-ingest, with the graph lagging by whatever the
// indexer did not keep up with. Then, in this process: the
// database's open time; the first default-plan search; default-plan searches in 0.5 s windows
// (one thread) until the graph covers every row and for 5 s after; the time until a window's rate
// reaches 90% of that final rate; the rows replayed into the graph; and one checkpoint's save
// time with the longest search latency while it ran.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench/commands.h"
#include "bench/measure.h"
#include "mrldb/database.h"
#include "mrldb/synthetic.h"

namespace mrldb::bench {
namespace {

struct Args {
  size_t rows = 200000, extra = 0, batch = 1000;
  uint32_t dim = 768;
  uint64_t checkpoint_rows = DatabaseOptions{}.index_checkpoint_rows;
  std::string dir;
  bool keep = false;
};

double Secs(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

[[noreturn]] void Fail(const std::string& what, const Status& st) {
  fmt::print(stderr, "mrldb-bench recovery: {}: {}\n", what, st.ToString());
  std::exit(1);
}

DatabaseOptions Options(const Args& a) {
  DatabaseOptions o;
  o.index_checkpoint_rows = a.checkpoint_rows;
  return o;
}

// The writer: inserts until killed, writing the acknowledged row count to <dir>/acked.
int Writer(const Args& a) {
  auto db = Database::Open(a.dir + "/db", Options(a));
  if (!db.ok()) Fail("open", db.status());
  CollectionSpec spec;
  spec.name = "bench";
  spec.dim = a.dim;
  spec.id_type = IdType::kBigint;
  spec.metric = Metric::kInnerProduct;
  if (Status st = (*db)->CreateCollection(spec); !st.ok()) Fail("create", st);
  SyntheticOptions so;
  so.dim = a.dim;
  SyntheticGenerator gen(so);
  std::vector<float> data(a.batch * a.dim);
  InsertBatch batch;
  auto t0 = Clock::now();
  for (size_t first = 0; first < a.rows + a.extra; first += a.batch) {
    if (first == a.rows) {
      if (Status st = (*db)->WaitForIndexing(); !st.ok()) Fail("indexing", st);
      std::ofstream(a.dir + "/indexed") << Secs(t0, Clock::now()) << '\n';
      t0 = Clock::now();
    }
    gen.Fill(first, a.batch, data.data());
    batch.Clear();
    batch.Reserve(a.batch, a.dim);
    for (size_t i = 0; i < a.batch; ++i) {
      batch.Add(Key{int64_t(first + i)}, std::span<const float>(data.data() + i * a.dim, a.dim));
    }
    if (Status st = (*db)->Insert("bench", batch); !st.ok()) Fail("insert", st);
    const auto info = (*db)->DescribeCollection("bench");
    std::ofstream(a.dir + "/acked.tmp", std::ios::trunc)
        << first + a.batch << ' ' << Secs(t0, Clock::now()) << ' ' << info->index_pending_rows
        << ' ' << (first >= a.rows) << '\n';
    std::filesystem::rename(a.dir + "/acked.tmp", a.dir + "/acked");
  }
  pause();  // killed
  return 0;
}

int Recovery(const Args& a) {
  std::filesystem::remove_all(a.dir);
  std::filesystem::create_directories(a.dir);
  const size_t kill_at = a.rows + a.extra / 2;
  fmt::print("writer: {} x {} rows, then {} more, batches of {}, killed after {} rows "
             "(checkpoints every {} rows)\n", a.rows, a.dim, a.extra, a.batch, kill_at,
             a.checkpoint_rows);
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string rows = std::to_string(a.rows), extra = std::to_string(a.extra),
                      batch = std::to_string(a.batch), dim = std::to_string(a.dim),
                      ck = std::to_string(a.checkpoint_rows);
    execl("/proc/self/exe", "mrldb-bench", "recovery-writer", "--dir", a.dir.c_str(), "--rows",
          rows.c_str(), "--extra", extra.c_str(), "--batch", batch.c_str(), "--dim", dim.c_str(),
          "--checkpoint-rows", ck.c_str(), nullptr);
    _exit(127);
  }
  size_t acked = 0, pending = 0;
  double ingest_s = 0;
  int phase2 = 0;
  for (;;) {
    std::ifstream in(a.dir + "/acked");
    in >> acked >> ingest_s >> pending >> phase2;
    if (acked >= kill_at) break;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      fmt::print(stderr, "mrldb-bench recovery: the writer died\n");
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  double indexed_s = 0;
  std::ifstream(a.dir + "/indexed") >> indexed_s;
  fmt::print("writer: first {} rows indexed {:.1f} s after the start; killed after {} acknowledged "
             "rows ({:.0f} rows/s in the second phase; {} rows not yet in its graph)\n", a.rows,
             indexed_s, acked, (acked - a.rows) / ingest_s, pending);
  std::string checkpoint = "none";
  if (std::ifstream meta(a.dir + "/db/hnsw/1.hnsw.meta"); meta) {
    std::string magic;
    uint64_t covered = 0;
    meta >> magic >> covered;
    checkpoint = fmt::format("covers {} rows", covered);
  }
  fmt::print("last graph checkpoint on disk: {}\n", checkpoint);

  std::vector<std::string> log;
  DatabaseOptions o = Options(a);
  o.info_log = [&](std::string_view l) {
    log.emplace_back(l);
    fmt::print("  mrldb: {}\n", l);
  };
  const auto t0 = Clock::now();
  auto opened = Database::Open(a.dir + "/db", o);
  if (!opened.ok()) Fail("reopen", opened.status());
  Database& db = **opened;
  const double open_s = Secs(t0, Clock::now());
  auto info = db.DescribeCollection("bench");
  const uint64_t replay = info->index_pending_rows;
  SyntheticOptions so;
  so.dim = a.dim;
  SyntheticGenerator gen(so);
  const std::vector<float> queries = gen.Queries(0, 1000);
  size_t qi = 0;
  auto search = [&] {
    auto hits = db.Search("bench", std::span<const float>(queries.data() + (qi++ % 1000) * a.dim,
                                                          a.dim), SearchOptions{});
    if (!hits.ok()) Fail("search", hits.status());
  };
  search();
  const double first_s = Secs(t0, Clock::now());
  // 0.5 s windows until the graph is complete, then 5 s more.
  struct Window {
    double end_s, qps;
    uint64_t pending;
  };
  std::vector<Window> windows;
  double caught_up_s = -1;
  while (true) {
    const auto w0 = Clock::now();
    size_t n = 0;
    while (Secs(w0, Clock::now()) < 0.5) {
      search();
      ++n;
    }
    const uint64_t p = db.DescribeCollection("bench")->index_pending_rows;
    windows.push_back({Secs(t0, Clock::now()), n / Secs(w0, Clock::now()), p});
    if (p == 0 && caught_up_s < 0) caught_up_s = windows.back().end_s;
    if (caught_up_s >= 0 && windows.back().end_s > caught_up_s + 5) break;
  }
  std::vector<double> steady;
  for (const Window& w : windows) {
    if (w.end_s > caught_up_s + 0.5) steady.push_back(w.qps);
  }
  const double full = Median(steady);
  double full_speed_s = -1;
  for (const Window& w : windows) {
    if (w.qps >= 0.9 * full) {
      full_speed_s = w.end_s;
      break;
    }
  }
  fmt::print("\nrecovery of {} rows x {} dims:\n", info->live_rows, a.dim);
  fmt::print("  open                        {:8.2f} s   ({} rows to replay into the graph{})\n",
             open_s, replay, log.empty() ? "" : "; see the log lines above");
  fmt::print("  first default-plan search   {:8.2f} s after the start of open\n", first_s);
  fmt::print("  graph covers every row      {:8.2f} s\n", caught_up_s);
  fmt::print("  searches at >= 90% of full  {:8.2f} s   (full: {:.0f} QPS, one thread; first "
             "window {:.0f} QPS)\n", full_speed_s, full, windows.front().qps);

  // One checkpoint of the complete graph, with searches running: its duration and the longest
  // search while it ran.
  std::vector<Key> del = {Key{int64_t{0}}};
  if (auto d = db.Delete("bench", del); !d.ok()) Fail("delete", d.status());
  std::atomic<bool> done{false};
  double worst = 0;
  size_t during = 0;
  std::thread searcher([&] {
    while (!done) {
      const auto s0 = Clock::now();
      search();
      worst = std::max(worst, Secs(s0, Clock::now()));
      ++during;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto c0 = Clock::now();
  if (Status st = db.Checkpoint(); !st.ok()) Fail("checkpoint", st);
  const double save_s = Secs(c0, Clock::now());
  done = true;
  searcher.join();
  const auto bytes = info->index_memory_bytes;
  fmt::print("  checkpoint of the graph     {:8.2f} s   ({:.0f} MiB in memory; {} searches ran "
             "meanwhile, the longest {:.1f} ms)\n", save_s, bytes / 1048576.0, during,
             worst * 1e3);
  if (Status st = db.Close(); !st.ok()) Fail("close", st);
  if (!a.keep) std::filesystem::remove_all(a.dir);
  return 0;
}

}  // namespace

void AddRecoveryBench(CLI::App* app, Runner* run) {
  auto a = std::make_shared<Args>();
  CLI::App* recovery = app->add_subcommand(
      "recovery", "open, first query and full speed after a SIGKILL in the middle of an ingest");
  // The process that is killed: started by `recovery` with its options, not for users.
  CLI::App* writer = app->add_subcommand("recovery-writer", "")->group("");
  for (CLI::App* sub : {recovery, writer}) {
    sub->add_option("--rows", a->rows, "rows before the kill (default 200000)")->check(cli::Integer(1));
    sub->add_option("--dim", a->dim, "dimension (default 768)")->check(cli::Integer(1, 65536));
    sub->add_option("--batch", a->batch, "rows per insert (default 1000)")->check(cli::Integer(1));
    sub->add_option("--extra", a->extra, "rows inserted after the open (default: rows / 10, at "
                    "least --batch)")->check(cli::Integer(1));
    sub->add_option("--checkpoint-rows", a->checkpoint_rows, "the graph saved every N rows "
                    "(DatabaseOptions::index_checkpoint_rows)")->check(cli::Integer(0));
    sub->add_option("--dir", a->dir, "working directory (default: a temporary one)")->type_name("DIR");
    sub->add_flag("--keep", a->keep, "keep the directory afterwards");
    sub->callback([a, run, is_writer = sub == writer] {
      *run = [a, is_writer] {
        if (a->extra == 0) a->extra = std::max<size_t>(a->rows / 10, a->batch);
        if (a->dir.empty()) {
          a->dir = (std::filesystem::temp_directory_path() / "mrldb-bench-recovery").string();
        }
        return is_writer ? Writer(*a) : Recovery(*a);
      };
    });
  }
}

}  // namespace mrldb::bench
