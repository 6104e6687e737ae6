// The server through mrldb::Client: statements and errors as a local Session gives them,
// concurrent clients, authentication, COPY confinement, cancel and progress, limits.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/server/server_test_util.h"

namespace mrldb::testing {
namespace {

constexpr char kCreate[] =
    "CREATE COLLECTION t (id BIGINT PRIMARY KEY, embedding VECTOR(4) METRIC L2, grp INT)";

// "INSERT INTO t VALUES ..." of rows first..first+n-1, all in group `grp`.
std::string InsertRows(int64_t first, int n, int64_t grp) {
  std::string sql = "INSERT INTO t VALUES ";
  for (int i = 0; i < n; ++i) {
    const int64_t id = first + i;
    sql += fmt::format("{}({}, [{}, {}, {}, 1], {})", i ? ", " : "", id, id % 7, id % 5, id % 3, grp);
  }
  return sql;
}

// A jsonl file of n rows for collection t.
void WriteRows(const std::string& path, int n) {
  std::ofstream f(path);
  for (int i = 0; i < n; ++i) {
    f << fmt::format("{{\"id\": {}, \"embedding\": [{}, 0, 1, 2], \"grp\": {}}}\n", i, i % 10, i % 3);
  }
}

// A server whose COPY directory holds rows.jsonl of `rows` rows.
struct CopyDirServer {
  explicit CopyDirServer(int rows, ServerOptions o = {}) : ts(Options(files, rows, std::move(o))) {}
  static ServerOptions Options(const TempDir& dir, int rows, ServerOptions o) {
    std::filesystem::create_directories(dir.path());
    WriteRows(dir.path() + "/rows.jsonl", rows);
    o.copy_dir = dir.path();
    return o;
  }
  TempDir files;
  TestServer ts;
};

bool IsStoppedCopy(const Status& s) {
  // The server stops a COPY through its progress callback or the session's cancel flag,
  // whichever the COPY checks first.
  return s.message().starts_with("COPY stopped after") || s.message().starts_with("COPY cancelled after");
}

void ExpectSameResult(const ResultSet& a, const ResultSet& b) {
  ASSERT_EQ(a.columns.size(), b.columns.size());
  for (size_t i = 0; i < a.columns.size(); ++i) {
    EXPECT_EQ(a.columns[i].name, b.columns[i].name);
    EXPECT_EQ(a.columns[i].type, b.columns[i].type);
  }
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.tag, b.tag);
  EXPECT_EQ(a.rows_affected, b.rows_affected);
}

TEST(Server, RunsStatementsAndReturnsErrorsLikeALocalSession) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->server_version().substr(0, 6), "mrldb ");
  auto r = c->Execute(kCreate);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tag, "CREATE COLLECTION");
  EXPECT_TRUE(r->columns.empty());
  r = c->Execute("INSERT INTO t VALUES (1, [1, 1, 0, 0], 10), (2, [0, 0, 1, 1], NULL)");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tag, "INSERT 2");
  EXPECT_EQ(r->rows_affected, 2u);

  Session local(&ts.db());
  const std::string search = "SELECT id, grp, distance, embedding FROM t ORDER BY embedding <-> $1 LIMIT 2";
  const Param q = std::vector<float>{1, 1, 0, 0.5f};
  r = c->Execute(search, {&q, 1});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 2u);
  EXPECT_EQ(r->rows[0][0], Cell{int64_t{1}});
  EXPECT_EQ(r->rows[1][1], Cell{});  // NULL travels as NULL
  EXPECT_EQ(r->rows[0][3], (Cell{std::vector<float>{1, 1, 0, 0}}));
  auto l = local.Execute(search, {&q, 1});
  ASSERT_TRUE(l.ok());
  ExpectSameResult(*r, *l);

  QueryMatrix m;
  m.rows = 2;
  m.dim = 4;
  m.values = {0, 0, 1, 1, 1, 1, 0, 0};
  const Param batch = m;
  r = c->Execute("SELECT query_index, id FROM t ORDER BY embedding <-> $1 LIMIT 1", {&batch, 1});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 2u);
  EXPECT_EQ(r->rows[0][1], Cell{int64_t{2}});
  EXPECT_EQ(r->rows[1][1], Cell{int64_t{1}});

  // The same error, position included, so that FormatError prints the same caret.
  const std::string bad = "SELECT id\nFROM t WHERE nope = 1";
  auto remote = c->Execute(bad);
  auto mine = local.Execute(bad);
  ASSERT_FALSE(remote.ok());
  ASSERT_FALSE(mine.ok());
  EXPECT_EQ(remote.status().code(), mine.status().code());
  EXPECT_EQ(remote.status().message(), mine.status().message());
  EXPECT_EQ(remote.status().line(), 2u);
  EXPECT_EQ(remote.status().column(), mine.status().column());
  EXPECT_EQ(FormatError(bad, remote.status()), FormatError(bad, mine.status()));
  EXPECT_TRUE(c->Execute("SELECT id FROM nowhere").status().IsNotFound());

  // Settings belong to the connection's own Session.
  auto other = ts.Connect();
  ASSERT_TRUE(c->Execute("SET limit = 1").ok());
  const std::string no_limit = "SELECT id FROM t ORDER BY embedding <-> [0, 0, 0, 0]";  // k from the setting
  EXPECT_EQ(c->Execute(no_limit)->rows.size(), 1u);
  EXPECT_EQ(other->Execute(no_limit)->rows.size(), 2u);

  ASSERT_OK(c->Ping());  // the connection survives statement errors
  c->Close();
  EXPECT_EQ(c->Execute("SHOW COLLECTIONS").status().code(), Status::Code::kIOError);
  EXPECT_EQ(c->Ping().code(), Status::Code::kIOError);
}

// Writers insert batches (one group per batch) while readers list all rows and search: a reader
// must see every group whole or not at all, and every acknowledged batch must be there at the end.
TEST(Server, ConcurrentClientsSeeWholeBatchesAndKeepEveryAcknowledgedRow) {
  TestServer ts;
  ASSERT_TRUE(ts.Connect()->Execute(kCreate).ok());
  constexpr int kWriters = 4, kBatches = 25, kRows = 40;
  std::atomic<int> writers_left{kWriters};
  std::atomic<int> acknowledged{0};
  std::atomic<int> reads{0};
  std::vector<std::string> failures[kWriters + 2];
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      auto c = Client::Connect(ts.address());
      if (!c.ok()) {
        failures[w].push_back(c.status().ToString());
      } else {
        for (int b = 0; b < kBatches; ++b) {
          const int grp = w * 1000 + b;
          auto r = (*c)->Execute(InsertRows(int64_t{grp} * kRows, kRows, grp));
          if (!r.ok()) failures[w].push_back(r.status().ToString());
          else ++acknowledged;
        }
      }
      --writers_left;
    });
  }
  for (int rdr = 0; rdr < 2; ++rdr) {
    threads.emplace_back([&, rdr] {
      auto& fail = failures[kWriters + rdr];
      auto c = Client::Connect(ts.address());
      if (!c.ok()) return fail.push_back(c.status().ToString());
      while (writers_left > 0) {
        auto r = (*c)->Execute("SELECT grp FROM t LIMIT 100000");
        if (!r.ok()) return fail.push_back(r.status().ToString());
        std::map<int64_t, int> per_group;
        for (const auto& row : r->rows) ++per_group[std::get<int64_t>(row[0])];
        for (const auto& [grp, n] : per_group) {
          if (n != kRows) fail.push_back(fmt::format("group {} seen with {} of {} rows", grp, n, kRows));
        }
        auto s = (*c)->Execute("SELECT id, distance FROM t ORDER BY embedding <-> [1, 2, 0, 1] LIMIT 5");
        if (!s.ok()) return fail.push_back(s.status().ToString());
        ++reads;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& f : failures) EXPECT_TRUE(f.empty()) << f.front();
  EXPECT_EQ(acknowledged, kWriters * kBatches);
  EXPECT_GT(reads, 0);
  auto c = ts.Connect();
  auto r = c->Execute("SELECT grp FROM t LIMIT 100000");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rows.size(), size_t{kWriters} * kBatches * kRows);
}

TEST(Server, TokenIsRequiredAndCheckedInConstantTime) {
  ServerOptions o;
  o.token = "s3cret";
  TestServer ts(o);
  auto c = Client::Connect(ts.address());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("requires a token"), std::string::npos) << c.status().ToString();
  ClientOptions wrong;
  wrong.token = "s3creT";
  c = Client::Connect(ts.address(), wrong);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsInvalidArgument());
  EXPECT_NE(c.status().message().find("authentication failed"), std::string::npos) << c.status().ToString();
  wrong.token = "s3cret-and-more";
  EXPECT_FALSE(Client::Connect(ts.address(), wrong).ok());

  // A raw client that skips AUTH cannot run anything.
  RawConnection raw(ts.port());
  raw.Handshake();
  raw.Send(wire::EncodeQuery("SHOW COLLECTIONS", {}));
  const wire::ErrorFrame e = raw.ReadError();
  EXPECT_EQ(e.code, wire::CodeOf(wire::ErrorCode::kAuthFailed));
  EXPECT_TRUE(e.fatal);
  EXPECT_NE(e.message.find("authentication required"), std::string::npos) << e.message;
  EXPECT_TRUE(raw.AtEof());

  ClientOptions right;
  right.token = "s3cret";
  auto ok = ts.Connect(right);
  ASSERT_NE(ok, nullptr);
  EXPECT_TRUE(ok->Execute("SHOW COLLECTIONS").ok());
}

TEST(Server, NonLoopbackAddressNeedsAToken) {
  ServerOptions o;
  o.listen = "0.0.0.0:7733";
  Status s = Server::Validate(o);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("refusing to listen on 0.0.0.0:7733 without a token"), std::string::npos) << s.ToString();
  testing::TempDir dir;
  auto db = OpenOrDie(dir.path());
  EXPECT_FALSE(Server::Start(db.get(), o).ok());
  o.token = "t";
  EXPECT_TRUE(Server::Validate(o).ok());
  o.listen = "[::1]:0";
  o.token.clear();
  EXPECT_TRUE(Server::Validate(o).ok());
  o.listen = "localhost:99999";
  EXPECT_FALSE(Server::Validate(o).ok());
  o.listen = "example.org:80";
  EXPECT_FALSE(Server::Validate(o).ok());
  ASSERT_OK(db->Close());
}

TEST(Server, CopyUsesOnlyFilesInsideTheCopyDirectory) {
  testing::TempDir files_root;
  const std::filesystem::path files = files_root.path() + "/files", outside = files_root.path() + "/outside";
  std::filesystem::create_directories(files);
  std::filesystem::create_directories(outside);
  std::filesystem::create_directory_symlink(outside, files / "link");
  ServerOptions o;
  o.copy_dir = files.string();
  TestServer ts(o);
  auto c = ts.Connect();
  ASSERT_TRUE(c->Execute(kCreate).ok());
  ASSERT_TRUE(c->Execute(InsertRows(0, 10, 1)).ok());

  auto r = c->Execute("COPY t TO 'out.jsonl'");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(std::filesystem::exists(files / "out.jsonl"));
  for (const std::string& path : {std::string("../escape.jsonl"), outside.string() + "/abs.jsonl",
                                  std::string("link/through-symlink.jsonl"), std::string("/etc/passwd")}) {
    r = c->Execute("COPY t TO '" + path + "'");
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_NE(r.status().message().find("is refused: the server only writes files inside its COPY directory"),
              std::string::npos) << r.status().ToString();
  }
  r = c->Execute("COPY t FROM '../outside/x.jsonl'");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("only reads files inside"), std::string::npos) << r.status().ToString();
  EXPECT_TRUE(std::filesystem::is_empty(outside));

  ASSERT_TRUE(c->Execute("CREATE COLLECTION u (id BIGINT PRIMARY KEY, embedding VECTOR(4) METRIC L2, grp INT)").ok());
  r = c->Execute("COPY u FROM 'out.jsonl'");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows_affected, 10u);
}

TEST(Server, CopyWithoutACopyDirectoryIsRefused) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_TRUE(c->Execute(kCreate).ok());
  for (const std::string sql : {"COPY t TO 'x.jsonl'", "  copy t FROM '/etc/passwd' WITH (format csv)",
                                "COPY t FROM 'v.npy' WITH (ids 'ids.txt')"}) {
    auto r = c->Execute(sql);
    ASSERT_FALSE(r.ok()) << sql;
    EXPECT_EQ(r.status().code(), Status::Code::kNotSupported) << r.status().ToString();
    EXPECT_NE(r.status().message().find("start it with --copy-dir DIR"), std::string::npos) << r.status().ToString();
    EXPECT_EQ(r.status().line(), 1u);
  }
  // TUNE's query file is read on the server too: refused the same way, naming TUNE.
  auto tune = c->Execute("TUNE t FOR RECALL 0.9 USING QUERIES FROM '/etc/passwd.csv'");
  ASSERT_FALSE(tune.ok());
  EXPECT_EQ(tune.status().code(), Status::Code::kNotSupported) << tune.status().ToString();
  EXPECT_NE(tune.status().message().find("TUNE ... USING QUERIES FROM reads a file on the server"),
            std::string::npos) << tune.status().ToString();
  EXPECT_NE(tune.status().message().find("start it with --copy-dir DIR"), std::string::npos);
  // EXPLAIN of a COPY touches no file: it describes the COPY; EXPLAIN ANALYZE runs it, refused.
  auto explained = c->Execute("EXPLAIN COPY t TO 'x.jsonl'");
  ASSERT_TRUE(explained.ok()) << explained.status().ToString();
  EXPECT_FALSE(std::filesystem::exists("x.jsonl"));
  auto analyzed = c->Execute("EXPLAIN ANALYZE COPY t TO 'x.jsonl'");
  ASSERT_FALSE(analyzed.ok());
  EXPECT_EQ(analyzed.status().code(), Status::Code::kNotSupported) << analyzed.status().ToString();
  EXPECT_FALSE(std::filesystem::exists("x.jsonl"));
  // Statements that merely mention "copy" run.
  auto r = c->Execute("SELECT id FROM t WHERE grp = 1 /* copy */");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

// A COPY large enough to take many batches; the client cancels it from another thread after the
// first PROGRESS frame, then from the progress callback itself.
TEST(Server, CancelStopsACopyBetweenBatchesAndProgressIsForwarded) {
  CopyDirServer fixture(50000);
  TestServer& ts = fixture.ts;
  std::atomic<int> progress_calls{0};
  std::atomic<uint64_t> last_done{0};
  std::atomic<bool> stop_from_callback{false};
  ClientOptions co;
  co.progress = [&](const CopyProgress& p) {
    ++progress_calls;
    last_done = p.rows_done;
    return !stop_from_callback;
  };
  auto c = ts.Connect(co);
  ASSERT_TRUE(c->Execute(kCreate).ok());
  std::thread canceller([&] {
    while (progress_calls == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    c->Cancel();
  });
  auto r = c->Execute("COPY t FROM 'rows.jsonl' WITH (batch_size 5)");
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsStoppedCopy(r.status())) << r.status().ToString();
  EXPECT_GE(progress_calls, 1);
  EXPECT_GT(last_done, 0u);
  auto rows = c->Execute("SELECT id FROM t LIMIT 100000");
  ASSERT_TRUE(rows.ok());
  EXPECT_LT(rows->rows.size(), 50000u);
  EXPECT_EQ(rows->rows.size() % 5, 0u);  // whole batches only

  ASSERT_TRUE(c->Execute("CREATE COLLECTION u (id BIGINT PRIMARY KEY, embedding VECTOR(4) METRIC L2, grp INT)").ok());
  stop_from_callback = true;
  r = c->Execute("COPY u FROM 'rows.jsonl' WITH (batch_size 5)");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsStoppedCopy(r.status())) << r.status().ToString();
  ASSERT_OK(c->Ping());
  c->Cancel();  // nothing runs: ignored
  EXPECT_TRUE(c->Execute("SHOW COLLECTIONS").ok());
}

// The frames on the wire while a statement runs: PROGRESS frames, a PONG for a PING sent
// mid-statement (the connection is still read while its statement runs), then CANCEL ends it.
TEST(Server, PingAndCancelAreAnsweredWhileAStatementRuns) {
  CopyDirServer fixture(50000);
  TestServer& ts = fixture.ts;
  ASSERT_TRUE(ts.Connect()->Execute(kCreate).ok());
  RawConnection raw(ts.port());
  raw.Handshake();
  raw.Send(wire::EncodeQuery("COPY t FROM 'rows.jsonl' WITH (batch_size 5)", {}));
  uint8_t type = 0;
  std::string payload;
  ASSERT_TRUE(raw.ReadFrame(&type, &payload));
  ASSERT_EQ(type, uint8_t(wire::FrameType::kProgress));  // the COPY is running
  raw.Send(wire::EncodeEmpty(wire::FrameType::kPing));
  do {
    ASSERT_TRUE(raw.ReadFrame(&type, &payload));
  } while (type == uint8_t(wire::FrameType::kProgress));
  EXPECT_EQ(type, uint8_t(wire::FrameType::kPong));  // before the statement's result
  raw.Send(wire::EncodeEmpty(wire::FrameType::kCancel));
  do {
    ASSERT_TRUE(raw.ReadFrame(&type, &payload));
  } while (type == uint8_t(wire::FrameType::kProgress));
  ASSERT_EQ(type, uint8_t(wire::FrameType::kError));
  auto e = wire::DecodeError(payload);
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->fatal);
  EXPECT_TRUE(IsStoppedCopy(wire::ToStatus(*e))) << e->message;
  raw.Send(wire::EncodeEmpty(wire::FrameType::kPing));  // the connection is ready again
  ASSERT_TRUE(raw.ReadFrame(&type, &payload));
  EXPECT_EQ(type, uint8_t(wire::FrameType::kPong));
}

// With one statement thread, a statement queued behind a long COPY and cancelled while it waits
// never runs.
TEST(Server, CancelOfAQueuedStatementStopsItBeforeItStarts) {
  ServerOptions o;
  o.statement_threads = 1;
  CopyDirServer fixture(50000, o);
  TestServer& ts = fixture.ts;
  std::atomic<bool> progressed{false};
  ClientOptions co;
  co.progress = [&](const CopyProgress&) { return progressed = true; };
  auto a = ts.Connect(co);
  auto b = ts.Connect();
  ASSERT_TRUE(a->Execute(kCreate).ok());
  Result<ResultSet> copy = Status::Internal("not run");
  std::thread copier([&] { copy = a->Execute("COPY t FROM 'rows.jsonl' WITH (batch_size 5)"); });
  while (!progressed) std::this_thread::sleep_for(std::chrono::microseconds(200));
  Result<ResultSet> queued = Status::Internal("not run");
  std::thread waiter([&] { queued = b->Execute("INSERT INTO t VALUES (-1, [0, 0, 0, 0], 0)"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  b->Cancel();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  a->Cancel();
  copier.join();
  waiter.join();
  EXPECT_TRUE(IsStoppedCopy(copy.status())) << copy.status().ToString();
  ASSERT_FALSE(queued.ok());
  EXPECT_EQ(queued.status().message(), "the statement was cancelled before it started");
  auto r = b->Execute("SELECT id FROM t WHERE id = -1");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->rows.empty());
}

// Stop() while a COPY runs: the COPY is cancelled, its result (the error) comes first, then the
// SHUTDOWN error closes the connection.
TEST(Server, StopCancelsARunningStatementAndSendsItsResultFirst) {
  CopyDirServer fixture(50000);
  TestServer& ts = fixture.ts;
  std::atomic<bool> progressed{false};
  ClientOptions co;
  co.progress = [&](const CopyProgress&) { return progressed = true; };
  auto c = ts.Connect(co);
  ASSERT_TRUE(c->Execute(kCreate).ok());
  std::thread stopper([&] {
    while (!progressed) std::this_thread::sleep_for(std::chrono::microseconds(200));
    ts.server().Stop();
  });
  auto r = c->Execute("COPY t FROM 'rows.jsonl' WITH (batch_size 5)");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsStoppedCopy(r.status())) << r.status().ToString();
  Status s = c->Ping();
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find("the server is shutting down"), std::string::npos) << s.ToString();
  stopper.join();  // Stop returns once the connection is closed (the client closed on the error)
  EXPECT_EQ(ts.server().connections(), 0u);
  // What the COPY committed before it stopped is there, in whole batches.
  Session local(&ts.db());
  auto rows = local.Execute("SELECT id FROM t LIMIT 100000");
  ASSERT_TRUE(rows.ok());
  EXPECT_GT(rows->rows.size(), 0u);
  EXPECT_EQ(rows->rows.size() % 5, 0u);
}

TEST(Server, ResultAndStatementLimitsAreErrorsNotTruncation) {
  ServerOptions o;
  o.max_result_rows = 5;
  o.max_statement_bytes = 300;
  o.max_frame_bytes = 4096;
  TestServer ts(o);
  auto c = ts.Connect();
  EXPECT_EQ(c->server_max_frame_bytes(), 4096u);
  ASSERT_TRUE(c->Execute(kCreate).ok());
  ASSERT_TRUE(c->Execute(InsertRows(0, 5, 1)).ok());
  ASSERT_TRUE(c->Execute(InsertRows(5, 5, 1)).ok());
  auto r = c->Execute("SELECT id FROM t LIMIT 10");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("the result has 10 rows; this server sends at most 5"), std::string::npos)
      << r.status().ToString();
  r = c->Execute("SELECT id FROM t LIMIT 5");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rows.size(), 5u);
  r = c->Execute("SELECT id FROM t WHERE " + std::string(300, ' ') + "grp = 1");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("this server accepts at most 300"), std::string::npos) << r.status().ToString();
  // A frame over the server's limit is refused by the client before it is sent.
  const Param big = std::vector<float>(2000, 1.0f);
  r = c->Execute("SELECT id FROM t ORDER BY embedding <-> $1 LIMIT 1", {&big, 1});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("the server accepts frames of at most 4096"), std::string::npos)
      << r.status().ToString();
  ASSERT_OK(c->Ping());
}

}  // namespace
}  // namespace mrldb::testing
