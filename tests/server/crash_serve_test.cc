// The crash harness through the server (docs/reliability.md, "Crash recovery"): a client writes
// through mrldb::Client (INSERT, UPSERT, DELETE statements, each one atomic write) while the
// `mrldb serve` process is killed with SIGKILL at random moments; after each kill the database
// is opened here and checked like tests/engine/crash_harness_test.cc does: every acknowledged
// row present with identical bytes and attributes, the statement in flight all or nothing, no
// other row, the graph covering the live rows, exact search equal to the reference.
// MRLDB_CRASH_SERVE_ITERATIONS sets the number of kills (default 3).
#include <signal.h>

#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "mrldb/client.h"
#include "tests/engine/crash_model.h"
#include "tests/serve_process.h"
#include "tests/test_util.h"

namespace mrldb::crash {
namespace {

// One random statement's operation and its SQL with parameters.
Op NextOp(Model& m, std::mt19937_64& rng, uint64_t seq, std::string* sql,
          std::vector<Param>* params) {
  Op op;
  op.seq = seq;
  params->clear();
  const unsigned r = unsigned(rng() % 100);
  if (r < 20 && !m.live.empty()) {
    op.kind = 'd';
    std::set<int64_t> ids;
    for (size_t n = 1 + rng() % 10; n > 0; --n) {
      auto it = m.live.lower_bound(int64_t(rng() % uint64_t(m.next_id)));
      ids.insert(it == m.live.end() ? m.live.begin()->first : it->first);
    }
    op.ids.assign(ids.begin(), ids.end());
    *sql = "DELETE FROM c WHERE id IN (";
    for (size_t i = 0; i < op.ids.size(); ++i) *sql += fmt::format("{}{}", i ? ", " : "", op.ids[i]);
    *sql += ")";
    return op;
  }
  op.kind = r < 60 ? 'i' : 'u';
  std::set<int64_t> used;
  for (size_t n = 1 + rng() % 30; n > 0; --n) {
    if (op.kind == 'u' && rng() % 2 && !m.live.empty()) {
      auto it = m.live.lower_bound(int64_t(rng() % uint64_t(m.next_id)));
      if (it == m.live.end()) it = m.live.begin();
      if (used.insert(it->first).second) op.rows.emplace_back(it->first, it->second.ver + 1);
    } else {
      op.rows.emplace_back(m.next_id++, 0);
    }
  }
  *sql = fmt::format("{} INTO c (id, embedding, ver, tag) VALUES ", op.kind == 'i' ? "INSERT" : "UPSERT");
  for (size_t i = 0; i < op.rows.size(); ++i) {
    const auto [id, ver] = op.rows[i];
    *sql += fmt::format("{}(${}, ${}, ${}, ${})", i ? ", " : "", 4 * i + 1, 4 * i + 2, 4 * i + 3,
                        4 * i + 4);
    params->emplace_back(int64_t{id});
    params->emplace_back(VectorOf(id, ver));
    params->emplace_back(int64_t{ver});
    params->emplace_back(fmt::format("t{}_{}", id, ver));
  }
  return op;
}

TEST(CrashServe, KilledServerLosesNoAcknowledgedRow) {
  const char* env = std::getenv("MRLDB_CRASH_SERVE_ITERATIONS");
  const uint64_t iterations = env ? std::strtoull(env, nullptr, 10) : 3;
  testing::TempDir dir;
  const std::string db_path = dir.path() + "/db";
  {
    auto db = testing::OpenOrDie(db_path);
    ASSERT_OK(db->CreateCollection(Spec()));
    ASSERT_OK(db->Close());
  }
  Model m;
  std::mt19937_64 rng(11);
  uint64_t seq = 1, statements = 0;
  for (uint64_t it = 0; it < iterations; ++it) {
    // One log per server: the port is read from it, and an old one would name an old port.
    const std::string log = dir.path() + fmt::format("/serve{}.log", it);
    // Background checkpoints every 100 rows or 0.2 s, so that kills land in and between them.
    testing::ServeProcess server({"--db", db_path, "--listen", "127.0.0.1:0",
                                  "--index-checkpoint-rows", "100",
                                  "--index-checkpoint-seconds", "0.2"}, log);
    const uint16_t port = server.WaitForPort();
    ASSERT_NE(port, 0) << testing::ReadFile(log);
    auto client = Client::Connect(fmt::format("127.0.0.1:{}", port));
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    std::thread writer([&] {
      for (;; ++seq) {
        std::string sql;
        std::vector<Param> params;
        m.ops.push_back(NextOp(m, rng, seq, &sql, &params));
        auto res = (*client)->Execute(sql, params);
        if (!res.ok()) return;  // the server is gone: this statement is in flight
        Op& op = m.ops.back();
        op.acked = 1;
        m.Apply(op, 1);
        ++statements;
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 700));
    server.Stop(SIGKILL);
    writer.join();
    client->reset();

    std::vector<std::string> lines;
    DatabaseOptions o;
    o.info_log = [&](std::string_view l) { lines.emplace_back(l); };
    auto db = testing::OpenOrDie(db_path, o);
    ASSERT_NE(db, nullptr);
    Findings f;
    if (Op* op = m.InFlight()) {
      op->resolved = Resolve(*db, m, *op, &f);
      m.Apply(*op, *op->resolved);
    }
    CheckRows(*db, m, &f);
    ASSERT_OK(db->WaitForIndexing());
    CheckGraph(*db, lines, &f);
    CheckSearches(*db, m, it, &f);
    ExpectClean(f, it);
    EXPECT_GT(f.live, 0u);
    ASSERT_OK(db->Close());
    if (::testing::Test::HasFailure()) return;
    std::printf("iteration %llu: %llu statements acknowledged so far, %llu live rows\n",
                static_cast<unsigned long long>(it), static_cast<unsigned long long>(statements),
                static_cast<unsigned long long>(f.live));
  }
}

}  // namespace
}  // namespace mrldb::crash
