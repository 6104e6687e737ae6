// mrldb: the command-line shell.
//
//   mrldb [--db PATH] [-c SQL]... [-f FILE] [--format table|csv|json|jsonl]
//         [--continue-on-error] [--version] [--help]
//
// Statements come from -c (repeatable), -f, or standard input. On a terminal the shell is
// interactive: statements may span lines until ';', and backslash commands (\help) work.
// Without a terminal, the first error stops the run with exit status 1 (unless
// --continue-on-error); errors go to standard error with the statement line and a caret.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "cuda/gpu_info.h"
#include "mrldb/database.h"
#include "mrldb/session.h"
#include "query/parser.h"
#include "shell/format.h"

namespace {

constexpr char kUsage[] =
    "usage: mrldb [--db PATH] [-c SQL]... [-f FILE] [--format table|csv|json|jsonl]\n"
    "             [--continue-on-error] [--version] [--help]\n"
    "  --db PATH             database directory (created when missing). Default: ./mrldb-data\n"
    "  -c SQL                run SQL (repeatable), then exit\n"
    "  -f FILE               run the statements in FILE, then exit\n"
    "  --format F            output format. Default: table\n"
    "  --continue-on-error   keep going after a failed statement (exit status 1 at the end)\n";

constexpr char kHelp[] =
    "Statements end with ';' (see docs/sql.md). Backslash commands:\n"
    "  \\d            list collections          \\d NAME   describe a collection\n"
    "  \\timing       toggle timing             \\mode F   output format (table, csv, json, jsonl)\n"
    "  \\i FILE       run statements from FILE  \\o FILE   send results to FILE (\\o alone: back)\n"
    "  \\gpu          show GPU status           \\q        quit\n";

struct Shell {
  mrldb::Session* session;
  mrldb::shell::OutputFormat format = mrldb::shell::OutputFormat::kTable;
  bool timing = false;
  FILE* out = stdout;
  bool keep_going = false;  // continue after a failed statement (still exit 1)
  bool failed = false;

  // Runs every statement of `sql`; returns false after the first failure.
  bool RunScript(std::string_view sql) {
    auto statements = mrldb::query::ParseScript(sql);
    if (!statements.ok()) {
      fmt::print(stderr, "{}\n", mrldb::FormatError(sql, statements.status()));
      failed = true;
      return false;
    }
    for (const auto& st : *statements) {
      const auto t0 = std::chrono::steady_clock::now();
      auto r = session->Execute(st.text);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!r.ok()) {
        fmt::print(stderr, "{}\n", mrldb::FormatError(st.text, r.status()));
        failed = true;
        if (!keep_going) return false;
        continue;
      }
      mrldb::shell::PrintResult(*r, format, out);
      if (timing) fmt::print(out, "Time: {:.3f} ms\n", ms);
      std::fflush(out);
    }
    return true;
  }

  // Backslash commands; returns false for \q.
  bool Meta(const std::string& line) {
    std::istringstream in(line);
    std::string cmd, arg;
    in >> cmd;
    std::getline(in >> std::ws, arg);
    if (cmd == "\\q") return false;
    if (cmd == "\\d") {
      RunScript(arg.empty() ? "SHOW COLLECTIONS" : "DESCRIBE " + arg);
    } else if (cmd == "\\timing") {
      timing = !timing;
      fmt::print("Timing is {}.\n", timing ? "on" : "off");
    } else if (cmd == "\\mode") {
      if (!mrldb::shell::ParseOutputFormat(arg, &format)) fmt::print(stderr, "unknown format '{}'\n", arg);
    } else if (cmd == "\\i") {
      std::ifstream f(arg);
      if (!f) {
        fmt::print(stderr, "cannot read '{}'\n", arg);
      } else {
        std::stringstream ss;
        ss << f.rdbuf();
        RunScript(ss.str());
      }
    } else if (cmd == "\\o") {
      if (out != stdout) std::fclose(out);
      out = stdout;
      if (!arg.empty() && !(out = std::fopen(arg.c_str(), "w"))) {
        fmt::print(stderr, "cannot write '{}'\n", arg);
        out = stdout;
      }
    } else if (cmd == "\\gpu") {
      auto devices = mrldb::gpu::ListDevices();
      if (!devices.ok()) fmt::print("GPU: none ({})\n", devices.status().message());
      else for (const auto& d : *devices) fmt::print("GPU {}: {} ({:.1f} GiB)\n", d.index, d.name, d.total_memory / double(1u << 30));
    } else {
      fmt::print("{}", kHelp);
    }
    return true;
  }

  void Interactive(const std::string& path) {
    fmt::print("mrldb {} - database '{}'. Type \\help for help, \\q to quit.\n", MRLDB_VERSION, path);
    std::string buffer, line;
    for (;;) {
      fmt::print("{}", buffer.empty() ? "mrldb> " : "  ...> ");
      std::fflush(stdout);
      if (!std::getline(std::cin, line)) break;
      if (buffer.empty() && !line.empty() && line[0] == '\\') {
        if (!Meta(line)) break;
        continue;
      }
      buffer += line + "\n";
      const size_t end = buffer.find_last_not_of(" \t\r\n");
      if (end != std::string::npos && buffer[end] == ';') {
        RunScript(buffer);
        buffer.clear();
      }
    }
    if (!buffer.empty()) RunScript(buffer);
    fmt::print("\n");
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string path = "./mrldb-data";
  std::vector<std::string> commands;
  std::string file;
  bool keep_going = false;
  mrldb::shell::OutputFormat format = mrldb::shell::OutputFormat::kTable;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "mrldb: {} needs a value\n{}", a, kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--db") path = value();
    else if (a == "-c") commands.push_back(value());
    else if (a == "-f") file = value();
    else if (a == "--format") {
      if (!mrldb::shell::ParseOutputFormat(value(), &format)) {
        fmt::print(stderr, "mrldb: unknown format '{}'\n{}", argv[i], kUsage);
        return 2;
      }
    } else if (a == "--continue-on-error") keep_going = true;
    else if (a == "--version") {
      fmt::print("mrldb {}\n", MRLDB_VERSION);
      return 0;
    } else if (a == "--help" || a == "-h") {
      fmt::print("{}", kUsage);
      return 0;
    } else {
      fmt::print(stderr, "mrldb: unknown argument '{}'\n{}", a, kUsage);
      return 2;
    }
  }
  auto db = mrldb::Database::Open(path);
  if (!db.ok()) {
    fmt::print(stderr, "mrldb: cannot open '{}': {}\n", path, db.status().ToString());
    return 1;
  }
  mrldb::Session session(db->get());
  Shell shell{&session, format};
  shell.keep_going = keep_going;
  auto run = [&](std::string_view sql) { return shell.RunScript(sql) || keep_going; };
  bool ok = true;
  if (!commands.empty() || !file.empty()) {
    for (const auto& c : commands) {
      if (!(ok = run(c))) break;
    }
    if (ok && !file.empty()) {
      std::ifstream f(file);
      if (!f) {
        fmt::print(stderr, "mrldb: cannot read '{}'\n", file);
        return 1;
      }
      std::stringstream ss;
      ss << f.rdbuf();
      run(ss.str());
    }
  } else if (isatty(STDIN_FILENO)) {
    shell.Interactive(path);
  } else {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    run(ss.str());
  }
  mrldb::Status st = (*db)->Close();
  if (!st.ok()) {
    fmt::print(stderr, "mrldb: {}\n", st.ToString());
    return 1;
  }
  return shell.failed ? 1 : 0;
}
