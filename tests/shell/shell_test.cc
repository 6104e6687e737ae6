// The mrldb executable driven non-interactively: -c, -f, stdin, output formats, exit status,
// error carets on standard error, and the index wait before a script run exits.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "shell/progress.h"
#include "tests/serve_process.h"
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

// Statements run one by one, as in psql: the first runs and prints, then the second's error is
// shown against that statement (LINE 1 of it, the caret in it), whether they come from -c, -f
// or standard input.
TEST(Shell, RunsEachStatementBeforeParsingTheNext) {
  testing::TempDir db;
  const std::string base = "--db " + db.path();
  auto r = Shell(base + " -c \"CREATE COLLECTION t (id BIGINT PRIMARY KEY, embedding VECTOR(2))\"");
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string two = "SELECT id FROM t; SELECT UPPER(id) FROM t;";
  const std::string error = "ERROR:  syntax error at or near \"(\": expected AS, ',' or FROM\n"
                            "LINE 1: SELECT UPPER(id) FROM t\n"
                            "                    ^\n";
  testing::TempDir files;
  std::filesystem::create_directories(files.path());
  std::ofstream(files.path() + "/two.sql") << two << "\n";
  for (const auto& [args, input] : {std::pair<std::string, std::string>{" -c \"" + two + "\"", ""},
                                    {" -f " + files.path() + "/two.sql", ""},
                                    {"", two}}) {
    r = Shell(base + args, input);
    EXPECT_EQ(r.status, 1) << args;
    EXPECT_EQ(r.out, " id\n----\n(0 rows)\n") << args;
    EXPECT_EQ(r.err, error) << args;
  }
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
  // The demo says where its data went and prints a search that runs as printed.
  r = Shell("--db " + db.path() + " demo");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("is stored in the database at " + std::filesystem::absolute(db.path()).string()),
            std::string::npos) << r.out;
  const size_t at = r.out.find("  mrldb --db ");
  ASSERT_NE(at, std::string::npos) << r.out;
  std::string again = r.out.substr(at + 8, r.out.find('\n', at) - at - 8);
  r = Shell(again);
  ASSERT_EQ(r.status, 0) << again << "\n" << r.err;
  EXPECT_NE(r.out.find("(5 rows)"), std::string::npos) << r.out;
}

TEST(Shell, BackslashCommandsRunFromDashC) {
  testing::TempDir db;
  const std::string base = "--db " + db.path();
  auto r = Shell(base + " -c \"CREATE COLLECTION t (id BIGINT PRIMARY KEY, embedding VECTOR(2))\" -c '\\d' -c '\\d t'");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(" t    |   2 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PRIMARY KEY"), std::string::npos) << r.out;
  r = Shell(base + " -c '\\h drop'");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("drop          = \"DROP\" \"COLLECTION\""), std::string::npos) << r.out;
  r = Shell(base + " -c '\\dd' -c '\\d'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("invalid command \\dd; did you mean \\d?"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "") << "the first error stops the run";
  r = Shell(base + " -c '\\h frobnicate'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no statement starts with 'frobnicate'"), std::string::npos) << r.err;
}

TEST(Shell, ErrorsShowTheLineWithACaret) {
  testing::TempDir db;
  auto r = Shell("--db " + db.path(), "SELECT id\nFROM nope;\n");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ERROR:  collection \"nope\" does not exist\nLINE 2: FROM nope\n             ^\n");
  r = Shell("--db " + db.path() + " --format xml");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown format 'xml'"), std::string::npos);
}

// The command line (CLI11, cli/cli.h): options before or after a subcommand, --help and
// --version, and every usage error exit status 2 naming what was wrong.
TEST(Shell, CommandLine) {
  testing::TempDir db;
  auto r = Shell("-c \"SHOW COLLECTIONS\" --db " + db.path() + " --no-wait --format csv");
  EXPECT_EQ(r.status, 0) << r.err;
  r = Shell("-c \"SHOW COLLECTIONS\" --db " + db.path() + " --memory-budget 64M --storage-read-depth 8");
  EXPECT_EQ(r.status, 0) << r.err;
  r = Shell("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.rfind("mrldb ", 0), 0u) << r.out;
  r = Shell("--help");
  EXPECT_EQ(r.status, 0);
  for (const char* o : {"--db PATH", "-c SQL", "--no-wait", "connect", "demo", "serve"}) {
    EXPECT_NE(r.out.find(o), std::string::npos) << o << "\n" << r.out;
  }
  const std::pair<std::string, std::string> errors[] = {
      {"--db " + db.path() + " --no-wiat", "--no-wiat; did you mean --no-wait?"},
      {"--db " + db.path() + " -c", "-c needs a value"},
      {"demo --rows 5 --db " + db.path(), "mrldb demo: --rows: bad value '5' (an integer in 100..10000000)"},
      {"demo --rowz 500", "did you mean --rows?"},
      {"conect 127.0.0.1:1", "did you mean connect?"},
      {"connect", "mrldb connect: address is required"},
      {"connect 127.0.0.1:1 --db " + db.path(), "--db"},
      {"--db " + db.path() + " serve", "serve comes first"},
      {"--db " + db.path() + " --storage-read-depth 65", "--storage-read-depth: bad value '65'"},
      {"--db " + db.path() + " --storage-read-depth x", "--storage-read-depth"},
  };
  for (const auto& [args, message] : errors) {
    r = Shell(args);
    EXPECT_EQ(r.status, 2) << args;
    EXPECT_NE(r.err.find(message), std::string::npos) << args << "\n" << r.err;
  }
}

// A second process on a database in use is told who holds it and how to share it, not
// RocksDB's "IO error: While lock file: .../LOCK: Resource temporarily unavailable".
TEST(Shell, ErrorsSayAnotherProcessHoldsTheDatabase) {
  testing::TempDir db;
  auto holder = testing::OpenOrDie(db.path());  // this test's process holds it
  auto r = Shell("--db " + db.path() + " -c \"SHOW COLLECTIONS\"");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "mrldb: cannot open '" + db.path() + "': IO error: database '" + db.path() +
                       "' is in use by another process (an mrldb shell or `mrldb serve`); one "
                       "process at a time opens a database: to share it, run `mrldb serve --db " +
                       db.path() + "` and connect to it with `mrldb connect HOST:PORT` or a "
                       "client\n");
}

// "N rows indexed, M pending" of DESCRIBE c in a fresh process.
std::pair<uint64_t, uint64_t> IndexCounts(const std::string& db, const std::string& c) {
  auto r = Shell("--db " + db + " --no-wait -c \"DESCRIBE " + c + "\"");
  std::smatch m;
  static const std::regex kIndexed(R"((\d+) rows indexed, (\d+) pending)");
  EXPECT_TRUE(std::regex_search(r.out, m, kIndexed)) << r.out << r.err;
  return m.empty() ? std::pair<uint64_t, uint64_t>{0, 0}
                   : std::pair<uint64_t, uint64_t>{std::stoull(m[1]), std::stoull(m[2])};
}

// The background indexer runs only while a process holds the database: a script run waits for
// the build of what it wrote before it exits, so the next open searches the graph, not a scan.
TEST(Shell, ScriptRunWaitsForTheIndexBuildOfWhatItWrote) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path());
  testing::WriteNpy(dir.path() + "/v.npy", 10000, 16);
  const std::string load = dir.path() + "/load.sql";
  std::ofstream(load) << "CREATE COLLECTION v (id BIGINT PRIMARY KEY, embedding VECTOR(16) METRIC L2);\n"
                      << "COPY v FROM '" << dir.path() << "/v.npy';\n";
  const std::string db = dir.path() + "/db";
  auto r = Shell("--db " + db + " -f " + load);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "CREATE COLLECTION\nCOPY 10000\n");
  EXPECT_EQ(r.err, "");  // no bar without a terminal
  EXPECT_EQ(IndexCounts(db, "v"), (std::pair<uint64_t, uint64_t>{10000, 0}));

  // --no-wait exits without waiting: the rows are all there, indexed or pending.
  const std::string db2 = dir.path() + "/db2";
  r = Shell("--db " + db2 + " --no-wait -f " + load);
  ASSERT_EQ(r.status, 0) << r.err;
  auto [indexed, pending] = IndexCounts(db2, "v");
  EXPECT_EQ(indexed + pending, 10000u);
  // WAIT FOR INDEX does it in a session (here with --no-wait: only the statement waits).
  r = Shell("--db " + db2 + " --no-wait -c \"WAIT FOR INDEX v\"");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "WAIT FOR INDEX 10000\n");
  EXPECT_EQ(IndexCounts(db2, "v"), (std::pair<uint64_t, uint64_t>{10000, 0}));

  r = Shell("--db " + db2 + " -c \"WAIT FOR INDEX nope\"");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ERROR:  collection \"nope\" does not exist\nLINE 1: WAIT FOR INDEX nope\n                       ^\n");
}

// Through `mrldb serve`: the statement runs on the server.
TEST(Shell, WaitForIndexThroughTheServer) {
  testing::TempDir dir;
  testing::NpyServer server(dir.path(), 10000, 16);
  const uint16_t port = server.WaitForPort();
  ASSERT_NE(port, 0) << testing::ReadFile(dir.path() + "/log");
  auto r = Shell("connect 127.0.0.1:" + std::to_string(port) +
                 " -c \"CREATE COLLECTION v (id BIGINT PRIMARY KEY, embedding VECTOR(16) METRIC L2)\""
                 " -c \"COPY v FROM 'v.npy'\" -c \"WAIT FOR INDEX v\" -c \"WAIT FOR INDEX x\"");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "CREATE COLLECTION\nCOPY 10000\nWAIT FOR INDEX 10000\n");
  EXPECT_NE(r.err.find("collection \"x\" does not exist"), std::string::npos) << r.err;
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

// \copy with this machine's files, against a server without a COPY directory (the bytes travel
// over the wire) and against a local database (COPY itself): the same rows, files and errors.
TEST(Shell, BackslashCopyUsesTheShellsFilesLocallyAndRemotely) {
  testing::TempDir dir;
  const std::string here = dir.path() + "/here/";
  std::filesystem::create_directories(here);
  testing::ServeProcess server({"--db", dir.path() + "/served", "--listen", "127.0.0.1:0"},
                               dir.path() + "/log");
  const uint16_t port = server.WaitForPort();
  ASSERT_NE(port, 0) << testing::ReadFile(dir.path() + "/log");
  std::ofstream(here + "in.csv") << "id,embedding,tag\n1,\"[1, 2]\",a\n2,\"[3, 4]\",b\n3,\"[5, 6]\",\n";
  std::ofstream(here + "bad.csv") << "id,embedding,tag\n9,\"[1, 2]\",a\n10,\"[3]\",b\n";
  const auto c = [](const std::string& command) { return " -c \"" + command + "\""; };
  const std::string create = c("CREATE COLLECTION v (id BIGINT PRIMARY KEY, embedding VECTOR(2) METRIC L2, tag TEXT)");
  std::string exported[2];
  for (int remote = 1; remote >= 0; --remote) {
    const std::string target = remote ? "connect 127.0.0.1:" + std::to_string(port)
                                      : "--db " + dir.path() + "/local";
    SCOPED_TRACE(target);
    const std::string out = here + (remote ? "r" : "l");
    auto r = Shell(target + create + c("\\copy v FROM '" + here + "in.csv' WITH (batch_size 2)") +
                   c("\\copy v TO '" + out + ".jsonl'") + c("\\copy v TO '" + out + ".npy'") +
                   c("CREATE COLLECTION w (id BIGINT PRIMARY KEY, embedding VECTOR(2))") +
                   c("\\copy w FROM '" + out + ".npy'") + c("SELECT id, embedding FROM w WHERE id = 2"));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "CREATE COLLECTION\nCOPY 3\nCOPY 3\nCOPY 3\nCREATE COLLECTION\nCOPY 3\n"
                     " id | embedding\n----+-----------\n  2 | [3, 4]   \n(1 row)\n");
    exported[remote] = testing::ReadFile(out + ".jsonl");
    EXPECT_EQ(testing::ReadFile(out + ".ids.txt"), "1\n2\n3\n");  // the npy's ids, by its side

    // Errors: bad data by its place, a file that exists, STDIN, a name without a format.
    r = Shell(target + c("\\copy v FROM '" + here + "bad.csv'"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("bad.csv: line 3, column 'embedding': 1 values, expected 2"), std::string::npos) << r.err;
    r = Shell(target + c("\\copy v TO '" + out + ".jsonl'"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("exists"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("overwrite"), std::string::npos) << r.err;
    r = Shell(target + c("\\copy v TO '" + out + ".jsonl' WITH (overwrite true)"));
    EXPECT_EQ(r.status, 0) << r.err;
    r = Shell(target + c("\\copy v FROM STDIN"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("\\copy reads and writes this machine's files"), std::string::npos) << r.err;
    r = Shell(target + c("\\copy v TO '" + out + ".txt'"));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("cannot tell the format from the extension"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(out + ".txt"));
  }
  EXPECT_EQ(exported[0], exported[1]);
  EXPECT_EQ(exported[1].substr(0, 42), "{\"id\": 1, \"embedding\": [1,2], \"tag\": \"a\"}\n") << exported[1];
  EXPECT_EQ(server.Stop(SIGTERM), 0);
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
