// `mrldb serve`: command-line options, signals, and the database's lifetime around a Server.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "cli/cli.h"
#include "server/server.h"

namespace mrldb {

namespace {

// Every option of `mrldb serve`, in the order --help shows them: the one place to add one.
void AddServeOptions(CLI::App* app, std::string* path, std::string* token_file,
                     ServerOptions* o, DatabaseOptions* db) {
  constexpr double kMax = 1.8446744073709552e19;
  app->add_option("--db", *path, "database directory (created when missing). Default: ./mrldb-data")
      ->type_name("PATH");
  app->add_option("--listen", o->listen,
                  "address to listen on; port 0 picks a free port. Default: 127.0.0.1:7733 "
                  "(an address other than loopback requires --token-file)")
      ->type_name("HOST:PORT");
  app->add_option("--token-file", *token_file,
                  "clients must authenticate with the token in FILE (one line)")
      ->type_name("FILE");
  app->add_option("--max-connections", o->max_connections,
                  "connections at once; when all are taken the one idle longest is closed for a "
                  "newcomer, or the newcomer refused. Default: 64")
      ->check(cli::Integer(1));
  app->add_option("--max-connections-per-address", o->max_connections_per_address,
                  "connections one client IP may hold (0: no limit). Default: 32")
      ->check(cli::Integer(0));
  app->add_option("--max-backlog-bytes", o->max_backlog_bytes,
                  "reply bytes queued for clients over all connections; a result past it is an "
                  "error. Default: 1073741824 (1 GiB)")
      ->check(cli::Integer(1));
  app->add_option("--max-frame-bytes", o->max_frame_bytes,
                  "largest frame a client may send. Default: 67108864 (64 MiB)")
      ->check(cli::Integer(0, 4294967295.0));
  app->add_option("--max-statement-bytes", o->max_statement_bytes,
                  "longest statement text. Default: 16777216 (16 MiB)")
      ->check(cli::Integer(1));
  app->add_option("--max-result-rows", o->max_result_rows,
                  "larger results are an error, never truncated. Default: 1000000")
      ->check(cli::Integer(1));
  app->add_option("--max-result-bytes", o->max_result_bytes,
                  "the same for encoded result bytes. Default: 268435456 (256 MiB)")
      ->check(cli::Integer(1));
  app->add_option("--idle-timeout", o->idle_timeout_s,
                  "close connections idle for S seconds (0: never). Default: 300")
      ->type_name("S")
      ->check(cli::Number(0, 1e9));
  app->add_option_function<std::string>(
         "--copy-dir", [o](const std::string& v) { o->copy_dir = v; },
         "allow COPY FROM/TO with files inside DIR (refused without it)")
      ->type_name("DIR");
  app->add_option("--index-checkpoint-rows", db->index_checkpoint_rows,
                  "save a collection's graph in the background once N rows were indexed or "
                  "deleted since its last save (0: never). Default: 50000")
      ->check(cli::Integer(0, kMax));
  app->add_option("--index-checkpoint-seconds", db->index_checkpoint_seconds,
                  "... or once S seconds passed with changes (0: never). Default: 30")
      ->type_name("S")
      ->check(cli::Number(0, 1e9));
  cli::AddOnOff(app, "--auto-tune", &db->auto_tune,
                "tune each collection's default plan in the background for its target_recall "
                "once its graph is built");
  app->add_option("--auto-tune-min-rows", db->auto_tune_min_rows,
                  "... once it has at least N rows. Default: 1000")
      ->check(cli::Integer(0, kMax));
  cli::AddOnOff(app, "--auto-graph", &db->auto_graph,
                "also choose each collection's index_dim and graph_codes by measurement, "
                "rebuilding the graph when another is clearly faster for the target (with "
                "--auto-tune on)");
  app->add_option("--auto-vacuum-share", db->auto_vacuum_share,
                  "vacuum a collection in the background once its rows deleted or replaced since "
                  "its last vacuum are this share of its rows (0: never). Default: 0.2")
      ->type_name("F")
      ->check(cli::Number(0, 1));
  app->add_option("--auto-vacuum-min-rows", db->auto_vacuum_min_rows,
                  "... and at least N rows. Default: 10000")
      ->check(cli::Integer(0, kMax));
  cli::AddMemoryBudget(app, &db->memory_budget_bytes);
  cli::AddStorageReadDepth(app, &db->storage_read_depth);
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
  CLI::App app{"mrldb serve: the TCP server. It stops gracefully on SIGTERM or SIGINT.",
               "mrldb serve"};
  cli::Setup(&app);
  app.footer("Protocol: docs/protocol.md.");
  AddServeOptions(&app, &path, &token_file, &options, &db_options);
  if (int rc = cli::Parse(&app, argc, argv); rc >= 0) return rc;
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
