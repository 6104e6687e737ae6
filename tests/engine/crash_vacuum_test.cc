// Kill -9 during VACUUM (docs/reliability.md, "Crash recovery"): a child process deletes rows
// and vacuums in a loop, logging both as the crash harness does (tests/engine/crash_model.h);
// the parent kills it after a chosen number of vacuum slices: every other time while the child
// waits inside its VACUUM after that slice, else after a random delay (so kills land in slices,
// between them and in the final compaction). Then it reopens the database and checks every
// acknowledged row's bytes, no ghost, the graph covering exactly the live rows, and exact
// search against the model. The harness's writer vacuums too, at random.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "mrldb/database.h"
#include "mrldb/session.h"
#include "tests/engine/crash_model.h"
#include "tests/test_util.h"

namespace mrldb::crash {
namespace {

constexpr int64_t kRows = 24000;  // 4.7 MiB of vectors: VACUUM writes slices of about 1 MiB

DatabaseOptions Options() {
  DatabaseOptions o;
  o.threads = 2;
  o.auto_tune = false;
  o.auto_vacuum_share = 0;
  o.info_log = [](std::string_view) {};
  return o;
}

// The child: rounds of (delete 500 live rows, VACUUM) until killed; "P <rows>" after each
// vacuum slice (ReadLog ignores those lines). With MRLDB_CRASH_BLOCK_AT=n it stops inside the
// VACUUM after its n-th slice, for the kill.
TEST(CrashVacuum, VacuumerProcess) {
  const char* dir = std::getenv("MRLDB_CRASH_VACUUMER");
  if (dir == nullptr) GTEST_SKIP() << "runs only as the child of KilledVacuumsLoseNothing";
  const std::string log = std::string(dir) + "/ack.log";
  Model m = ReadLog(log);
  auto opened = Database::Open(std::string(dir) + "/db", Options());
  if (!opened.ok()) _exit(3);
  Database& db = **opened;
  const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) _exit(4);
  AppendLog(fd, "S");
  const uint64_t block_at = std::strtoull(std::getenv("MRLDB_CRASH_BLOCK_AT"), nullptr, 10);
  uint64_t slices = 0;
  SessionOptions so;
  so.progress = [&](const CopyProgress& p) {
    AppendLog(fd, fmt::format("P {}", p.rows_done));
    if (++slices == block_at) {
      for (;;) pause();
    }
    return true;
  };
  Session session(&db, so);
  std::mt19937_64 rng(std::strtoull(std::getenv("MRLDB_CRASH_SEED"), nullptr, 10));
  uint64_t seq = m.ops.empty() ? 1 : m.ops.back().seq + 1;
  for (;; seq += 2) {
    Op del;
    del.seq = seq;
    del.kind = 'd';
    std::string intent = fmt::format("I {} d 500", seq);
    std::vector<Key> keys;
    for (int i = 0; i < 500 && !m.live.empty(); ++i) {
      auto it = m.live.lower_bound(int64_t(rng() % uint64_t(kRows)));
      if (it == m.live.end()) it = m.live.begin();
      del.ids.push_back(it->first);
      intent += fmt::format(" {}", it->first);
      keys.emplace_back(it->first);
    }
    AppendLog(fd, intent);
    if (!db.Delete("c", keys).ok()) _exit(5);
    AppendLog(fd, fmt::format("A {} 1", seq));
    m.Apply(del, 1);
    AppendLog(fd, fmt::format("I {} v", seq + 1));
    if (auto r = session.Execute("VACUUM c"); !r.ok()) {
      fmt::print(stderr, "vacuumer: {}\n", r.status().ToString());
      _exit(6);
    }
    AppendLog(fd, fmt::format("A {} 1", seq + 1));
  }
}

size_t Count(const std::string& text, std::string_view line_start) {
  size_t n = 0;
  for (size_t at = 0; (at = text.find(line_start, at)) != std::string::npos; ++at) {
    if (at == 0 || text[at - 1] == '\n') ++n;
  }
  return n;
}

TEST(CrashVacuum, KilledVacuumsLoseNothing) {
  testing::TempDir tmp;
  const std::string dir = tmp.path(), log = dir + "/ack.log";
  std::filesystem::create_directories(dir);
  {
    // 24,000 rows, a quarter of them replaced and half deleted: written by this process and
    // logged as acknowledged operations, then closed (the graph is saved).
    auto db = testing::OpenOrDie(dir + "/db", Options());
    ASSERT_OK(db->CreateCollection(Spec()));
    const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    uint64_t seq = 1;
    for (int64_t first = 0; first < kRows; first += 2000, ++seq) {
      InsertBatch b;
      std::string intent = fmt::format("I {} i 2000", seq);
      for (int64_t id = first; id < first + 2000; ++id) {
        const uint32_t ver = id % 4 == 0 ? 1 : 0;
        b.Add(Key{id}, std::span<const float>(VectorOf(id, 0)), AttributesOf(id, 0, false));
        intent += fmt::format(" {} {}", id, ver);
      }
      ASSERT_OK(db->Insert("c", b));
      InsertBatch up;
      for (int64_t id = first; id < first + 2000; id += 4) {
        up.Add(Key{id}, std::span<const float>(VectorOf(id, 1)), AttributesOf(id, 1, false));
      }
      ASSERT_OK(db->Upsert("c", up));
      AppendLog(fd, intent);  // logged as one insert of the final versions
      AppendLog(fd, fmt::format("A {} 1", seq));
    }
    std::vector<Key> keys;
    std::string intent = fmt::format("I {} d {}", seq, kRows / 2);
    for (int64_t id = 1; id < kRows; id += 2) {
      keys.emplace_back(id);
      intent += fmt::format(" {}", id);
    }
    ASSERT_TRUE(db->Delete("c", keys).ok());
    AppendLog(fd, intent);
    AppendLog(fd, fmt::format("A {} 1", seq));
    ::close(fd);
    ASSERT_OK(db->Close());
  }
  std::mt19937_64 rng(11);
  uint64_t killed_in_vacuum = 0;
  constexpr int kKills = 6;
  for (int it = 0; it < kKills; ++it) {
    const size_t slices_before = Count(testing::ReadFile(log), "P ");
    const size_t wait_slices = 1 + rng() % 12;
    const bool block = it % 2 == 0;
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      setenv("MRLDB_CRASH_VACUUMER", dir.c_str(), 1);
      setenv("MRLDB_CRASH_SEED", std::to_string(it).c_str(), 1);
      setenv("MRLDB_CRASH_BLOCK_AT", std::to_string(block ? wait_slices : 0).c_str(), 1);
      execl("/proc/self/exe", "crash_tests", "--gtest_filter=CrashVacuum.VacuumerProcess",
            "--gtest_brief=1", nullptr);
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (Count(testing::ReadFile(log), "P ") < slices_before + wait_slices &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!block) std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 15));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "kill " << it << ": the child exited with "
                                     << WEXITSTATUS(status);

    Model m = ReadLog(log);
    std::vector<std::string> lines;
    DatabaseOptions o = Options();
    o.info_log = [&](std::string_view l) { lines.emplace_back(l); };
    auto db = testing::OpenOrDie(dir + "/db", o);
    ASSERT_NE(db, nullptr);
    Findings f;
    if (Op* op = m.InFlight()) {
      killed_in_vacuum += op->kind == 'v';
      const uint64_t count = Resolve(*db, m, *op, &f);
      const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
      ASSERT_GE(fd, 0);
      AppendLog(fd, fmt::format("R {} {}", op->seq, count));
      ::close(fd);
      m.Apply(*op, count);
    }
    CheckRows(*db, m, &f);
    ASSERT_OK(db->WaitForIndexing());
    CheckGraph(*db, lines, &f);
    CheckSearches(*db, m, uint64_t(it), &f);
    ExpectClean(f, uint64_t(it));
    EXPECT_EQ(f.rebuilt, 0u) << "kill " << it;  // the saved graph is used after every kill
    if (::testing::Test::HasFailure()) return;
    if (it == kKills - 1) {
      // A vacuum run to its end after the kills: nothing dead left unvacuumed, rows intact.
      auto r = db->Vacuum("c");
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(db->DescribeCollection("c")->unvacuumed_rows, 0u);
      Findings after;
      CheckRows(*db, m, &after);
      CheckSearches(*db, m, 99, &after);
      ExpectClean(after, uint64_t(it));
    }
    ASSERT_OK(db->Close());
  }
  EXPECT_GE(killed_in_vacuum, uint64_t{kKills / 2});  // at least the blocked ones
  std::printf("crash vacuum: %d kills, %llu during a VACUUM\n", kKills,
              static_cast<unsigned long long>(killed_in_vacuum));
}

}  // namespace
}  // namespace mrldb::crash
