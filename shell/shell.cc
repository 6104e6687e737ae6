#include "shell/shell.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "query/parser.h"
#include "shell/complete.h"
#include "shell/pager.h"

#if MRLDB_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

namespace mrldb::shell {
namespace {

// Ctrl-C in the interactive shell (and in the index wait before a script run exits): the
// handler only raises a flag. At the prompt the statement being typed is dropped; while a
// statement runs, a watcher thread sees the flag and cancels it through the backend (which may
// have to send a CANCEL frame: not a thing for a signal handler).
volatile std::sig_atomic_t g_interrupted = 0;

void OnInterrupt(int) { g_interrupted = 1; }

// One line from the terminal: with line editing when libedit is there (history is added per
// statement by the caller).
bool ReadLine(const char* prompt, std::string* line) {
#if MRLDB_HAVE_LIBEDIT
  char* l = readline(prompt);
  if (l == nullptr) return false;
  *line = l;
  std::free(l);
  return true;
#else
  fmt::print("{}", prompt);
  std::fflush(stdout);
  return static_cast<bool>(std::getline(std::cin, *line));
#endif
}

// History lives in $MRLDB_HISTORY, else ~/.mrldb_history.
std::string HistoryFile() {
  if (const char* h = std::getenv("MRLDB_HISTORY")) return h;
  const char* home = std::getenv("HOME");
  return home ? std::string(home) + "/.mrldb_history" : "";
}

// A statement typed over several lines is one history entry, its lines joined by spaces.
void AddHistory(std::string_view text) {
#if MRLDB_HAVE_LIBEDIT
  std::string entry;
  for (char c : text) entry += c == '\n' ? ' ' : c;
  while (!entry.empty() && entry.back() == ' ') entry.pop_back();
  if (!entry.empty()) add_history(entry.c_str());
#else
  (void)text;
#endif
}

}  // namespace

bool Shell::OnProgress(const CopyProgress& p) {
  if (!bar) bar.emplace(bar_label, progress, bar_label == "BACKUP" ? "bytes" : "rows");
  bar->Update(p.rows_done, p.rows_total);
  return true;
}

void Shell::CatchInterrupts() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  catch_interrupt = true;
}

bool Shell::Interrupted() { return g_interrupted != 0; }

Result<ResultSet> Shell::Execute(std::string_view sql) {
  return Run([&] { return backend->Execute(sql); });
}

Result<ResultSet> Shell::Run(const std::function<Result<ResultSet>()>& statement) {
  if (!catch_interrupt) return statement();
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
  auto r = statement();
  done = true;
  watcher.join();
  return r;
}

// WAIT FOR INDEX on `collection`, with a progress bar on a terminal, until the build is done
// or Ctrl-C (the rows are searchable meanwhile: unindexed ones are scanned). `after` says what
// becomes of the rest of the build when it is cancelled. Returns false on an error.
bool Shell::WaitForIndex(const std::string& collection, std::string_view after) {
  std::string quoted;
  for (char c : collection) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  g_interrupted = 0;
  bar_label = "indexing";
  auto r = Execute("WAIT FOR INDEX \"" + quoted + "\"");
  bar.reset();
  bar_label = "COPY";
  if (r.ok() || r.status().IsNotFound()) return true;  // not found: dropped since the write
  if (r.status().code() == Status::Code::kCancelled) {
    fmt::print(stderr, "{}; {} (searches scan those rows meanwhile)\n", r.status().message(), after);
    return true;
  }
  fmt::print(stderr, "mrldb: {}\n", r.status().ToString());
  return false;
}

void Shell::WaitForWrittenIndexes() {
  if (written.empty()) return;
  CatchInterrupts();
  for (const std::string& c : written) {
    if (!WaitForIndex(c, "the next open of the database goes on indexing")) failed = true;
    if (g_interrupted) return;
  }
}

// Remembers the collection `st` writes to (an ALTER rebuilds the graph too).
void Shell::NoteWrite(const query::Statement& st) {
  namespace q = query;
  if (const auto* i = std::get_if<q::Insert>(&st.node)) written.insert(i->collection);
  if (const auto* u = std::get_if<q::Update>(&st.node)) written.insert(u->collection);
  if (const auto* d = std::get_if<q::Delete>(&st.node)) written.insert(d->collection);
  if (const auto* c = std::get_if<q::Copy>(&st.node); c && c->from) written.insert(c->collection);
  if (const auto* a = std::get_if<q::AlterCollection>(&st.node)) written.insert(a->name);
}

void Shell::Print(const ResultSet& r) {
  const bool paging = out == stdout && pager != PagerMode::kOff && interactive;
  if (!paging) {
    PrintResult(r, format, out, expanded);
    return;
  }
  const std::string text = FormatResult(r, format, expanded);
  ShowPaged(text, pager == PagerMode::kAlways);
}

bool Shell::RunScript(std::string_view sql) {
  for (const query::ScriptStatement& piece : query::SplitScript(sql)) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto st = query::ParseStatement(piece.text);
    auto run = [&]() -> Result<ResultSet> {
      if (!st.ok()) return st.status();
      NoteWrite(*st);  // before it runs: a failed COPY may have committed batches
      if (std::holds_alternative<query::WaitForIndex>(st->node)) bar_label = "indexing";
      if (std::holds_alternative<query::Backup>(st->node)) bar_label = "BACKUP";
      if (std::holds_alternative<query::Vacuum>(st->node)) bar_label = "VACUUM";
      auto r = Execute(piece.text);
      bar.reset();
      bar_label = "COPY";
      return r;
    };
    const auto r = run();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok()) {
      fmt::print(stderr, "{}\n", FormatError(piece.text, r.status()));
      failed = true;
      if (!keep_going) return false;
      continue;
    }
    Print(*r);
    if (timing) fmt::print(out, "Time: {:.3f} ms\n", ms);
    std::fflush(out);
    if (interactive && progress) {
      constexpr std::string_view kAfter = "indexing continues in the background";
      if (const auto* c = std::get_if<query::Copy>(&st->node); c && c->from) {
        WaitForIndex(c->collection, kAfter);
      } else if (const auto* a = std::get_if<query::AlterCollection>(&st->node)) {
        WaitForIndex(a->name, kAfter);
      }
    }
  }
  return true;
}

bool Shell::RunCommand(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '\\') {
    const bool failed_before = failed;
    if (!Meta(text.substr(first))) return true;  // \q in -c: nothing more to do
    return keep_going || failed == failed_before;
  }
  return RunScript(text) || keep_going;
}

void Shell::Interactive() {
  fmt::print("mrldb {} - {}. Type \\help for help, \\q to quit.\n", MRLDB_VERSION,
             backend->Where());
#if MRLDB_HAVE_LIBEDIT
  const std::string history = HistoryFile();
  if (!history.empty()) read_history(history.c_str());
  InstallCompletion(backend);
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
      AddHistory(line);
      if (!Meta(line)) break;
      continue;
    }
    buffer += line + "\n";
    const size_t end = buffer.find_last_not_of(" \t\r\n");
    if (end != std::string::npos && buffer[end] == ';') {
      AddHistory(buffer);
      RunScript(buffer);
      buffer.clear();
    }
  }
  if (!buffer.empty()) {
    AddHistory(buffer);
    RunScript(buffer);
  }
#if MRLDB_HAVE_LIBEDIT
  if (!history.empty()) write_history(history.c_str());
#endif
  fmt::print("\n");
}

}  // namespace mrldb::shell
