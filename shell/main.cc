// mrldb: the command-line shell.
//
//   mrldb [--db PATH] [--memory-budget SIZE] [-c SQL]... [-f FILE]
//         [--format table|csv|json|jsonl] [--continue-on-error] [--no-wait] [--version] [--help]
//   mrldb connect HOST:PORT [--token-file F] [the same options but --db]
//   mrldb demo [--rows N] [--db PATH]
// (AddShellOptions below; CLI11 through cli/cli.h: options before or after the subcommand.)
//
// Statements come from -c (repeatable), -f, or standard input. On a terminal the shell is
// interactive: statements may span lines until ';', and backslash commands (\help) work.
// Without a terminal, the first error stops the run with exit status 1 (unless
// --continue-on-error); errors go to standard error with the statement line and a caret.
// A run from -c, -f or stdin on a local database waits before it exits until the HNSW graphs
// of the collections it wrote to cover their rows (WAIT FOR INDEX; --no-wait skips it): the
// background indexer runs only while a process holds the database.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "cli/cli.h"
#include "mrldb/database.h"
#include "mrldb/synthetic.h"
#include "server/server.h"
#include "shell/shell.h"

namespace {

using mrldb::shell::Shell;

// What the command line asked for.
struct ShellArgs {
  std::string path = "./mrldb-data";
  std::vector<std::string> commands;  // -c, in order
  std::string file;                   // -f
  mrldb::shell::OutputFormat format = mrldb::shell::OutputFormat::kTable;
  bool keep_going = false;
  bool no_wait = false;
  CLI::App* demo = nullptr;  // parsed() after `mrldb demo`
  uint64_t demo_rows = 20000;
  std::string address, token_file;  // connect HOST:PORT [--token-file F]
  std::optional<uint64_t> memory_budget;  // --memory-budget
  unsigned storage_read_depth = 0;        // --storage-read-depth
};

// Every option and subcommand of mrldb, mrldb demo and mrldb connect: the one place to add one.
// The subcommands fall through, so that the shell's options may come before or after them.
void AddShellOptions(CLI::App* app, ShellArgs* a) {
  app->require_subcommand(0, 1);
  CLI::Option* db = app->add_option("--db", a->path,
                                    "database directory (created when missing). Default: ./mrldb-data")
                        ->type_name("PATH");
  mrldb::cli::AddMemoryBudget(app, &a->memory_budget);
  mrldb::cli::AddStorageReadDepth(app, &a->storage_read_depth);
  app->add_option("-c", a->commands, "run SQL or one backslash command (repeatable), then exit")
      ->type_name("SQL")
      ->allow_extra_args(false);
  app->add_option("-f", a->file, "run the statements in FILE, then exit")->type_name("FILE");
  app->add_option_function<std::string>(
         "--format",
         [a](const std::string& v) { mrldb::shell::ParseOutputFormat(v, &a->format); },
         "output format. Default: table")
      ->type_name("table|csv|json|jsonl")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            mrldb::shell::OutputFormat f;
            return mrldb::shell::ParseOutputFormat(v, &f)
                       ? "" : fmt::format("unknown format '{}' (table, csv, json or jsonl)", v);
          },
          ""));
  app->add_flag("--continue-on-error", a->keep_going,
                "keep going after a failed statement (exit status 1 at the end)");
  app->add_flag("--no-wait", a->no_wait,
                "exit after -c, -f or stdin without waiting for the index build of the "
                "collections written to (the next open goes on with it; rows not yet indexed "
                "are scanned meanwhile)");
  CLI::App* connect = app->add_subcommand(
      "connect", "run the shell against `mrldb serve` instead of a local database");
  connect->fallthrough();
  connect->add_option("address", a->address, "the server's address")
      ->type_name("HOST:PORT")
      ->required();
  connect->add_option("--token-file", a->token_file,
                      "the server's token (F without its trailing newline)")
      ->type_name("F");
  connect->excludes(db);
  a->demo = app->add_subcommand("demo", "create a synthetic Matryoshka collection 'demo' "
                                        "(20,000 x 256 by default) and show funnel searches on it");
  a->demo->fallthrough();
  a->demo->add_option("--rows", a->demo_rows, "rows of the collection. Default: 20000")
      ->check(mrldb::cli::Integer(100, 10000000));
  // `mrldb serve ...` is dispatched before the parse (its options are its own); listed here so
  // that --help shows it.
  app->add_subcommand("serve", "the TCP server (mrldb serve --help)")->prefix_command();
}

// `mrldb demo`: a synthetic Matryoshka collection and a few searches, so that a new user sees
// the funnel at work in the first minute.
int Demo(mrldb::Database& db, Shell& shell, uint64_t rows, const std::string& path) {
  constexpr uint32_t kDim = 256;
  mrldb::SyntheticOptions so;
  so.dim = kDim;
  mrldb::SyntheticGenerator gen(so);
  if (!db.DescribeCollection("demo").ok()) {
    fmt::print("creating collection 'demo': {} synthetic Matryoshka vectors of {} dims...\n", rows, kDim);
    if (!shell.RunScript("CREATE COLLECTION demo (id BIGINT PRIMARY KEY, embedding VECTOR(256) "
                         "METRIC COSINE, topic INT)")) {
      return 1;
    }
    for (uint64_t first = 0; first < rows; first += 5000) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(5000, rows - first));
      auto data = gen.Rows(first, n);
      mrldb::InsertBatch batch;
      for (size_t i = 0; i < n; ++i) {
        batch.Add(mrldb::Key{int64_t(first + i)}, std::span<const float>(data.data() + i * kDim, kDim),
                  {mrldb::Value{int64_t((first + i) % 16)}});
      }
      if (auto st = db.Insert("demo", batch); !st.ok()) {
        fmt::print(stderr, "mrldb: {}\n", st.ToString());
        return 1;
      }
    }
    if (auto st = db.WaitForIndexing(); !st.ok()) return 1;
  }
  auto q = gen.Queries(0, 1);
  std::string vec = "[";
  for (size_t i = 0; i < q.size(); ++i) vec += fmt::format("{}{:.4f}", i ? ", " : "", q[i]);
  vec += "]";
  const std::string short_vec = "[" + fmt::format("{:.4f}, {:.4f}, ...", q[0], q[1]) + "]";
  const std::pair<const char*, std::string> steps[] = {
      {"The collection: a 256-dim vector stored once, column-blocked by the Matryoshka ladder",
       "DESCRIBE demo"},
      {"A search with the default plan: HNSW on the 64-dim prefix, then re-ranking at 128 and 256",
       "SELECT id, topic, distance FROM demo ORDER BY embedding <=> " + vec + " LIMIT 5"},
      {"What each stage did, and the recall of this query against exact search",
       "EXPLAIN (ANALYZE, RECALL) SELECT id FROM demo ORDER BY embedding <=> " + vec +
           " LIMIT 5 USING FUNNEL (64 KEEP 100, 128 KEEP 20, 256)"},
      {"With a filter", "SELECT id, topic, distance FROM demo WHERE topic IN (3, 7) ORDER BY "
                        "embedding <=> " + vec + " LIMIT 5"},
  };
  for (const auto& [what, sql] : steps) {
    std::string shown = sql;
    if (size_t at = shown.find(vec); at != std::string::npos) shown.replace(at, vec.size(), short_vec);
    fmt::print("\n-- {}\nmrldb> {};\n", what, shown);
    if (!shell.RunScript(sql)) return 1;
  }
  // Where the data went, and one search to copy and run again (the whole query vector).
  std::error_code ec;
  const std::string where = std::filesystem::absolute(path, ec).lexically_normal().string();
  std::string quoted = "'";
  for (char c : where) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted += "'";
  fmt::print("\nThe 'demo' collection is stored in the database at {}; it stays there.\n"
             "Run a search on it again (or open the shell with mrldb --db {}):\n\n"
             "  mrldb --db {} -c \"SELECT id, topic, distance FROM demo ORDER BY embedding <=> {} LIMIT 5\"\n",
             where, quoted, quoted, vec);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "serve") return mrldb::ServeMain(argc - 1, argv + 1);
  CLI::App app{"mrldb: the shell. Statements come from -c, -f or standard input; on a terminal "
               "the shell is interactive (\\help lists its commands).",
               "mrldb"};
  mrldb::cli::Setup(&app);
  ShellArgs args;
  AddShellOptions(&app, &args);
  if (int rc = mrldb::cli::Parse(&app, argc, argv); rc >= 0) return rc;
  if (app.got_subcommand("serve")) {
    fmt::print(stderr, "mrldb: serve comes first, with its own options: mrldb serve --help\n");
    return 2;
  }
  const std::string& path = args.path;
  const std::vector<std::string>& commands = args.commands;
  const std::string& file = args.file;
  const std::string& address = args.address;
  const bool keep_going = args.keep_going, no_wait = args.no_wait;
  const bool demo = args.demo->parsed();
  Shell shell;
  shell.format = args.format;
  shell.keep_going = keep_going;
  shell.interactive = commands.empty() && file.empty() && !demo && isatty(STDIN_FILENO);
  shell.progress = mrldb::shell::StderrIsTerminal();
  auto progress = [&shell](const mrldb::CopyProgress& p) { return shell.OnProgress(p); };
  std::string token;
  if (!args.token_file.empty()) {
    auto read = mrldb::ReadTokenFile(args.token_file);  // the same bytes the server reads
    if (!read.ok()) {
      fmt::print(stderr, "mrldb: {}\n", read.status().message());
      return 2;
    }
    token = std::move(read).value();
  }
  // Only an interactive session tunes default plans in the background (docs/sql.md).
  auto backend = address.empty() ? mrldb::shell::OpenLocal(path, progress, shell.interactive, args.memory_budget,
                                                               args.storage_read_depth)
                                 : mrldb::shell::Connect(address, token, progress);
  if (!backend.ok()) {
    fmt::print(stderr, "mrldb: cannot {} '{}': {}\n", address.empty() ? "open" : "connect to",
               address.empty() ? path : address, backend.status().ToString());
    return 1;
  }
  shell.backend = backend->get();
  auto run = [&](std::string_view sql) { return shell.RunScript(sql) || keep_going; };
  auto command = [&](const std::string& text) { return shell.RunCommand(text); };
  bool ok = true;
  if (demo) {
    const int rc = Demo(*(*backend)->local(), shell, args.demo_rows, path);
    mrldb::Status st = (*backend)->Close();
    return rc != 0 ? rc : (st.ok() ? 0 : 1);
  }
  if (!commands.empty() || !file.empty()) {
    for (const auto& c : commands) {
      if (!(ok = command(c))) break;
    }
    if (ok && !file.empty()) {
      std::ifstream f(file);
      if (f) {
        std::stringstream ss;
        ss << f.rdbuf();
        run(ss.str());
      } else {
        fmt::print(stderr, "mrldb: cannot read '{}'\n", file);
        shell.failed = true;
      }
    }
  } else if (shell.interactive) {
    shell.Interactive();
    shell.failed = false;  // errors were shown as they happened; the session itself succeeded
  } else {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    run(ss.str());
  }
  // A server keeps indexing after a remote run; an interactive session waited after its COPYs.
  if (!shell.interactive && !no_wait && (*backend)->local() != nullptr) {
    shell.WaitForWrittenIndexes();
  }
  mrldb::Status st = (*backend)->Close();
  if (!st.ok()) {
    fmt::print(stderr, "mrldb: {}\n", st.ToString());
    return 1;
  }
  return shell.failed ? 1 : 0;
}
