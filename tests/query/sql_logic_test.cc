// SQL logic tests: every tests/sql/**/*.test file runs, statement by statement, in a fresh
// database, in the format of DuckDB's sqllogictest files:
//
//   # comment
//   statement ok
//   CREATE COLLECTION ... ;          (the statement runs until a blank line)
//
//   statement error
//   INSERT ... ;
//   ----
//   text the error message must contain
//   LINE 1: INSERT ...               (optional: the rest of the error as the shell prints it,
//                ^                    the statement's line and the caret under the column)
//
//   query ITR [rowsort]             (one letter per column: I integer, T text, R real, B bool,
//   SELECT ... ;                     V vector; rowsort sorts the rows before comparing)
//   ----
//   1	hello	0.25                  (tab-separated; NULL; reals and vector values printed with
//                                    up to 6 significant digits; vectors as [a, b, ...])
//
// COPY paths are relative to a temporary directory of the test (the session's copy_dir).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mrldb/session.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

namespace fs = std::filesystem;

std::string FormatCell(const Cell& c) {
  switch (c.index()) {
    case 0: return "NULL";
    case 1: return std::to_string(std::get<int64_t>(c));
    case 2: return fmt::format("{:.6g}", std::get<double>(c));
    case 3: return std::get<bool>(c) ? "true" : "false";
    case 4: return std::get<std::string>(c);
    default: {
      std::string s = "[";
      const auto& v = std::get<std::vector<float>>(c);
      for (size_t i = 0; i < v.size(); ++i) s += fmt::format("{}{:.6g}", i ? ", " : "", v[i]);
      return s + "]";
    }
  }
}

struct Record {
  int line = 0;
  std::string kind;    // "statement ok", "statement error", "query"
  std::string types;   // query column letters
  bool rowsort = false;
  std::string sql;
  // Result lines, or the error text and optionally the caret lines of FormatError.
  std::vector<std::string> expected;
};

std::vector<Record> ParseFile(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    lines.push_back(l);
  }
  std::vector<Record> out;
  for (size_t i = 0; i < lines.size();) {
    const std::string& l = lines[i];
    if (l.empty() || l[0] == '#') {
      ++i;
      continue;
    }
    Record r;
    r.line = int(i + 1);
    std::istringstream head(l);
    std::string word, second;
    head >> word >> second;
    if (word == "statement") {
      r.kind = "statement " + second;
    } else if (word == "query") {
      r.kind = "query";
      r.types = second;
      std::string opt;
      while (head >> opt) r.rowsort |= opt == "rowsort";
    } else {
      ADD_FAILURE() << path << ":" << i + 1 << ": unknown record '" << l << "'";
      return out;
    }
    ++i;
    while (i < lines.size() && !lines[i].empty() && lines[i] != "----") r.sql += lines[i++] + "\n";
    if (i < lines.size() && lines[i] == "----") {
      ++i;
      while (i < lines.size() && !lines[i].empty()) r.expected.push_back(lines[i++]);
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::string> TestFiles() {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(MRLDB_SOURCE_DIR) / "tests" / "sql")) {
    if (e.is_regular_file() && e.path().extension() == ".test") {
      files.push_back(fs::relative(e.path(), fs::path(MRLDB_SOURCE_DIR) / "tests" / "sql").string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

class SqlLogic : public ::testing::TestWithParam<std::string> {};

TEST_P(SqlLogic, Run) {
  const std::string path = (fs::path(MRLDB_SOURCE_DIR) / "tests" / "sql" / GetParam()).string();
  testing::TempDir dir, files;
  auto db = testing::OpenOrDie(dir.path());
  SessionOptions so;
  so.copy_dir = files.path();
  fs::create_directories(files.path());
  Session session(db.get(), so);
  for (const Record& r : ParseFile(path)) {
    SCOPED_TRACE(fmt::format("{}:{}", GetParam(), r.line));
    auto result = session.Execute(r.sql);
    if (r.kind == "statement ok") {
      EXPECT_TRUE(result.ok()) << FormatError(r.sql, result.status()) << "\n" << r.sql;
    } else if (r.kind == "statement error") {
      ASSERT_FALSE(result.ok()) << "expected an error from:\n" << r.sql;
      if (!r.expected.empty()) {
        EXPECT_NE(result.status().message().find(r.expected[0]), std::string::npos)
            << "error was: " << result.status().message() << "\nexpected to contain: " << r.expected[0];
      }
      if (r.expected.size() > 1) {  // where the caret points
        const std::string shown = FormatError(r.sql, result.status());
        std::string want;
        for (size_t i = 1; i < r.expected.size(); ++i) want += "\n" + r.expected[i];
        EXPECT_EQ(shown.substr(std::min(shown.size(), shown.find('\n'))), want) << shown;
      }
    } else {
      ASSERT_TRUE(result.ok()) << FormatError(r.sql, result.status()) << "\n" << r.sql;
      EXPECT_EQ(result->columns.size(), r.types.size()) << "column count";
      std::vector<std::string> got;
      for (const auto& row : result->rows) {
        std::string line;
        for (size_t c = 0; c < row.size(); ++c) line += (c ? "\t" : "") + FormatCell(row[c]);
        got.push_back(line);
      }
      std::vector<std::string> want = r.expected;
      if (r.rowsort) {
        std::sort(got.begin(), got.end());
        std::sort(want.begin(), want.end());
      }
      EXPECT_EQ(got, want) << r.sql;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Files, SqlLogic, ::testing::ValuesIn(TestFiles()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace mrldb
