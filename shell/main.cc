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

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "cuda/gpu_info.h"
#include "mrldb/database.h"
#include "mrldb/session.h"
#include "mrldb/synthetic.h"
#include "query/parser.h"
#include "server/server.h"
#include "shell/backend.h"
#include "shell/format.h"
#include "shell/progress.h"

#if MRLDB_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

namespace {

// Ctrl-C in the interactive shell (and in the index wait before a script run exits): the
// handler only raises a flag. At the prompt the statement
// being typed is dropped; while a statement runs, a watcher thread sees the flag and cancels it
// through the backend (which may have to send a CANCEL frame: not a thing for a signal handler).
volatile std::sig_atomic_t g_interrupted = 0;

void OnInterrupt(int) { g_interrupted = 1; }

constexpr char kUsage[] =
    "usage: mrldb [--db PATH] [--memory-budget SIZE] [-c SQL]... [-f FILE] [--format F]\n"
    "             [--continue-on-error] [--no-wait] [--version] [--help]\n"
    "       mrldb [--db PATH] demo [--rows N]\n"
    "       mrldb connect HOST:PORT [--token-file F] [-c SQL]... [-f FILE] [--format F] ...\n"
    "       mrldb serve --help    (the TCP server)\n"
    "  --db PATH             database directory (created when missing). Default: ./mrldb-data\n"
    "  --memory-budget SIZE  memory for the whole database (K, M, G, T: 8G); vector blocks\n"
    "                        beyond it are read from storage. Default: no budget\n"
    "  -c SQL                run SQL (repeatable), then exit\n"
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

constexpr char kHelp[] =
    "Statements end with ';' (see docs/sql.md). Backslash commands:\n"
    "  \\d            list collections          \\d NAME   describe a collection\n"
    "  \\timing       toggle timing             \\mode F   output format (table, csv, json, jsonl)\n"
    "  \\i FILE       run statements from FILE  \\o FILE   send results to FILE (\\o alone: back)\n"
    "  \\gpu          show GPU status           \\memory   memory use and budget\n"
    "  \\q            quit\n";

struct Shell {
  mrldb::shell::Backend* backend = nullptr;
  mrldb::shell::OutputFormat format = mrldb::shell::OutputFormat::kTable;
  bool timing = false;
  FILE* out = stdout;
  bool keep_going = false;  // continue after a failed statement (still exit 1)
  bool failed = false;
  bool interactive = false;     // index builds after COPY and ALTER are waited for
  bool catch_interrupt = false;  // Ctrl-C cancels the running statement (CatchInterrupts)
  bool progress = false;         // progress bars on standard error
  std::optional<mrldb::shell::ProgressBar> bar;
  std::string bar_label = "COPY";  // "indexing" for WAIT FOR INDEX
  std::set<std::string> written;   // collections written to, as the statements named them

  // The backend's progress callback (COPY, WAIT FOR INDEX).
  bool OnProgress(const mrldb::CopyProgress& p) {
    if (!bar) bar.emplace(bar_label, progress);
    bar->Update(p.rows_done, p.rows_total);
    return true;
  }

  // From here on, Ctrl-C cancels the running statement instead of ending the process.
  void CatchInterrupts() {
    struct sigaction sa {};
    sa.sa_handler = OnInterrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    catch_interrupt = true;
  }

  // Runs one statement; once CatchInterrupts ran, a Ctrl-C while it runs cancels it.
  mrldb::Result<mrldb::ResultSet> Execute(std::string_view sql) {
    if (!catch_interrupt) return backend->Execute(sql);
    g_interrupted = 0;
    std::atomic<bool> done{false};
    std::thread watcher([&] {
      while (!done.load()) {
        if (g_interrupted) {
          backend->Cancel();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
    auto r = backend->Execute(sql);
    done = true;
    watcher.join();
    return r;
  }

  // WAIT FOR INDEX on `collection`, with a progress bar on a terminal, until the build is done
  // or Ctrl-C (the rows are searchable meanwhile: unindexed ones are scanned). `after` says
  // what becomes of the rest of the build when it is cancelled. Returns false on an error.
  bool WaitForIndex(const std::string& collection, std::string_view after) {
    std::string quoted;
    for (char c : collection) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    g_interrupted = 0;
    bar_label = "indexing";
    auto r = Execute("WAIT FOR INDEX \"" + quoted + "\"");
    bar.reset();
    bar_label = "COPY";
    if (r.ok() || r.status().IsNotFound()) return true;  // not found: dropped since the write
    if (r.status().code() == mrldb::Status::Code::kCancelled) {
      fmt::print(stderr, "{}; {} (searches scan those rows meanwhile)\n", r.status().message(), after);
      return true;
    }
    fmt::print(stderr, "mrldb: {}\n", r.status().ToString());
    return false;
  }

  // Before a -c, -f or stdin run on a local database exits: the background indexer stops with
  // the process, so the index builds of the collections it wrote to are waited for here.
  void WaitForWrittenIndexes() {
    if (written.empty()) return;
    CatchInterrupts();
    for (const std::string& c : written) {
      if (!WaitForIndex(c, "the next open of the database goes on indexing")) failed = true;
      if (g_interrupted) return;
    }
  }

  // Remembers the collection `node` writes to (an ALTER rebuilds the graph too).
  void NoteWrite(const mrldb::query::Statement& st) {
    namespace q = mrldb::query;
    if (const auto* i = std::get_if<q::Insert>(&st.node)) written.insert(i->collection);
    if (const auto* u = std::get_if<q::Update>(&st.node)) written.insert(u->collection);
    if (const auto* d = std::get_if<q::Delete>(&st.node)) written.insert(d->collection);
    if (const auto* c = std::get_if<q::Copy>(&st.node); c && c->from) written.insert(c->collection);
    if (const auto* a = std::get_if<q::AlterCollection>(&st.node)) written.insert(a->name);
  }

  // Runs the statements of `sql` one by one, as psql does: each is parsed when the one before
  // it has run, so a mistake in the second leaves the first's result standing. Errors are
  // shown against their statement. Returns false after the first failure.
  bool RunScript(std::string_view sql) {
    for (const mrldb::query::ScriptStatement& piece : mrldb::query::SplitScript(sql)) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto st = mrldb::query::ParseStatement(piece.text);
      auto run = [&]() -> mrldb::Result<mrldb::ResultSet> {
        if (!st.ok()) return st.status();
        NoteWrite(*st);  // before it runs: a failed COPY may have committed batches
        if (std::holds_alternative<mrldb::query::WaitForIndex>(st->node)) bar_label = "indexing";
        auto r = Execute(piece.text);
        bar.reset();
        bar_label = "COPY";
        return r;
      };
      const auto r = run();
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!r.ok()) {
        fmt::print(stderr, "{}\n", mrldb::FormatError(piece.text, r.status()));
        failed = true;
        if (!keep_going) return false;
        continue;
      }
      mrldb::shell::PrintResult(*r, format, out);
      if (timing) fmt::print(out, "Time: {:.3f} ms\n", ms);
      std::fflush(out);
      if (interactive && progress) {
        constexpr std::string_view kAfter = "indexing continues in the background";
        if (const auto* c = std::get_if<mrldb::query::Copy>(&st->node); c && c->from) {
          WaitForIndex(c->collection, kAfter);
        } else if (const auto* a = std::get_if<mrldb::query::AlterCollection>(&st->node)) {
          WaitForIndex(a->name, kAfter);
        }
      }
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
    } else if (cmd == "\\memory") {
      RunScript("SHOW MEMORY");
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
    } else if (cmd == "\\gpu" && backend->local() == nullptr) {
      fmt::print("\\gpu shows this machine's GPUs; the server's device: SHOW device;\n");
    } else if (cmd == "\\gpu") {
      auto devices = mrldb::gpu::ListDevices();
      if (!devices.ok()) fmt::print("GPU: none ({})\n", devices.status().message());
      else for (const auto& d : *devices) fmt::print("GPU {}: {} ({:.1f} GiB)\n", d.index, d.name, d.total_memory / double(1u << 30));
    } else {
      fmt::print("{}", kHelp);
    }
    return true;
  }

  // One line from the terminal: with line editing and history when libedit is there.
  static bool ReadLine(const char* prompt, std::string* line) {
#if MRLDB_HAVE_LIBEDIT
    char* l = readline(prompt);
    if (l == nullptr) return false;
    *line = l;
    if (!line->empty()) add_history(l);
    std::free(l);
    return true;
#else
    fmt::print("{}", prompt);
    std::fflush(stdout);
    return static_cast<bool>(std::getline(std::cin, *line));
#endif
  }

  // History lives in $MRLDB_HISTORY, else ~/.mrldb_history.
  static std::string HistoryFile() {
    if (const char* h = std::getenv("MRLDB_HISTORY")) return h;
    const char* home = std::getenv("HOME");
    return home ? std::string(home) + "/.mrldb_history" : "";
  }

  void Interactive() {
    fmt::print("mrldb {} - {}. Type \\help for help, \\q to quit.\n", MRLDB_VERSION,
               backend->Where());
#if MRLDB_HAVE_LIBEDIT
    const std::string history = HistoryFile();
    if (!history.empty()) read_history(history.c_str());
#endif
    CatchInterrupts();
    std::string buffer, line;
    for (;;) {
      g_interrupted = 0;
      const bool got = ReadLine(buffer.empty() ? "mrldb> " : "  ...> ", &line);
      if (g_interrupted) {  // Ctrl-C at the prompt: drop what was typed
        buffer.clear();
        fmt::print("\n");
        std::cin.clear();
        continue;
      }
      if (!got) break;
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
#if MRLDB_HAVE_LIBEDIT
    if (!history.empty()) write_history(history.c_str());
#endif
    fmt::print("\n");
  }
};

// `mrldb demo`: a synthetic Matryoshka collection and a few searches, so that a new user sees
// the funnel at work in the first minute.
int Demo(mrldb::Database& db, Shell& shell, uint64_t rows) {
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
  fmt::print("\nThe 'demo' collection stays in this database: try your own queries in the shell.\n");
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
  bool ok = true;
  if (demo) {
    const int rc = Demo(*(*backend)->local(), shell, demo_rows);
    mrldb::Status st = (*backend)->Close();
    return rc != 0 ? rc : (st.ok() ? 0 : 1);
  }
  if (!commands.empty() || !file.empty()) {
    for (const auto& c : commands) {
      if (!(ok = run(c))) break;
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
