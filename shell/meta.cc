// The shell's backslash commands and \h, whose statement synopses are docs/sql.md's grammar
// rules (compiled in from that file, so help and grammar cannot drift apart).
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "query/suggest.h"
#include "shell/shell.h"

namespace mrldb::shell {

extern const char* const kGrammar;

namespace {

constexpr char kHelp[] =
    "Statements end with ';' (see docs/sql.md; \\h STATEMENT shows one's syntax). Backslash commands:\n"
    "  \\d            list collections          \\d NAME     describe a collection\n"
    "  \\h [STMT]     statement syntax          \\x [on|off] expanded display (one block per row)\n"
    "  \\timing       toggle timing             \\mode F     output format (table, csv, json, jsonl)\n"
    "  \\pset pager on|off|always               page long results ($PAGER, else less)\n"
    "  \\i FILE       run statements from FILE  \\o FILE     send results to FILE (\\o alone: back)\n"
    "  \\copy c FROM|TO 'file' [WITH (...)]     COPY with this machine's files (local or server)\n"
    "  \\gpu          show GPU status           \\memory     memory use and budget (SHOW MEMORY)\n"
    "  \\q            quit\n";

const std::vector<std::string> kCommands = {"\\copy", "\\d", "\\gpu", "\\h", "\\help", "\\i", "\\memory", "\\mode",
                                            "\\o", "\\pset", "\\q", "\\timing", "\\x", "\\?"};

struct Rule {
  std::string name, text;
  bool token_level = false;  // values, names and tokens: too basic to show under a statement
};

// The grammar's rules, in order: a rule starts at "name =" at the start of a line and runs to the
// next rule or comment-only section line.
std::vector<Rule> Rules() {
  std::vector<Rule> rules;
  std::istringstream in(kGrammar);
  bool token_level = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("(* ----", 0) == 0) {
      token_level = token_level || line.find("Values and names") != std::string::npos;
      continue;
    }
    const size_t eq = line.find(" =");
    const bool starts = !line.empty() && line[0] != ' ' && eq != std::string::npos &&
                        line.find_first_of(" ") == line.find_first_of(" =");
    if (starts) {
      rules.push_back({line.substr(0, line.find(' ')), line + "\n", token_level});
    } else if (!rules.empty() && !line.empty()) {
      rules.back().text += line + "\n";
    }
  }
  return rules;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// The quoted keywords a rule's body starts with ("CREATE" "COLLECTION").
std::vector<std::string> LeadingKeywords(const Rule& r) {
  std::vector<std::string> kw;
  size_t at = r.text.find('=') + 1;
  for (;;) {
    at = r.text.find_first_not_of(" \n", at);
    if (at == std::string::npos || r.text[at] != '"') break;
    const size_t end = r.text.find('"', at + 1);
    kw.push_back(r.text.substr(at + 1, end - at - 1));
    at = end + 1;
  }
  return kw;
}

}  // namespace

std::optional<std::string> StatementHelp(std::string_view words) {
  const std::vector<Rule> rules = Rules();
  std::vector<std::string> asked;
  std::istringstream in{std::string(words)};
  for (std::string w; in >> w;) asked.push_back(Upper(w));
  std::vector<std::string> starts;  // every statement's leading words, for the list
  std::string text;
  std::vector<const Rule*> shown;
  for (const Rule& r : rules) {
    const auto kw = LeadingKeywords(r);
    if (kw.empty() || r.token_level) continue;
    std::string lead;
    for (const auto& k : kw) lead += (lead.empty() ? "" : " ") + k;
    starts.push_back(lead);
    bool match = !asked.empty();
    for (size_t i = 0; i < asked.size() && match; ++i) match = i < kw.size() && kw[i] == asked[i];
    if (match) shown.push_back(&r);
  }
  if (asked.empty()) {
    std::string list = "Statements (\\h NAME for one's syntax):\n";
    for (const auto& s : starts) list += "  " + s + "\n";
    return list;
  }
  if (shown.empty()) return std::nullopt;
  // The statement's rules, then the statement-level rules they name (one level down).
  std::vector<const Rule*> more;
  for (const Rule* r : shown) {
    for (const Rule& other : rules) {
      if (other.token_level || other.name == "statement" || other.name == "script") continue;
      if (std::find(shown.begin(), shown.end(), &other) != shown.end()) continue;
      if (std::find(more.begin(), more.end(), &other) != more.end()) continue;
      const size_t at = r->text.find(other.name, r->text.find('='));
      const auto boundary = [&](size_t i) {
        return i >= r->text.size() || !(std::isalnum(static_cast<unsigned char>(r->text[i])) || r->text[i] == '_');
      };
      if (at != std::string::npos && boundary(at + other.name.size()) && (at == 0 || boundary(at - 1))) {
        more.push_back(&other);
      }
    }
  }
  for (const Rule* r : shown) text += r->text;
  for (const Rule* r : more) text += r->text;
  return text + "(docs/sql.md has the whole grammar and examples)\n";
}

bool Shell::Meta(const std::string& line) {
  std::istringstream in(line);
  std::string cmd, arg;
  in >> cmd;
  std::getline(in >> std::ws, arg);
  while (!arg.empty() && (arg.back() == ' ' || arg.back() == ';')) arg.pop_back();
  auto error = [&](const std::string& message) {
    fmt::print(stderr, "{}\n", message);
    if (!interactive) failed = true;
  };
  if (cmd == "\\q") return false;
  if (cmd == "\\d") {
    RunScript(arg.empty() ? "SHOW COLLECTIONS" : "DESCRIBE " + arg);
  } else if (cmd == "\\copy") {
    ClientCopy(arg);
  } else if (cmd == "\\memory") {
    RunScript("SHOW MEMORY");
  } else if (cmd == "\\timing") {
    timing = arg.empty() ? !timing : arg == "on";
    fmt::print("Timing is {}.\n", timing ? "on" : "off");
  } else if (cmd == "\\x") {
    if (!arg.empty() && arg != "on" && arg != "off") return error(fmt::format("\\x: expected on or off, not '{}'", arg)), true;
    expanded = arg.empty() ? !expanded : arg == "on";
    fmt::print("Expanded display is {}.\n", expanded ? "on" : "off");
  } else if (cmd == "\\pset") {
    std::istringstream a(arg);
    std::string what, value;
    a >> what >> value;
    if (what != "pager") return error(fmt::format("\\pset: unknown option '{}' (pager)", what)), true;
    if (value == "on") pager = PagerMode::kOn;
    else if (value == "off") pager = PagerMode::kOff;
    else if (value == "always") pager = PagerMode::kAlways;
    else if (value.empty()) pager = pager == PagerMode::kOff ? PagerMode::kOn : PagerMode::kOff;
    else return error(fmt::format("\\pset pager: expected on, off or always, not '{}'", value)), true;
    fmt::print("Pager usage is {}.\n", pager == PagerMode::kOff ? "off" : pager == PagerMode::kOn ? "on" : "always");
  } else if (cmd == "\\mode") {
    if (!ParseOutputFormat(arg, &format)) error(fmt::format("\\mode: unknown format '{}' (table, csv, json, jsonl)", arg));
  } else if (cmd == "\\i") {
    std::ifstream f(arg);
    if (!f) return error(fmt::format("\\i: cannot read '{}'", arg)), true;
    std::stringstream ss;
    ss << f.rdbuf();
    RunScript(ss.str());
  } else if (cmd == "\\o") {
    if (out != stdout) std::fclose(out);
    out = stdout;
    if (!arg.empty() && !(out = std::fopen(arg.c_str(), "w"))) {
      out = stdout;
      error(fmt::format("\\o: cannot write '{}'", arg));
    }
  } else if (cmd == "\\gpu" && backend->local() == nullptr) {
    fmt::print("\\gpu shows this machine's GPUs; the server's device: SHOW device;\n");
  } else if (cmd == "\\gpu") {
    auto devices = backend->local()->GpuDevices();
    if (!devices.ok()) fmt::print("GPU: none ({})\n", devices.status().message());
    else for (const auto& d : *devices) fmt::print("GPU {}: {} ({:.1f} GiB)\n", d.index, d.name, d.total_memory / double(1u << 30));
  } else if (cmd == "\\h") {
    if (auto help = StatementHelp(arg)) fmt::print("{}", *help);
    else error(fmt::format("\\h: no statement starts with '{}' (\\h alone lists them)", arg));
  } else if (cmd == "\\help" || cmd == "\\?") {
    fmt::print("{}", kHelp);
  } else {
    error(fmt::format("invalid command {}{}; \\? lists the commands", cmd,
                      query::DidYouMean(cmd, kCommands, /*quote=*/false)));
  }
  return true;
}

}  // namespace mrldb::shell
