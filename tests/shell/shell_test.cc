// The mrldb executable driven non-interactively: -c, -f, stdin, output formats, exit status and
// error carets on standard error.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "shell/progress.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

struct Run {
  int status = -1;
  std::string out, err;
};

Run Shell(const std::string& args, const std::string& input = "") {
  testing::TempDir io;
  std::filesystem::create_directories(io.path());
  const std::string in = io.path() + "/in", out = io.path() + "/out", err = io.path() + "/err";
  std::ofstream(in) << input;
  const std::string cmd = std::string(MRLDB_SHELL) + " " + args + " < " + in + " > " + out + " 2> " + err;
  Run r;
  const int raw = std::system(cmd.c_str());
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = testing::ReadFile(out);
  r.err = testing::ReadFile(err);
  return r;
}

TEST(Shell, RunsStatementsFromArgumentsFileAndStdin) {
  testing::TempDir db;
  const std::string base = "--db " + db.path();
  auto r = Shell(base + " -c \"CREATE COLLECTION t (id BIGINT PRIMARY KEY, embedding VECTOR(2) METRIC L2, "
                        "name TEXT); INSERT INTO t VALUES (1, [0, 0], 'a'), (2, [3, 4], NULL);\"");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "CREATE COLLECTION\nINSERT 2\n");
  r = Shell(base + " --format csv -c \"SELECT id, name, distance FROM t ORDER BY embedding <-> [0, 0]\"");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "id,name,distance\n1,a,0\n2,,5\n");
  r = Shell(base + " --format jsonl", "SELECT id, embedding FROM t WHERE id = 2;");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "{\"id\": 2, \"embedding\": [3, 4]}\n");
  r = Shell(base, "SELECT id, name FROM t;");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, " id | name\n----+------\n  1 | a   \n  2 | NULL\n(2 rows)\n");
  testing::TempDir files;
  std::filesystem::create_directories(files.path());
  std::ofstream(files.path() + "/s.sql") << "-- a script\nSELECT count FROM t;\nSELECT id FROM t;\n";
  r = Shell(base + " -f " + files.path() + "/s.sql");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("has no column \"count\""), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");  // stopped at the first error
  r = Shell(base + " --continue-on-error -f " + files.path() + "/s.sql");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("(2 rows)"), std::string::npos) << r.out;
}

TEST(Shell, DemoShowsAFunnelSearchWithRecall) {
  testing::TempDir db;
  auto r = Shell("--db " + db.path() + " demo --rows 2000");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("creating collection 'demo': 2000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("step 1: hnsw   dims    64"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("recall@5: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(5 rows)"), std::string::npos) << r.out;
  // A second run reuses the collection.
  r = Shell("--db " + db.path() + " demo");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("creating collection"), std::string::npos);
  r = Shell("--db " + db.path() + " -c \"SELECT id FROM demo WHERE topic = 1 AND id < 40\"");
  EXPECT_NE(r.out.find("(3 rows)"), std::string::npos) << r.out;
}

TEST(Shell, ErrorsShowTheLineWithACaret) {
  testing::TempDir db;
  auto r = Shell("--db " + db.path(), "SELECT id\nFROM nope;\n");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ERROR:  collection \"nope\" does not exist\nLINE 1: SELECT id\n        ^\n");
  r = Shell("--db " + db.path() + " --format xml");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown format 'xml'"), std::string::npos);
}

TEST(ProgressBar, RendersCountsRateAndABarThatFitsTheTerminal) {
  using shell::ProgressBar;
  EXPECT_EQ(ProgressBar::Render("COPY", 1234567, std::nullopt, 0, 80), "COPY 1,234,567 rows");
  EXPECT_EQ(ProgressBar::Render("COPY", 12, std::nullopt, 3000.7, 80), "COPY 12 rows, 3,000/s");
  const std::string half = ProgressBar::Render("COPY", 50, 100, 0, 80);
  EXPECT_NE(half.find(" 50% 50 / 100 rows"), std::string::npos) << half;
  EXPECT_LE(half.size(), 80u);
  const size_t open = half.find('['), close = half.find(']');
  ASSERT_LT(open, close);
  const std::string bar = half.substr(open + 1, close - open - 1);
  EXPECT_EQ(std::count(bar.begin(), bar.end(), '#'), std::ptrdiff_t(bar.size() / 2)) << bar;
  // Never more than 100%, and a narrow terminal still gets a 10-cell bar.
  EXPECT_NE(ProgressBar::Render("x", 7, 5, 0, 80).find("100%"), std::string::npos);
  const std::string narrow = ProgressBar::Render("indexing", 1, 4, 0, 20);
  EXPECT_EQ(narrow.find(']') - narrow.find('[') - 1, 10u) << narrow;
}

}  // namespace
}  // namespace mrldb
