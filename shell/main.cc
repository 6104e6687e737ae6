// mrldb: the command-line shell.
//
//   mrldb [--db PATH] [--memory-budget SIZE] [-c SQL]... [-f FILE]
//         [--format table|csv|json|jsonl] [--continue-on-error] [--no-wait] [--version] [--help]
//   mrldb connect HOST:PORT [--token-file F] [the same options but --db]
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

#include "mrldb/database.h"
#include "mrldb/synthetic.h"
#include "server/server.h"
#include "shell/shell.h"

namespace {

using mrldb::shell::Shell;

constexpr char kUsage[] =
    "usage: mrldb [--db PATH] [--memory-budget SIZE] [-c SQL]... [-f FILE] [--format F]\n"
    "             [--continue-on-error] [--no-wait] [--version] [--help]\n"
    "       mrldb [--db PATH] demo [--rows N]\n"
    "       mrldb connect HOST:PORT [--token-file F] [-c SQL]... [-f FILE] [--format F] ...\n"
    "       mrldb serve --help    (the TCP server)\n"
    "  --db PATH             database directory (created when missing). Default: ./mrldb-data\n"
    "  --memory-budget SIZE  memory for the whole database (K, M, G, T: 8G); vector blocks\n"
    "                        beyond it are read from storage. Default: no budget\n"
    "  -c SQL                run SQL or one backslash command (repeatable), then exit\n"
    "  -f FILE               run the statements in FILE, then exit\n"
    "  --format F            output format. Default: table\n"
    "  --continue-on-error   keep going after a failed statement (exit status 1 at the end)\n"
    "  --no-wait             exit after -c, -f or stdin without waiting for the index build of\n"
    "                        the collections written to (the next open goes on with it; rows not\n"
    "                        yet indexed are scanned meanwhile)\n"
    "  connect HOST:PORT     run the shell against `mrldb serve` instead of a local database\n"
    "  --token-file F        the server's token (F without its trailing newline), for connect\n"
    "  demo                  create a synthetic Matryoshka collection 'demo' (20,000 x 256 by\n"
    "                        default) and show funnel searches on it\n";

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
  std::string path = "./mrldb-data";
  std::vector<std::string> commands;
  std::string file;
  bool keep_going = false;
  bool no_wait = false;
  bool demo = false;
  uint64_t demo_rows = 20000;
  std::optional<uint64_t> memory_budget;  // --memory-budget
  std::string address, token_file;  // connect HOST:PORT [--token-file F]
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
    else if (a == "--memory-budget") {
      auto parsed = mrldb::ParseMemoryBudget(value());
      if (!parsed.ok()) {
        fmt::print(stderr, "mrldb: --memory-budget: {}\n", parsed.status().message());
        return 2;
      }
      memory_budget = *parsed;
    }
    else if (a == "-c") commands.push_back(value());
    else if (a == "-f") file = value();
    else if (a == "--format") {
      if (!mrldb::shell::ParseOutputFormat(value(), &format)) {
        fmt::print(stderr, "mrldb: unknown format '{}'\n{}", argv[i], kUsage);
        return 2;
      }
    } else if (a == "--continue-on-error") {
      keep_going = true;
    } else if (a == "--no-wait") {
      no_wait = true;
    } else if (a == "demo") {
      demo = true;
    } else if (a == "connect" && i == 1) {
      address = value();
    } else if (a == "--token-file" && !address.empty()) {
      token_file = value();
    } else if (a == "--rows" && demo) {
      demo_rows = std::strtoull(value().c_str(), nullptr, 10);
      if (demo_rows < 100 || demo_rows > 10000000) {
        fmt::print(stderr, "mrldb: demo --rows must be in 100..10000000\n");
        return 2;
      }
    } else if (a == "--version") {
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
  Shell shell;
  shell.format = format;
  shell.keep_going = keep_going;
  shell.interactive = commands.empty() && file.empty() && !demo && isatty(STDIN_FILENO);
  shell.progress = mrldb::shell::StderrIsTerminal();
  auto progress = [&shell](const mrldb::CopyProgress& p) { return shell.OnProgress(p); };
  if (demo && !address.empty()) {
    fmt::print(stderr, "mrldb: demo runs on a local database, not with connect\n");
    return 2;
  }
  std::string token;
  if (!token_file.empty()) {
    auto read = mrldb::ReadTokenFile(token_file);  // the same bytes the server reads
    if (!read.ok()) {
      fmt::print(stderr, "mrldb: {}\n", read.status().message());
      return 2;
    }
    token = std::move(read).value();
  }
  // Only an interactive session tunes default plans in the background (docs/sql.md).
  auto backend = address.empty() ? mrldb::shell::OpenLocal(path, progress, shell.interactive, memory_budget)
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
    const int rc = Demo(*(*backend)->local(), shell, demo_rows, path);
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
