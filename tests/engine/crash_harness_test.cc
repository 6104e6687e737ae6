// The crash harness (docs/reliability.md, "Crash recovery"): a writer process ingesting through
// the embedded API (inserts, upserts, deletes, COPY and VACUUM through a Session, checkpoints,
// background graph checkpoints with tiny thresholds) is killed with SIGKILL at random moments;
// after each
// kill a verifier process reopens the database and checks it against the writer's log
// (tests/engine/crash_model.h): every acknowledged row present with identical bytes and
// attributes, the interrupted operation all or nothing (COPY: whole batches, at least the
// acknowledged ones), no other row, the graph covering exactly the live rows, and exact search
// equal to a reference computed from the model. The verifier usually exits without closing (a
// second crash); sometimes it closes.
//
// ctest runs 20 iterations; scripts/crash [ITERATIONS] runs more (MRLDB_CRASH_ITERATIONS).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "mrldb/database.h"
#include "mrldb/session.h"
#include "tests/engine/crash_model.h"
#include "tests/test_util.h"

namespace mrldb::crash {
namespace {

using Clock = std::chrono::steady_clock;

const char* Env(const char* name) { return std::getenv(name); }
uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* v = Env(name);
  return v ? std::strtoull(v, nullptr, 10) : fallback;
}

DatabaseOptions Options() {
  DatabaseOptions o;
  o.threads = 2;
  o.index_checkpoint_rows = 150;  // many background checkpoints, so kills land in them
  o.index_checkpoint_seconds = 0.1;
  o.auto_vacuum_share = 0;  // the writer's VACUUMs are logged operations
  return o;
}

void WriteNpy(const std::string& path, const std::vector<float>& v, size_t rows) {
  std::string header = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
                                   rows, kDim);
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = uint16_t(header.size());
  f.write(reinterpret_cast<const char*>(&len), 2);
  f << header;
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
}

// The writer: random operations until killed, each logged before the call and acknowledged
// after it returns.
TEST(CrashHarness, Writer) {
  const char* dir = Env("MRLDB_CRASH_WRITER");
  if (dir == nullptr) GTEST_SKIP() << "runs only as the writer process of the crash harness";
  const std::string log = std::string(dir) + "/ack.log";
  Model m = ReadLog(log);
  if (m.InFlight()) _exit(20);  // the verifier resolves it first
  DatabaseOptions o = Options();
  o.info_log = [](std::string_view) {};
  auto opened = Database::Open(std::string(dir) + "/db", o);
  if (!opened.ok()) _exit(3);
  Database& db = **opened;
  const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) _exit(4);
  AppendLog(fd, "S");
  uint64_t seq = m.ops.empty() ? 1 : m.ops.back().seq + 1;
  SessionOptions so;
  char kind = 0;  // of the operation running
  so.progress = [&](const CopyProgress& p) {
    if (kind == 'c') AppendLog(fd, fmt::format("A {} {}", seq, p.rows_done));  // committed batches
    return true;
  };
  Session session(&db, so);
  std::mt19937_64 rng(EnvNumber("MRLDB_CRASH_SEED", 1));
  const uint64_t max_rows = EnvNumber("MRLDB_CRASH_MAX_ROWS", 4000);
  auto pick = [&]() -> std::optional<std::pair<int64_t, Version>> {
    if (m.live.empty()) return std::nullopt;
    auto it = m.live.lower_bound(int64_t(rng() % uint64_t(m.next_id)));
    if (it == m.live.end()) it = m.live.begin();
    return *it;
  };
  for (;; ++seq) {
    const unsigned r = unsigned(rng() % 100);
    const bool shrink = m.live.size() > max_rows;
    Op op;
    op.seq = seq;
    std::string intent;
    if (shrink ? r < 60 : r < 15) {
      op.kind = 'd';
      std::set<int64_t> ids;
      for (size_t n = 1 + rng() % (shrink ? 60 : 20); n > 0; --n) {
        if (auto p = pick()) ids.insert(p->first);
      }
      if (rng() % 4 == 0) ids.insert(-1 - int64_t(rng() % 1000));  // never existed
      op.ids.assign(ids.begin(), ids.end());
      intent = fmt::format("I {} d {}", seq, op.ids.size());
      for (int64_t id : op.ids) intent += fmt::format(" {}", id);
    } else if (r < 75) {
      op.kind = r < 50 ? 'i' : 'u';
      std::set<int64_t> used;
      for (size_t n = 1 + rng() % 40; n > 0; --n) {
        auto p = op.kind == 'u' && rng() % 2 ? pick() : std::nullopt;
        if (p && used.insert(p->first).second) {
          op.rows.emplace_back(p->first, p->second.ver + 1);
        } else if (!p) {
          op.rows.emplace_back(m.next_id++, 0);
        }
      }
      intent = fmt::format("I {} {} {}", seq, op.kind, op.rows.size());
      for (auto [id, ver] : op.rows) intent += fmt::format(" {} {}", id, ver);
    } else if (r < 90) {
      op.kind = 'c';
      op.first = m.next_id;
      op.n = 20 + rng() % 180;
      op.batch = 5 + rng() % 40;
      m.next_id += int64_t(op.n);
      std::vector<float> v;
      std::string ids;
      for (uint64_t i = 0; i < op.n; ++i) {
        const auto x = VectorOf(op.first + int64_t(i), 0);
        v.insert(v.end(), x.begin(), x.end());
        ids += fmt::format("{}\n", op.first + int64_t(i));
      }
      WriteNpy(std::string(dir) + "/copy.npy", v, op.n);
      std::ofstream(std::string(dir) + "/copy.ids", std::ios::trunc) << ids;
      intent = fmt::format("I {} c {} {} {}", seq, op.first, op.n, op.batch);
    } else if (r < 97) {
      op.kind = 'k';
      intent = fmt::format("I {} k", seq);
    } else {
      op.kind = 'v';
      intent = fmt::format("I {} v", seq);
    }
    AppendLog(fd, intent);
    kind = op.kind;
    Status st;
    switch (op.kind) {
      case 'i':
      case 'u': {
        InsertBatch b;
        for (auto [id, ver] : op.rows) {
          const auto v = VectorOf(id, ver);
          b.Add(Key{id}, std::span<const float>(v), AttributesOf(id, ver, false));
        }
        st = op.kind == 'i' ? db.Insert("c", b) : db.Upsert("c", b);
        break;
      }
      case 'd': {
        std::vector<Key> keys;
        for (int64_t id : op.ids) keys.emplace_back(id);
        st = db.Delete("c", keys).status();
        break;
      }
      case 'c':
        st = session
                 .Execute(fmt::format("COPY c FROM '{0}/copy.npy' WITH (format npy, ids "
                                      "'{0}/copy.ids', batch_size {1})",
                                      dir, op.batch))
                 .status();
        break;
      case 'v': st = session.Execute("VACUUM c").status(); break;
      default: st = db.Checkpoint(); break;
    }
    if (!st.ok()) {
      fmt::print(stderr, "writer: op {} failed: {}\n", seq, st.ToString());
      _exit(10);
    }
    AppendLog(fd, fmt::format("A {} {}", seq, op.kind == 'c' ? op.n : 1));
    m.Apply(op, op.kind == 'c' ? op.n : 1);
  }
}

// The verifier: reopens after a kill, resolves the interrupted operation and checks everything.
TEST(CrashHarness, Verifier) {
  const char* dir = Env("MRLDB_CRASH_VERIFIER");
  if (dir == nullptr) GTEST_SKIP() << "runs only as the verifier process of the crash harness";
  const std::string log = std::string(dir) + "/ack.log";
  Model m = ReadLog(log);
  Findings f;
  std::vector<std::string> lines;
  DatabaseOptions o = Options();
  o.info_log = [&](std::string_view l) { lines.emplace_back(l); };
  const auto t0 = Clock::now();
  auto opened = Database::Open(std::string(dir) + "/db", o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Database& db = **opened;
  f.open_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  f.pending_at_open = db.DescribeCollection("c")->index_pending_rows;
  if (Op* op = m.InFlight()) {
    f.killed_in_vacuum = op->kind == 'v';
    const uint64_t count = Resolve(db, m, *op, &f);
    const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    AppendLog(fd, fmt::format("R {} {}", op->seq, count));
    ::close(fd);
    m.Apply(*op, count);
  }
  CheckRows(db, m, &f);
  ASSERT_OK(db.WaitForIndexing());
  f.indexed_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  CheckGraph(db, lines, &f);
  CheckSearches(db, m, m.ops.size(), &f);
  {
    std::ofstream out(std::string(dir) + "/verify.out", std::ios::trunc);
    out << f.lost << ' ' << f.wrong << ' ' << f.ghosts << ' ' << f.partial << ' ' << f.graph_bad
        << ' ' << f.bad_rebuilds << ' ' << f.search_bad << ' ' << f.live << ' ' << f.acked_rows
        << ' ' << f.pending_at_open << ' ' << f.rebuilt << ' ' << f.open_ms << ' '
        << f.indexed_ms << ' ' << f.killed_in_vacuum << '\n';
  }
  if (Env("MRLDB_CRASH_CLOSE")) {
    ASSERT_OK(db.Close());
    return;
  }
  _exit(0);  // no Close: the next writer recovers from this process's state too
}

pid_t Spawn(const char* role_var, const std::string& dir, uint64_t seed, bool close) {
  const pid_t pid = fork();
  if (pid == 0) {
    setenv(role_var, dir.c_str(), 1);
    setenv("MRLDB_CRASH_SEED", std::to_string(seed).c_str(), 1);
    if (close) setenv("MRLDB_CRASH_CLOSE", "1", 1);
    const char* filter = std::string(role_var) == "MRLDB_CRASH_WRITER"
                             ? "--gtest_filter=CrashHarness.Writer"
                             : "--gtest_filter=CrashHarness.Verifier";
    execl("/proc/self/exe", "crash_tests", filter, "--gtest_brief=1", nullptr);
    _exit(127);
  }
  return pid;
}

size_t StartedWriters(const std::string& log) {
  const std::string text = testing::ReadFile(log);
  size_t n = 0;
  for (size_t at = 0; (at = text.find("\nS\n", at)) != std::string::npos; ++at) ++n;
  return n + (text.rfind("S\n", 0) == 0);
}

TEST(CrashHarness, KilledWritersLoseNoAcknowledgedRow) {
  const uint64_t iterations = EnvNumber("MRLDB_CRASH_ITERATIONS", 20);
  testing::TempDir tmp;
  const std::string dir = tmp.path(), log = dir + "/ack.log";
  {
    auto db = testing::OpenOrDie(dir + "/db");
    ASSERT_OK(db->CreateCollection(Spec()));
    ASSERT_OK(db->Close());
  }
  std::mt19937_64 rng(EnvNumber("MRLDB_CRASH_SEED", 7));
  Findings total;
  double max_open = 0, max_indexed = 0;
  uint64_t max_pending = 0, kills_in_open = 0;
  for (uint64_t it = 0; it < iterations; ++it) {
    const size_t started = StartedWriters(log);
    const pid_t w = Spawn("MRLDB_CRASH_WRITER", dir, rng(), false);
    ASSERT_GT(w, 0);
    if (rng() % 8 == 0) {
      ++kills_in_open;  // during open and the graph's replay, most likely
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 150));
    } else {
      const auto deadline = Clock::now() + std::chrono::seconds(60);
      while (StartedWriters(log) == started && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 400));
    }
    kill(w, SIGKILL);
    int status = 0;
    waitpid(w, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "iteration " << it << ": the writer exited with "
                                     << WEXITSTATUS(status);
    const pid_t v = Spawn("MRLDB_CRASH_VERIFIER", dir, it, rng() % 4 == 0);
    waitpid(v, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "iteration " << it << ": the verifier failed (its output is above)";
    Findings f;
    std::ifstream in(dir + "/verify.out");
    in >> f.lost >> f.wrong >> f.ghosts >> f.partial >> f.graph_bad >> f.bad_rebuilds >>
        f.search_bad >> f.live >> f.acked_rows >> f.pending_at_open >> f.rebuilt >> f.open_ms >>
        f.indexed_ms >> f.killed_in_vacuum;
    ASSERT_TRUE(in) << "iteration " << it << ": no verifier findings";
    ExpectClean(f, it);
    if (::testing::Test::HasFailure()) return;
    total.lost += f.lost;
    total.partial += f.partial;
    total.rebuilt += f.rebuilt;
    total.killed_in_vacuum += f.killed_in_vacuum;
    total.acked_rows = f.acked_rows;
    total.live = f.live;
    max_open = std::max(max_open, f.open_ms);
    max_indexed = std::max(max_indexed, f.indexed_ms);
    max_pending = std::max(max_pending, f.pending_at_open);
  }
  const std::string summary = fmt::format(
      "crash harness: {} iterations ({} killed at start, {} during a VACUUM), {} acknowledged "
      "rows written, {} live at the end, {} lost, {} partial batches, {} graph rebuilds (no "
      "checkpoint yet), recovery max {:.0f} ms to open, {:.0f} ms until the graph covered every "
      "row (at most {} rows replayed)",
      iterations, kills_in_open, total.killed_in_vacuum, total.acked_rows, total.live, total.lost,
      total.partial, total.rebuilt, max_open, max_indexed, max_pending);
  std::printf("%s\n", summary.c_str());
}

}  // namespace
}  // namespace mrldb::crash
