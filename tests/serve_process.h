// `mrldb serve` as a child process for tests: its port from the log, and a graceful stop.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace mrldb::testing {

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

// `mrldb serve` over DIR/db whose COPY directory DIR/files holds v.npy (`rows` x `dim`, written
// by WriteNpy, with its ids file); its standard error in DIR/log.
class NpyServer : public ServeProcess {
 public:
  NpyServer(const std::string& dir, size_t rows, size_t dim)
      : ServeProcess(Args(dir, rows, dim), dir + "/log") {}

 private:
  static std::vector<std::string> Args(const std::string& dir, size_t rows, size_t dim) {
    std::filesystem::create_directories(dir + "/files");
    WriteNpy(dir + "/files/v.npy", rows, dim);
    return {"--db", dir + "/db", "--listen", "127.0.0.1:0", "--copy-dir", dir + "/files"};
  }
};

}  // namespace mrldb::testing
