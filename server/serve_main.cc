// `mrldb serve`: command-line options, signals, and the database's lifetime around a Server.
#include <signal.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "server/server.h"

namespace mrldb {

namespace {

constexpr char kServeUsage[] =
    "usage: mrldb serve [--db PATH] [--listen HOST:PORT] [--token-file FILE]\n"
    "                   [--max-connections N] [--max-frame-bytes N] [--max-statement-bytes N]\n"
    "                   [--max-result-rows N] [--max-result-bytes N] [--idle-timeout S]\n"
    "                   [--max-connections-per-address N] [--max-backlog-bytes N] [--copy-dir DIR]\n"
    "                   [--index-checkpoint-rows N] [--index-checkpoint-seconds S]\n"
    "                   [--auto-tune on|off] [--auto-tune-min-rows N] [--auto-graph on|off]\n"
    "                   [--memory-budget SIZE]\n"
    "  --db PATH              database directory (created when missing). Default: ./mrldb-data\n"
    "  --listen HOST:PORT     address to listen on; port 0 picks a free port. Default: 127.0.0.1:7733\n"
    "                         (an address other than loopback requires --token-file)\n"
    "  --token-file FILE      clients must authenticate with the token in FILE (one line)\n"
    "  --max-connections N    connections at once; when all are taken the one idle longest\n"
    "                         is closed for a newcomer, or the newcomer refused. Default: 64\n"
    "  --max-connections-per-address N  connections one client IP may hold (0: no limit).\n"
    "                         Default: 32\n"
    "  --max-backlog-bytes N  reply bytes queued for clients over all connections; a result\n"
    "                         past it is an error. Default: 1073741824 (1 GiB)\n"
    "  --max-frame-bytes N    largest frame a client may send. Default: 67108864 (64 MiB)\n"
    "  --max-statement-bytes N  longest statement text. Default: 16777216 (16 MiB)\n"
    "  --max-result-rows N    larger results are an error, never truncated. Default: 1000000\n"
    "  --max-result-bytes N   the same for encoded result bytes. Default: 268435456 (256 MiB)\n"
    "  --idle-timeout S       close connections idle for S seconds (0: never). Default: 300\n"
    "  --copy-dir DIR         allow COPY FROM/TO with files inside DIR (refused without it)\n"
    "  --index-checkpoint-rows N  save a collection's graph in the background once N rows were\n"
    "                         indexed or deleted since its last save (0: never). Default: 50000\n"
    "  --index-checkpoint-seconds S  ... or once S seconds passed with changes (0: never).\n"
    "                         Default: 30\n"
    "  --auto-tune on|off     tune each collection's default plan in the background for its\n"
    "                         target_recall once its graph is built. Default: on\n"
    "  --auto-tune-min-rows N ... once it has at least N rows. Default: 1000\n"
    "  --auto-graph on|off    also choose each collection's index_dim and graph_codes by\n"
    "                         measurement, rebuilding the graph when another is clearly\n"
    "                         faster for the target (with --auto-tune on). Default: off\n"
    "  --memory-budget SIZE   memory for the whole database (K, M, G, T: 8G); vector blocks\n"
    "                         beyond it are read from storage. Default: no budget\n"
    "The server stops gracefully on SIGTERM or SIGINT. Protocol: docs/protocol.md.\n";

template <typename T>
bool ParseNumber(const std::string& text, T* out) {
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return err == std::errc() && end == text.data() + text.size();
}

}  // namespace

Result<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::IOError(fmt::format("cannot read the token file '{}'", path));
  std::stringstream ss;
  ss << f.rdbuf();
  std::string token = ss.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.empty()) return Status::InvalidArgument(fmt::format("the token file '{}' is empty", path));
  return token;
}

int ServeMain(int argc, char** argv) {
  std::string path = "./mrldb-data";
  std::string token_file;
  ServerOptions options;
  DatabaseOptions db_options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      fmt::print("{}", kServeUsage);
      return 0;
    }
    if (i + 1 >= argc) {
      fmt::print(stderr, "mrldb serve: {}\n{}", a.rfind("--", 0) == 0 ? a + " needs a value" : "unknown argument '" + a + "'",
                 kServeUsage);
      return 2;
    }
    const std::string v = argv[++i];
    bool ok = true;
    if (a == "--db") path = v;
    else if (a == "--listen") options.listen = v;
    else if (a == "--token-file") token_file = v;
    else if (a == "--max-connections") ok = ParseNumber(v, &options.max_connections) && options.max_connections > 0;
    else if (a == "--max-connections-per-address") ok = ParseNumber(v, &options.max_connections_per_address);
    else if (a == "--max-backlog-bytes") ok = ParseNumber(v, &options.max_backlog_bytes) && options.max_backlog_bytes > 0;
    else if (a == "--max-frame-bytes") ok = ParseNumber(v, &options.max_frame_bytes);
    else if (a == "--max-statement-bytes") ok = ParseNumber(v, &options.max_statement_bytes) && options.max_statement_bytes > 0;
    else if (a == "--max-result-rows") ok = ParseNumber(v, &options.max_result_rows) && options.max_result_rows > 0;
    else if (a == "--max-result-bytes") ok = ParseNumber(v, &options.max_result_bytes) && options.max_result_bytes > 0;
    else if (a == "--idle-timeout") ok = ParseNumber(v, &options.idle_timeout_s) && options.idle_timeout_s >= 0;
    else if (a == "--copy-dir") options.copy_dir = v;
    else if (a == "--index-checkpoint-rows") ok = ParseNumber(v, &db_options.index_checkpoint_rows);
    else if (a == "--index-checkpoint-seconds") {
      ok = ParseNumber(v, &db_options.index_checkpoint_seconds) && db_options.index_checkpoint_seconds >= 0;
    }
    else if (a == "--auto-tune") {
      ok = v == "on" || v == "off";
      db_options.auto_tune = v == "on";
    }
    else if (a == "--auto-tune-min-rows") ok = ParseNumber(v, &db_options.auto_tune_min_rows);
    else if (a == "--memory-budget") {
      auto parsed = ParseMemoryBudget(v);
      if (!parsed.ok()) {
        fmt::print(stderr, "mrldb serve: --memory-budget: {}\n", parsed.status().message());
        return 2;
      }
      db_options.memory_budget_bytes = *parsed;
    }
    else if (a == "--auto-graph") {
      ok = v == "on" || v == "off";
      db_options.auto_graph = v == "on";
    }
    else {
      fmt::print(stderr, "mrldb serve: unknown argument '{}'\n{}", a, kServeUsage);
      return 2;
    }
    if (!ok) {
      fmt::print(stderr, "mrldb serve: bad value '{}' for {}\n{}", v, a, kServeUsage);
      return 2;
    }
  }
  if (!token_file.empty()) {
    auto token = ReadTokenFile(token_file);
    if (!token.ok()) {
      fmt::print(stderr, "mrldb serve: {}\n", token.status().message());
      return 1;
    }
    options.token = std::move(token).value();
  }
  if (options.copy_dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(*options.copy_dir, ec)) {
      fmt::print(stderr, "mrldb serve: --copy-dir '{}' is not a directory\n", *options.copy_dir);
      return 1;
    }
  }
  if (Status s = Server::Validate(options); !s.ok()) {
    fmt::print(stderr, "mrldb serve: {}\n", s.message());
    return 1;
  }

  // SIGTERM and SIGINT are taken by sigwait below: blocked here, before any thread starts, so
  // that every thread inherits the mask and none is interrupted. A client that goes away must
  // not kill the server with SIGPIPE.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto db = Database::Open(path, db_options);
  if (!db.ok()) {
    fmt::print(stderr, "mrldb serve: cannot open '{}': {}\n", path, db.status().ToString());
    return 1;
  }
  auto server = Server::Start(db->get(), options);
  if (!server.ok()) {
    fmt::print(stderr, "mrldb serve: {}\n", server.status().message());
    (*db)->Close().IgnoreError();  // the start error is the one to report
    return 1;
  }
  fmt::print(stderr, "mrldb: serving database '{}'\n", path);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  fmt::print(stderr, "mrldb: received {}, stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Stop();
  server->reset();
  if (Status s = (*db)->Close(); !s.ok()) {
    fmt::print(stderr, "mrldb: closing the database failed: {}\n", s.ToString());
    return 1;
  }
  fmt::print(stderr, "mrldb: stopped\n");
  return 0;
}

}  // namespace mrldb
