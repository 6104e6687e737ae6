#include "shell/complete.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#if MRLDB_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

namespace mrldb::shell {

extern const char* const kGrammar;

namespace {

// Every keyword of docs/sql.md's grammar: the quoted upper-case words of the grammar block
// compiled into the shell (shell/CMakeLists.txt), so completion knows what the parser knows.
const std::vector<std::string>& Keywords() {
  static const std::vector<std::string> words = [] {
    std::set<std::string> found;
    const std::string_view g(kGrammar);
    for (size_t at = g.find('"'); at != std::string_view::npos; at = g.find('"', at + 1)) {
      const size_t end = g.find('"', at + 1);
      if (end == std::string_view::npos) break;
      const std::string_view w = g.substr(at + 1, end - at - 1);
      const bool word = w.size() >= 2 && std::all_of(w.begin(), w.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9');
      });
      if (word) found.emplace(w);
      at = end;
    }
    return std::vector<std::string>(found.begin(), found.end());
  }();
  return words;
}

constexpr const char* kMeta[] = {"\\d", "\\gpu", "\\h", "\\help", "\\i", "\\memory", "\\mode", "\\o",
                                 "\\pset", "\\q", "\\timing", "\\x"};

std::string Upper(std::string_view s) {
  std::string u(s);
  for (char& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && Upper(s.substr(0, prefix.size())) == Upper(prefix);
}

// The bare words of `text`, upper-cased.
std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      cur += c;
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

bool NamesCollection(const std::string& word) {
  static const std::set<std::string> kBefore = {"FROM", "INTO", "UPDATE", "COLLECTION",
                                                "DESCRIBE", "TUNE", "COPY", "INDEX"};
  return kBefore.count(Upper(word)) != 0;
}

}  // namespace

std::vector<std::string> NamedCollections(std::string_view statement,
                                          const std::vector<std::string>& collections) {
  std::vector<std::string> named;
  const auto words = Words(statement);
  for (size_t i = 1; i < words.size(); ++i) {
    if (!NamesCollection(words[i - 1])) continue;
    for (const std::string& c : collections) {
      if (Upper(c) == Upper(words[i])) named.push_back(c);
    }
  }
  return named;
}

std::vector<std::string> Completions(std::string_view before, std::string_view word,
                                     const std::vector<std::string>& collections,
                                     const std::vector<std::string>& columns) {
  std::set<std::string> out;
  const size_t first = before.find_first_not_of(" \t");
  if (first == std::string_view::npos && !word.empty() && word[0] == '\\') {
    for (const char* m : kMeta) {
      if (std::string_view(m).substr(0, word.size()) == word) out.insert(m);
    }
    return {out.begin(), out.end()};
  }
  const auto words = Words(before);
  const bool lower = !word.empty() && std::islower(static_cast<unsigned char>(word[0]));
  auto add_names = [&](const std::vector<std::string>& names) {
    for (const std::string& n : names) {
      if (StartsWithNoCase(n, word)) out.insert(n);
    }
  };
  add_names(collections);
  if (words.empty() || !NamesCollection(words.back())) {
    add_names(columns);
    for (const std::string& k : Keywords()) {
      if (!StartsWithNoCase(k, word)) continue;
      std::string kw = k;
      if (lower) {
        for (char& c : kw) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      out.insert(kw);
    }
  }
  return {out.begin(), out.end()};
}

#if MRLDB_HAVE_LIBEDIT
namespace {

Backend* g_backend = nullptr;
std::vector<std::string> g_matches;
size_t g_next = 0;

std::vector<std::string> FirstColumn(std::string_view sql) {
  std::vector<std::string> v;
  auto r = g_backend->Execute(sql);
  if (!r.ok()) return v;
  for (const auto& row : r->rows) {
    if (!row.empty() && row[0].index() == 4) v.push_back(std::get<std::string>(row[0]));
  }
  return v;
}

char* NextMatch(const char*, int state) {
  if (state == 0) g_next = 0;
  if (g_next >= g_matches.size()) return nullptr;
  return strdup(g_matches[g_next++].c_str());
}

char** Complete(const char* text, int start, int) {
  rl_attempted_completion_over = 1;  // no file-name completion as a fallback
  const std::string line(rl_line_buffer ? rl_line_buffer : "");
  const std::string before = line.substr(0, std::min<size_t>(size_t(start), line.size()));
  const auto collections = FirstColumn("SHOW COLLECTIONS");
  std::vector<std::string> columns;
  for (const std::string& c : NamedCollections(line, collections)) {
    std::string quoted;
    for (char ch : c) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    for (std::string& col : FirstColumn("DESCRIBE \"" + quoted + "\"")) {
      if (!col.empty() && col[0] != '(') columns.push_back(std::move(col));  // not (index) etc.
    }
  }
  g_matches = Completions(before, text, collections, columns);
  if (g_matches.empty()) return nullptr;
  return rl_completion_matches(text, NextMatch);
}

}  // namespace

void InstallCompletion(Backend* backend) {
  g_backend = backend;
  rl_attempted_completion_function = Complete;
  static char breaks[] = " \t\n\"'`@$><=;|&{(,";
  rl_completer_word_break_characters = breaks;
}
#else
void InstallCompletion(Backend*) {}
#endif

}  // namespace mrldb::shell
