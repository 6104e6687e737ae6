#include "shell/pager.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace mrldb::shell {
namespace {

// Whether `program` is an executable on $PATH.
bool OnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string PagerCommand() {
  for (const char* var : {"MRLDB_PAGER", "PAGER"}) {
    if (const char* p = std::getenv(var)) return p;
  }
  if (OnPath("less")) return "less -FRSX";
  if (OnPath("more")) return "more";
  return "";
}

size_t TerminalRows() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) return ws.ws_row;
  return 24;
}

}  // namespace

void ShowPaged(const std::string& text, bool always) {
  const size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  const std::string command = isatty(STDOUT_FILENO) ? PagerCommand() : "";
  if (command.empty() || (!always && lines + 1 < TerminalRows())) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return;
  }
  std::fflush(stdout);
  FILE* pipe = popen(command.c_str(), "w");
  if (pipe == nullptr) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return;
  }
  // Quitting the pager before the end closes the pipe: that must not end the shell.
  struct sigaction ignore {}, previous {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &previous);
  std::fwrite(text.data(), 1, text.size(), pipe);
  pclose(pipe);
  sigaction(SIGPIPE, &previous, nullptr);
}

}  // namespace mrldb::shell
