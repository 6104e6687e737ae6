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
#include "tests/test_util.h"

namespace mrldb::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::stringstream ss;
  ss << std::ifstream(path).rdbuf();
  return ss.str();
}

// `mrldb serve ARGS... --listen 127.0.0.1:0` as a child process, standard error in a file.
class ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> args, const std::string& log) : log_(log) {
    args.insert(args.begin(), {MRLDB_SHELL, "serve"});
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = std::fopen(log.c_str(), "w");
      if (f) dup2(fileno(f), 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~ServeProcess() {
    if (pid_ > 0 && !waited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // The port from "listening on 127.0.0.1:PORT", waiting up to 20 s; 0 when the line never came.
  uint16_t WaitForPort() {
    const std::regex re("listening on 127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 2000; ++i) {
      std::smatch m;
      const std::string log = ReadFile(log_);
      if (std::regex_search(log, m, re)) return static_cast<uint16_t>(std::stoi(m[1]));
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        waited_ = true;
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
  }
  // Sends `sig` and returns the exit status (-1 when it did not exit normally within 30 s).
  int Stop(int sig) {
    kill(pid_, sig);
    for (int i = 0; i < 3000; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        waited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  bool waited_ = false;
};

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

}  // namespace
}  // namespace mrldb::testing
