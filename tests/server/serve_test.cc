// The real `mrldb serve` process: graceful stop on SIGTERM/SIGINT without losing an acknowledged
// write, the token file, and refusing a public address without a token.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mrldb/client.h"
#include "tests/serve_process.h"
#include "tests/test_util.h"

namespace mrldb::testing {
namespace {

TEST(Serve, SigtermStopsGracefullyWithoutLosingAnAcknowledgedWrite) {
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string db = dir.path() + "/db", log = dir.path() + "/log";
  ServeProcess server({"--db", db, "--listen", "127.0.0.1:0"}, log);
  const uint16_t port = server.WaitForPort();
  ASSERT_NE(port, 0) << ReadFile(log);
  const std::string address = fmt::format("127.0.0.1:{}", port);
  auto c = Client::Connect(address);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE((*c)->Execute("CREATE COLLECTION t (id BIGINT PRIMARY KEY, embedding VECTOR(2) METRIC L2, b INT)").ok());

  // Writers insert 20-row batches until the server goes away; every COMPLETE counts.
  std::atomic<int> acknowledged{0};
  std::atomic<int> next_batch{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&] {
      auto wc = Client::Connect(address);
      if (!wc.ok()) return;
      for (;;) {
        const int b = next_batch++;
        std::string sql = "INSERT INTO t VALUES ";
        for (int i = 0; i < 20; ++i) sql += fmt::format("{}({}, [{}, 1], {})", i ? ", " : "", b * 20 + i, i, b);
        auto r = (*wc)->Execute(sql);
        if (!r.ok()) return;  // the server is stopping
        ++acknowledged;
      }
    });
  }
  while (acknowledged < 30) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(server.Stop(SIGTERM), 0) << ReadFile(log);
  for (auto& t : writers) t.join();
  const std::string text = ReadFile(log);
  EXPECT_NE(text.find("received SIGTERM, stopping"), std::string::npos) << text;
  EXPECT_NE(text.find("mrldb: stopped"), std::string::npos) << text;

  const std::string log2 = dir.path() + "/log2";
  ServeProcess again({"--db", db, "--listen", "127.0.0.1:0"}, log2);
  const uint16_t port2 = again.WaitForPort();
  ASSERT_NE(port2, 0) << ReadFile(log2);
  auto c2 = Client::Connect(fmt::format("127.0.0.1:{}", port2));
  ASSERT_TRUE(c2.ok()) << c2.status().ToString();
  auto rows = (*c2)->Execute("SELECT b FROM t LIMIT 100000");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  std::map<int64_t, int> per_batch;
  for (const auto& row : rows->rows) ++per_batch[std::get<int64_t>(row[0])];
  // Every acknowledged batch is there, whole; nothing unacknowledged was committed.
  EXPECT_EQ(static_cast<int>(per_batch.size()), acknowledged.load());
  for (const auto& [b, n] : per_batch) EXPECT_EQ(n, 20) << "batch " << b;
  (*c2)->Close();
  EXPECT_EQ(again.Stop(SIGINT), 0) << ReadFile(log2);
}

TEST(Serve, TokenFileIsRequiredFromClients) {
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string token = dir.path() + "/token", log = dir.path() + "/log";
  std::ofstream(token) << "tok-123\n";
  ServeProcess server({"--db", dir.path() + "/db", "--listen", "127.0.0.1:0", "--token-file", token}, log);
  const uint16_t port = server.WaitForPort();
  ASSERT_NE(port, 0) << ReadFile(log);
  const std::string address = fmt::format("127.0.0.1:{}", port);
  EXPECT_FALSE(Client::Connect(address).ok());
  ClientOptions o;
  o.token = "tok-123";  // the file's trailing newline is not part of the token
  auto c = Client::Connect(address, o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE((*c)->Execute("SHOW COLLECTIONS").ok());
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST(Serve, RefusesAPublicAddressWithoutAToken) {
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string log = dir.path() + "/log";
  ServeProcess server({"--db", dir.path() + "/db", "--listen", "0.0.0.0:0"}, log);
  EXPECT_EQ(server.Stop(0), 1);  // signal 0: only wait for the exit
  EXPECT_NE(ReadFile(log).find("refusing to listen on 0.0.0.0:0 without a token"), std::string::npos)
      << ReadFile(log);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/db"));  // refused before opening anything
}

// Runs `command`, returning its exit status, standard output and standard error.
struct Ran {
  int status = -1;
  std::string out, err;
};
Ran RunCommand(const std::string& command, const std::string& dir) {
  const int raw = std::system((command + " >" + dir + "/out 2>" + dir + "/err </dev/null").c_str());
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, ReadFile(dir + "/out"), ReadFile(dir + "/err")};
}

TEST(Serve, ResultAndStatementLimitFlags) {
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string log = dir.path() + "/log";
  ServeProcess server({"--db", dir.path() + "/db", "--listen", "127.0.0.1:0", "--max-result-rows", "2",
                       "--max-statement-bytes", "200"}, log);
  const uint16_t port = server.WaitForPort();
  ASSERT_NE(port, 0) << ReadFile(log);
  auto c = Client::Connect(fmt::format("127.0.0.1:{}", port));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE((*c)->Execute("CREATE COLLECTION t (id BIGINT PRIMARY KEY, embedding VECTOR(1) METRIC L2)").ok());
  ASSERT_TRUE((*c)->Execute("INSERT INTO t VALUES (1, [1]), (2, [2]), (3, [3])").ok());
  EXPECT_TRUE((*c)->Execute("SELECT id FROM t LIMIT 2").ok());
  auto big = (*c)->Execute("SELECT id FROM t LIMIT 3");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("2"), std::string::npos) << big.status().message();
  auto long_sql = (*c)->Execute("SELECT id FROM t WHERE id IN (" + std::string(200, '1') + ")");
  ASSERT_FALSE(long_sql.ok());
  EXPECT_TRUE((*c)->Execute("SELECT id FROM t WHERE id = 1").ok());  // the connection stays
  (*c)->Close();
  EXPECT_EQ(server.Stop(SIGTERM), 0);
  // A bad value is a usage error.
  ServeProcess bad({"--db", dir.path() + "/db2", "--max-result-rows", "0"}, dir.path() + "/log2");
  EXPECT_EQ(bad.Stop(0), 2);
  EXPECT_NE(ReadFile(dir.path() + "/log2").find("--max-result-rows: bad value '0'"), std::string::npos);
  ServeProcess bad_checkpoint({"--db", dir.path() + "/db3", "--index-checkpoint-seconds", "-1"},
                              dir.path() + "/log3");
  EXPECT_EQ(bad_checkpoint.Stop(0), 2);
  EXPECT_NE(ReadFile(dir.path() + "/log3").find("--index-checkpoint-seconds: bad value '-1'"),
            std::string::npos);
  ServeProcess bad_tune({"--db", dir.path() + "/db4", "--auto-tune", "yes"}, dir.path() + "/log4");
  EXPECT_EQ(bad_tune.Stop(0), 2);
  EXPECT_NE(ReadFile(dir.path() + "/log4").find("--auto-tune: bad value 'yes'"),
            std::string::npos);
  ServeProcess bad_graph({"--db", dir.path() + "/db6", "--auto-graph", "1"}, dir.path() + "/log6");
  EXPECT_EQ(bad_graph.Stop(0), 2);
  EXPECT_NE(ReadFile(dir.path() + "/log6").find("--auto-graph: bad value '1'"), std::string::npos);
  ServeProcess bad_share({"--db", dir.path() + "/db7", "--auto-vacuum-share", "1.5"},
                         dir.path() + "/log7");
  EXPECT_EQ(bad_share.Stop(0), 2);
  EXPECT_NE(ReadFile(dir.path() + "/log7").find("--auto-vacuum-share: bad value '1.5'"),
            std::string::npos);
  ServeProcess bad_rows({"--db", dir.path() + "/db5", "--auto-tune-min-rows", "x"}, dir.path() + "/log5");
  EXPECT_EQ(bad_rows.Stop(0), 2);
  EXPECT_NE(ReadFile(dir.path() + "/log5").find("--auto-tune-min-rows: bad value 'x'"),
            std::string::npos);
}

TEST(Serve, ConnectRunsTheShellAgainstTheServer) {
  TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string token = dir.path() + "/token", log = dir.path() + "/log";
  std::ofstream(token) << "tok-9\n";
  ServeProcess server({"--db", dir.path() + "/db", "--listen", "127.0.0.1:0", "--token-file", token}, log);
  const uint16_t port = server.WaitForPort();
  ASSERT_NE(port, 0) << ReadFile(log);
  const std::string shell = fmt::format("{} connect 127.0.0.1:{} --token-file {}", MRLDB_SHELL, port, token);
  Ran r = RunCommand(shell + " --format csv -c \"CREATE COLLECTION t (id BIGINT PRIMARY KEY, "
                             "embedding VECTOR(2) METRIC L2)\" -c \"INSERT INTO t VALUES (1, [0, 1]), "
                             "(2, [5, 5])\" -c \"SELECT id, distance FROM t ORDER BY embedding <-> [0, 0] "
                             "LIMIT 1\"", dir.path());
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "id,distance\n1,1\n") << r.err;
  // Errors come back with their position: the caret is under the unknown column.
  r = RunCommand(shell + " -c \"SELECT nope FROM t\"", dir.path());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ERROR:  collection \"t\" has no column \"nope\"\nLINE 1: SELECT nope FROM t\n"
                   "               ^\n");
  // Statements on standard input, as with a local database.
  const int raw = std::system(fmt::format("echo 'SHOW COLLECTIONS;' | {} >{}/out 2>&1", shell, dir.path()).c_str());
  EXPECT_EQ(WEXITSTATUS(raw), 0);
  EXPECT_NE(ReadFile(dir.path() + "/out").find("(1 row)"), std::string::npos) << ReadFile(dir.path() + "/out");
  // A wrong token, a missing token file and a closed port are clear errors with exit status 1 or 2.
  std::ofstream(dir.path() + "/bad") << "wrong\n";
  r = RunCommand(fmt::format("{} connect 127.0.0.1:{} --token-file {}/bad -c 'SHOW COLLECTIONS'",
                             MRLDB_SHELL, port, dir.path()), dir.path());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("cannot connect to '127.0.0.1:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("token"), std::string::npos) << r.err;
  r = RunCommand(fmt::format("{} connect 127.0.0.1:{} --token-file {}/missing", MRLDB_SHELL, port,
                             dir.path()), dir.path());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("cannot read the token file"), std::string::npos) << r.err;
  r = RunCommand(fmt::format("{} connect 127.0.0.1:1 -c 'SHOW COLLECTIONS'", MRLDB_SHELL), dir.path());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("cannot connect to '127.0.0.1:1'"), std::string::npos) << r.err;
  EXPECT_EQ(server.Stop(SIGTERM), 0) << ReadFile(log);
}

}  // namespace
}  // namespace mrldb::testing
