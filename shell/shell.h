// The shell proper: runs scripts statement by statement against a Backend, prints results
// (aligned, expanded, csv, json; through a pager on a terminal), backslash commands, progress
// bars, Ctrl-C and the interactive loop with line editing, completion and history.
#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "mrldb/session.h"
#include "query/ast.h"
#include "shell/backend.h"
#include "shell/format.h"
#include "shell/progress.h"

namespace mrldb::shell {

// \pset pager: kOn pages results taller than the terminal, kAlways pages every result; the
// pager is used only when results go to a terminal.
enum class PagerMode { kOff, kOn, kAlways };

struct Shell {
  Backend* backend = nullptr;
  OutputFormat format = OutputFormat::kTable;
  bool expanded = false;  // \x: one "column | value" block per row
  PagerMode pager = PagerMode::kOn;
  bool timing = false;
  FILE* out = stdout;
  bool keep_going = false;   // continue after a failed statement (still exit 1)
  bool failed = false;
  bool interactive = false;      // index builds after COPY and ALTER are waited for
  bool catch_interrupt = false;  // Ctrl-C cancels the running statement (CatchInterrupts)
  bool progress = false;         // progress bars on standard error
  std::optional<ProgressBar> bar;
  std::string bar_label = "COPY";  // "indexing" for WAIT FOR INDEX, "BACKUP" (bytes), "VACUUM"
  std::set<std::string> written;   // collections written to, as the statements named them

  // The backend's progress callback (COPY, WAIT FOR INDEX).
  bool OnProgress(const CopyProgress& p);
  // From here on, Ctrl-C cancels the running statement instead of ending the process.
  void CatchInterrupts();
  // Whether Ctrl-C was pressed since the last statement or prompt began.
  static bool Interrupted();
  // Runs one statement; once CatchInterrupts ran, a Ctrl-C while it runs cancels it.
  Result<ResultSet> Execute(std::string_view sql);
  // The same for a statement the backend runs otherwise (\copy's CopyFrom, CopyTo).
  Result<ResultSet> Run(const std::function<Result<ResultSet>()>& statement);

  // Runs the statements of `sql` one by one, as psql does: each is parsed when the one before
  // it has run, so a mistake in the second leaves the first's result standing. Errors are
  // shown against their statement. Returns false after the first failure (unless keep_going).
  bool RunScript(std::string_view sql);
  // A backslash command line ("\d t"); false for \q. An unknown command is an error (and sets
  // `failed` outside an interactive session).
  bool Meta(const std::string& line);
  // Either of the two, by the first character: what -c hands over.
  bool RunCommand(const std::string& text);
  // \copy ARG (shell/copy.cc): ARG is a COPY statement without its COPY whose files are this
  // machine's; errors are shown and set `failed`.
  void ClientCopy(const std::string& arg);

  // Before a -c, -f or stdin run on a local database exits: the background indexer stops with
  // the process, so the index builds of the collections it wrote to are waited for here.
  void WaitForWrittenIndexes();
  // The interactive loop: prompts, multi-line statements, history, completion.
  void Interactive();

 private:
  bool WaitForIndex(const std::string& collection, std::string_view after);
  void NoteWrite(const query::Statement& st);
  // Prints a result to `out`, through the pager when `out` is a terminal and \pset says so.
  void Print(const ResultSet& r);
};

// \h: the synopsis of the statement starting with `words` ("SELECT", "create collection"), or
// the list of statements when `words` is empty; nullopt when no statement starts so.
std::optional<std::string> StatementHelp(std::string_view words);

}  // namespace mrldb::shell
