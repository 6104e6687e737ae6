// The interactive shell through a pseudo-terminal: prompts, a statement spanning lines, errors
// with a caret, backslash commands, the history file, progress bars, and Ctrl-C.
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/serve_process.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

class Pty {
 public:
  // `mrldb --db DB [ARGS]`, or `mrldb connect HOST:PORT [ARGS]` when `db` starts with "connect ".
  Pty(const std::string& db, const std::string& history, std::vector<std::string> args = {}) {
    const bool connect = db.rfind("connect ", 0) == 0;
    args.insert(args.begin(), {"mrldb", connect ? "connect" : "--db", connect ? db.substr(8) : db});
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = forkpty(&fd_, nullptr, nullptr, nullptr);
    if (pid_ == 0) {
      setenv("MRLDB_HISTORY", history.c_str(), 1);
      setenv("TERM", "dumb", 1);
      execv(MRLDB_SHELL, argv.data());
      _exit(127);
    }
  }
  ~Pty() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return pid_ > 0 && fd_ >= 0; }
  // Ctrl-C, as the terminal sends it (the line discipline raises SIGINT).
  void Interrupt() { Send("\x03"); }
  void Send(const std::string& s) { ASSERT_EQ(write(fd_, s.data(), s.size()), ssize_t(s.size())); }
  // Reads until `text` appears in the output (true) or 60 s pass (false): a bound for a hung
  // shell, far above what a loaded 2-core machine needs (a COPY of 300,000 rows beside a
  // benchmark's disk scans took more than 10 s).
  bool WaitFor(const std::string& text) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (out_.find(text, seen_) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) > 0) {
        char buf[4096];
        const ssize_t n = read(fd_, buf, sizeof buf);
        if (n <= 0) return false;
        out_.append(buf, size_t(n));
      }
    }
    seen_ = out_.find(text, seen_) + text.size();
    return true;
  }
  int Wait() {
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) return -1;
      char buf[4096];
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) > 0 && read(fd_, buf, sizeof buf) <= 0) continue;
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  const std::string& output() const { return out_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string out_;
  size_t seen_ = 0;
};

TEST(ShellPty, InteractiveSessionWithHistory) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string history = dir.path() + "/history";
  Pty pty(dir.path() + "/db", history);
  ASSERT_TRUE(pty.ok());
  ASSERT_TRUE(pty.WaitFor("mrldb> ")) << pty.output();
  pty.Send("CREATE COLLECTION c (id BIGINT PRIMARY KEY,\r");
  ASSERT_TRUE(pty.WaitFor("...> ")) << pty.output();  // the statement continues
  pty.Send("embedding VECTOR(2) METRIC L2);\r");
  ASSERT_TRUE(pty.WaitFor("CREATE COLLECTION\r\n")) << pty.output();
  pty.Send("INSERT INTO c VALUES (1, [1, 2]), (2, [3, 4]);\r");
  ASSERT_TRUE(pty.WaitFor("INSERT 2")) << pty.output();
  pty.Send("SELECT id, distance FROM c ORDER BY embedding <-> [3, 4] LIMIT 1;\r");
  ASSERT_TRUE(pty.WaitFor("(1 row)")) << pty.output();
  pty.Send("SELECT nope FROM c;\r");
  ASSERT_TRUE(pty.WaitFor("has no column \"nope\"")) << pty.output();
  ASSERT_TRUE(pty.WaitFor("^")) << pty.output();
  // Two statements on one line: the first runs and prints before the second's error.
  pty.Send("SELECT id FROM c WHERE id = 2; SELECT UPPER(id) FROM c;\r");
  ASSERT_TRUE(pty.WaitFor("(1 row)")) << pty.output();
  ASSERT_TRUE(pty.WaitFor("LINE 1: SELECT UPPER(id) FROM c\r\n                    ^")) << pty.output();
  pty.Send("\\d\r");
  ASSERT_TRUE(pty.WaitFor("(1 row)")) << pty.output();
  pty.Send("\\q\r");
  EXPECT_EQ(pty.Wait(), 0) << pty.output();
  const std::string h = testing::ReadFile(history);
  EXPECT_NE(h.find("INSERT\\040INTO\\040c"), std::string::npos) << h;
  // The statement typed over two lines is one history entry.
  EXPECT_NE(h.find("PRIMARY\\040KEY,\\040embedding\\040VECTOR(2)"), std::string::npos) << h;
  // A new session starts with that history (the database kept the rows too).
  Pty again(dir.path() + "/db", history);
  ASSERT_TRUE(again.WaitFor("mrldb> ")) << again.output();
  again.Send("SELECT id FROM c;\r");
  ASSERT_TRUE(again.WaitFor("(2 rows)")) << again.output();
  again.Send("\\q\r");
  EXPECT_EQ(again.Wait(), 0);
}

// Tab completes keywords, collections and the named collection's columns; long results go
// through the pager ($PAGER) unless \pset pager off; \x; an unknown command is an error.
TEST(ShellPty, CompletionPagerAndExpandedDisplay) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path());
  setenv("PAGER", "sed s/^/PAGED:/", 1);
  Pty pty(dir.path() + "/db", dir.path() + "/history");
  unsetenv("PAGER");
  ASSERT_TRUE(pty.ok());
  ASSERT_TRUE(pty.WaitFor("mrldb> ")) << pty.output();
  pty.Send("CREATE COLLECTION things (id BIGINT PRIMARY KEY, embedding VECTOR(2) METRIC L2, title TEXT);\r");
  ASSERT_TRUE(pty.WaitFor("CREATE COLLECTION\r\n")) << pty.output();
  std::string values;
  for (int i = 0; i < 40; ++i) values += (i ? ", (" : "(") + std::to_string(i) + ", [1, 2], 't')";
  pty.Send("INSERT INTO things VALUES " + values + ";\r");
  ASSERT_TRUE(pty.WaitFor("INSERT 40")) << pty.output();
  pty.Send("sel\t");
  ASSERT_TRUE(pty.WaitFor("select ")) << pty.output();
  pty.Send("id FROM thi\t");
  ASSERT_TRUE(pty.WaitFor("things ")) << pty.output();
  pty.Send("WHERE tit\t");
  ASSERT_TRUE(pty.WaitFor("title ")) << pty.output();
  pty.Send("= 't' LIMIT 1;\r");
  ASSERT_TRUE(pty.WaitFor("(1 row)")) << pty.output();
  pty.Send("SELECT id FROM things;\r");
  ASSERT_TRUE(pty.WaitFor("PAGED:(40 rows)")) << pty.output();
  pty.Send("\\pset pager off\r");
  ASSERT_TRUE(pty.WaitFor("Pager usage is off.")) << pty.output();
  pty.Send("SELECT id FROM things;\r");
  ASSERT_TRUE(pty.WaitFor("\r\n(40 rows)")) << pty.output();
  pty.Send("\\x\r");
  ASSERT_TRUE(pty.WaitFor("Expanded display is on.")) << pty.output();
  pty.Send("SELECT id, title FROM things WHERE id = 3;\r");
  ASSERT_TRUE(pty.WaitFor("-[ RECORD 1 ]-")) << pty.output();
  ASSERT_TRUE(pty.WaitFor("title | t")) << pty.output();
  pty.Send("\\tming\r");
  ASSERT_TRUE(pty.WaitFor("invalid command \\tming; did you mean \\timing?")) << pty.output();
  pty.Send("\\h wait\r");
  ASSERT_TRUE(pty.WaitFor("wait          = \"WAIT\" \"FOR\" \"INDEX\"")) << pty.output();
  pty.Send("\\q\r");
  EXPECT_EQ(pty.Wait(), 0) << pty.output();
}

TEST(ShellPty, CtrlCCancelsACopyAndKeepsTheShell) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string npy = dir.path() + "/v.npy";
  testing::WriteNpy(npy, 400000, 8);
  Pty pty(dir.path() + "/db", dir.path() + "/history");
  ASSERT_TRUE(pty.ok());
  ASSERT_TRUE(pty.WaitFor("mrldb> ")) << pty.output();
  pty.Send("CREATE COLLECTION v (id BIGINT PRIMARY KEY, embedding VECTOR(8) METRIC L2);\r");
  ASSERT_TRUE(pty.WaitFor("CREATE COLLECTION\r\n")) << pty.output();
  // Small batches: the COPY takes seconds, and the progress bar shows after the first one.
  pty.Send("COPY v FROM '" + npy + "' WITH (batch_size 200);\r");
  ASSERT_TRUE(pty.WaitFor("COPY [")) << pty.output();
  ASSERT_TRUE(pty.WaitFor("/ 400,000 rows")) << pty.output();
  pty.Interrupt();
  ASSERT_TRUE(pty.WaitFor("COPY cancelled after ")) << pty.output();
  ASSERT_TRUE(pty.WaitFor("mrldb> ")) << pty.output();
  // The shell is alive and the committed batches stay: whole batches only.
  pty.Send("SELECT id FROM v WHERE id = 199;\r");
  ASSERT_TRUE(pty.WaitFor("(1 row)")) << pty.output();
  pty.Send("\\q\r");
  EXPECT_EQ(pty.Wait(), 0) << pty.output();
}

TEST(ShellPty, IndexBuildProgressAfterCopyStopsOnCtrlC) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string npy = dir.path() + "/v.npy";
  testing::WriteNpy(npy, 300000, 16);
  Pty pty(dir.path() + "/db", dir.path() + "/history");
  ASSERT_TRUE(pty.ok());
  ASSERT_TRUE(pty.WaitFor("mrldb> ")) << pty.output();
  pty.Send("CREATE COLLECTION v (id BIGINT PRIMARY KEY, embedding VECTOR(16) METRIC L2);\r");
  ASSERT_TRUE(pty.WaitFor("CREATE COLLECTION\r\n")) << pty.output();
  pty.Send("COPY v FROM '" + npy + "' WITH (batch_size 100000);\r");
  ASSERT_TRUE(pty.WaitFor("COPY 300000")) << pty.output();
  // The background HNSW build of 300,000 rows takes seconds on any machine: its bar shows.
  ASSERT_TRUE(pty.WaitFor("indexing [")) << pty.output();
  pty.Interrupt();
  ASSERT_TRUE(pty.WaitFor("indexing continues in the background")) << pty.output();
  ASSERT_TRUE(pty.WaitFor("mrldb> ")) << pty.output();
  pty.Send("\\q\r");
  EXPECT_EQ(pty.Wait(), 0) << pty.output();
}

// A script run (-f) on a terminal waits for the index build before it exits, with a bar;
// Ctrl-C stops the wait (the rows stay, the graph built so far is saved) and the run ends well.
TEST(ShellPty, ScriptRunShowsTheIndexBuildAndCtrlCEndsTheWait) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path());
  testing::WriteNpy(dir.path() + "/v.npy", 300000, 16);
  std::ofstream(dir.path() + "/load.sql")
      << "CREATE COLLECTION v (id BIGINT PRIMARY KEY, embedding VECTOR(16) METRIC L2);\n"
      << "COPY v FROM '" << dir.path() << "/v.npy' WITH (batch_size 100000);\n";
  Pty pty(dir.path() + "/db", dir.path() + "/history", {"-f", dir.path() + "/load.sql"});
  ASSERT_TRUE(pty.ok());
  ASSERT_TRUE(pty.WaitFor("COPY 300000")) << pty.output();
  ASSERT_TRUE(pty.WaitFor("indexing [")) << pty.output();
  ASSERT_TRUE(pty.WaitFor(" / 300,000 rows")) << pty.output();
  pty.Interrupt();
  ASSERT_TRUE(pty.WaitFor("WAIT FOR INDEX cancelled with ")) << pty.output();
  ASSERT_TRUE(pty.WaitFor("the next open of the database goes on indexing")) << pty.output();
  EXPECT_EQ(pty.Wait(), 0) << pty.output();
}

// The server runs WAIT FOR INDEX for the remote shell after a COPY: PROGRESS frames draw the
// bar, and Ctrl-C (a CANCEL frame) stops the wait, not the server's build.
TEST(ShellPty, ConnectShowsTheRemoteIndexBuildAndCtrlCStopsTheWait) {
  testing::TempDir dir;
  testing::NpyServer server(dir.path(), 300000, 16);
  const uint16_t port = server.WaitForPort();
  ASSERT_NE(port, 0) << testing::ReadFile(dir.path() + "/log");
  Pty pty("connect 127.0.0.1:" + std::to_string(port), dir.path() + "/history");
  ASSERT_TRUE(pty.ok());
  ASSERT_TRUE(pty.WaitFor("mrldb> ")) << pty.output();
  pty.Send("CREATE COLLECTION v (id BIGINT PRIMARY KEY, embedding VECTOR(16) METRIC L2);\r");
  ASSERT_TRUE(pty.WaitFor("CREATE COLLECTION\r\n")) << pty.output();
  pty.Send("COPY v FROM 'v.npy' WITH (batch_size 100000);\r");
  ASSERT_TRUE(pty.WaitFor("COPY 300000")) << pty.output();
  ASSERT_TRUE(pty.WaitFor("indexing [")) << pty.output();
  pty.Interrupt();
  ASSERT_TRUE(pty.WaitFor("WAIT FOR INDEX cancelled with ")) << pty.output();
  ASSERT_TRUE(pty.WaitFor("indexing continues in the background")) << pty.output();
  ASSERT_TRUE(pty.WaitFor("mrldb> ")) << pty.output();
  pty.Send("\\q\r");
  EXPECT_EQ(pty.Wait(), 0) << pty.output();
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST(ShellPty, ConnectShowsRemoteCopyProgressAndCtrlCCancelsIt) {
  testing::TempDir dir;
  testing::NpyServer server(dir.path(), 400000, 8);
  const uint16_t port = server.WaitForPort();
  ASSERT_NE(port, 0) << testing::ReadFile(dir.path() + "/log");
  Pty pty("connect 127.0.0.1:" + std::to_string(port), dir.path() + "/history");
  ASSERT_TRUE(pty.ok());
  ASSERT_TRUE(pty.WaitFor("server 127.0.0.1:")) << pty.output();  // the banner says where
  ASSERT_TRUE(pty.WaitFor("mrldb> ")) << pty.output();
  pty.Send("CREATE COLLECTION v (id BIGINT PRIMARY KEY, embedding VECTOR(8) METRIC L2);\r");
  ASSERT_TRUE(pty.WaitFor("CREATE COLLECTION\r\n")) << pty.output();
  pty.Send("COPY v FROM 'v.npy' WITH (batch_size 200);\r");
  ASSERT_TRUE(pty.WaitFor("/ 400,000 rows")) << pty.output();  // PROGRESS frames, drawn
  pty.Interrupt();  // -> CANCEL frame; the server's COPY stops between batches
  ASSERT_TRUE(pty.WaitFor("ERROR:  COPY stopped after ")) << pty.output();
  ASSERT_TRUE(pty.WaitFor("mrldb> ")) << pty.output();
  pty.Send("SELECT id FROM v WHERE id = 199;\r");
  ASSERT_TRUE(pty.WaitFor("(1 row)")) << pty.output();
  pty.Send("\\q\r");
  EXPECT_EQ(pty.Wait(), 0) << pty.output();
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace mrldb
