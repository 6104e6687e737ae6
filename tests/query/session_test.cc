// Session behaviour beyond the SQL logic files: parameters, COPY of a 100,000-row float16 .npy
// with progress and cancellation, WAIT FOR INDEX, the COPY directory guard, EXPLAIN ANALYZE
// counters, errors.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mrldb/session.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Writes a version-1.0 .npy of float16 values (n x d) and a matching ids file.
void WriteHalfNpy(const std::string& path, const std::string& ids, size_t n, size_t d) {
  std::ofstream f = testing::NpyFile(path, "<f2", n, d);
  for (size_t i = 0; i < n * d; ++i) {
    // Small integers are exact in float16: value (i % 7) encoded by hand.
    static const uint16_t kHalf[7] = {0x0000, 0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600};
    const uint16_t h = kHalf[(i + i / d) % 7];
    f.put(char(h & 0xff));
    f.put(char(h >> 8));
  }
  std::ofstream id(ids);
  for (size_t i = 0; i < n; ++i) id << i << '\n';
}

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::OpenOrDie(dir_.path());
    fs::create_directories(files_.path());
    SessionOptions o;
    o.copy_dir = files_.path();
    o.progress = [this](const CopyProgress& p) {
      progress_.push_back(p.rows_done);
      return !stop_after_ || p.rows_done < stop_after_;
    };
    session_ = std::make_unique<Session>(db_.get(), o);
    ASSERT_TRUE(Run("CREATE COLLECTION v (id BIGINT PRIMARY KEY, embedding VECTOR(8) MATRYOSHKA "
                    "(4, 8) METRIC L2, tag TEXT)").ok());
  }
  Result<ResultSet> Run(std::string_view sql, std::vector<Param> params = {}) {
    return session_->Execute(sql, params);
  }

  TempDir dir_, files_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Session> session_;
  std::vector<uint64_t> progress_;
  uint64_t stop_after_ = 0;
};

TEST_F(SessionTest, CopyHalfPrecisionNpyOf100kRowsWithProgress) {
  WriteHalfNpy(files_.path() + "/big.npy", files_.path() + "/big.ids.txt", 100000, 8);
  auto r = Run("COPY v FROM 'big.npy' WITH (batch_size 25000)");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tag, "COPY 100000");
  EXPECT_EQ(progress_, (std::vector<uint64_t>{25000, 50000, 75000, 100000}));
  auto row = db_->Get("v", Key{int64_t{12345}});
  ASSERT_TRUE(row.ok());
  for (size_t j = 0; j < 8; ++j) {
    const size_t i = 12345 * 8 + j;
    EXPECT_EQ(row->vector[j], float((i + i / 8) % 7));
  }
  // And back out: npy (float32) + ids, then into a second collection, identical.
  ASSERT_TRUE(Run("COPY v TO 'back.npy'").ok());
  ASSERT_TRUE(Run("CREATE COLLECTION w (id BIGINT PRIMARY KEY, embedding VECTOR(8) MATRYOSHKA (4, 8) "
                  "METRIC L2)").ok());
  auto back = Run("COPY w FROM 'back.npy'");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(db_->Get("w", Key{int64_t{99999}})->vector, db_->Get("v", Key{int64_t{99999}})->vector);
}

// ADD / DROP COLUMN are kept in the descriptor: after a reopen, rows written before an ADD read
// NULL there and a dropped column's stored values are not read back, even under its name re-added.
TEST_F(SessionTest, AddedAndDroppedColumnsSurviveReopen) {
  ASSERT_TRUE(Run("INSERT INTO v VALUES (1, [1, 2, 3, 4, 5, 6, 7, 8], 'a')").ok());
  ASSERT_TRUE(Run("ALTER COLLECTION v ADD COLUMN n INT").ok());
  ASSERT_TRUE(Run("INSERT INTO v VALUES (2, [1, 2, 3, 4, 5, 6, 7, 9], 'b', 7)").ok());
  ASSERT_TRUE(Run("ALTER COLLECTION v DROP COLUMN tag").ok());
  ASSERT_TRUE(Run("ALTER COLLECTION v ADD COLUMN tag TEXT").ok());
  ASSERT_TRUE(Run("INSERT INTO v VALUES (3, [1, 2, 3, 4, 5, 6, 7, 10], 8, 'c')").ok());
  session_.reset();
  ASSERT_TRUE(db_->Close().ok());
  db_ = testing::OpenOrDie(dir_.path());
  session_ = std::make_unique<Session>(db_.get(), SessionOptions{});
  auto rows = Run("SELECT id, n, tag FROM v ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->rows.size(), 3u);
  const std::vector<std::vector<Cell>> want = {{Cell{int64_t{1}}, Cell{}, Cell{}},
                                               {Cell{int64_t{2}}, Cell{int64_t{7}}, Cell{}},
                                               {Cell{int64_t{3}}, Cell{int64_t{8}}, Cell{"c"}}};
  EXPECT_EQ(rows->rows, want);
  auto described = Run("DESCRIBE v");
  ASSERT_TRUE(described.ok());
  EXPECT_EQ(std::get<std::string>(described->rows[2][0]), "n");
  EXPECT_EQ(std::get<std::string>(described->rows[3][0]), "tag");
}

// COPY ... WITH (on_conflict 'skip') says in its tag how many rows it left out.
TEST_F(SessionTest, CopySkipCountsTheRowsItLeftOut) {
  ASSERT_TRUE(Run("INSERT INTO v VALUES (1, [1, 2, 3, 4, 5, 6, 7, 8], 'a'), "
                  "(2, [1, 2, 3, 4, 5, 6, 7, 9], 'b')").ok());
  ASSERT_TRUE(Run("COPY v TO 'v.jsonl'").ok());
  ASSERT_TRUE(Run("DELETE FROM v WHERE id = 2").ok());
  auto r = Run("COPY v FROM 'v.jsonl' WITH (on_conflict 'skip')");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tag, "COPY 1 (1 rows skipped: their ids were stored)");
  EXPECT_EQ(r->rows_affected, 1u);
}

// SHOW STATS: live and deleted rows, and an on-disk size that grows with the rows written.
TEST_F(SessionTest, ShowStatsCountsRowsAndBytesOnDisk) {
  auto empty = Run("SHOW STATS v");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  ASSERT_EQ(empty->rows.size(), 1u);
  const int64_t empty_bytes = std::get<int64_t>(empty->rows[0][3]);
  std::string values;
  for (int i = 0; i < 200; ++i) {
    values += fmt::format("{}({}, [{}, 1, 2, 3, 4, 5, 6, 7], 'tag {}')", i ? ", " : "", i, i, i);
  }
  ASSERT_TRUE(Run("INSERT INTO v VALUES " + values).ok());
  ASSERT_TRUE(Run("DELETE FROM v WHERE id < 50").ok());
  ASSERT_TRUE(db_->Flush().ok());
  auto stats = Run("SHOW STATS");
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  ASSERT_EQ(stats->columns.size(), 7u);
  EXPECT_EQ(stats->columns[3].name, "disk_bytes");
  EXPECT_EQ(stats->columns[6].name, "unvacuumed_rows");
  ASSERT_EQ(stats->rows.size(), 1u);
  EXPECT_EQ(std::get<std::string>(stats->rows[0][0]), "v");
  EXPECT_EQ(std::get<int64_t>(stats->rows[0][1]), 150);
  EXPECT_EQ(std::get<int64_t>(stats->rows[0][2]), 50);
  // 150 live rows hold at least their vectors (8 float32 each) on disk.
  EXPECT_GT(std::get<int64_t>(stats->rows[0][3]), std::max<int64_t>(empty_bytes, 150 * 32));
  EXPECT_GT(std::get<int64_t>(stats->rows[0][5]), 0);
  EXPECT_EQ(std::get<int64_t>(stats->rows[0][6]), 50);
  auto missing = Run("SHOW STATS nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "collection \"nope\" does not exist");
  EXPECT_EQ(missing.status().column(), 12u);
}

TEST_F(SessionTest, StoppedCopyKeepsWholeBatchesAndSaysHowMany) {
  WriteHalfNpy(files_.path() + "/s.npy", files_.path() + "/s.ids.txt", 1000, 8);
  stop_after_ = 400;
  auto r = Run("COPY v FROM 's.npy' WITH (batch_size 200)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCancelled);
  EXPECT_NE(r.status().message().find("stopped after 400 rows"), std::string::npos) << r.status().message();
  EXPECT_EQ(db_->DescribeCollection("v")->live_rows, 400u);
}

TEST_F(SessionTest, CancelStopsABatchSearchFromAnotherThread) {
  // 20,000 exact searches over 20,000 rows: seconds of work, stopped between queries.
  ASSERT_TRUE(Run("CREATE COLLECTION big (id BIGINT PRIMARY KEY, embedding VECTOR(64) METRIC L2)").ok());
  constexpr size_t kRows = 20000, kDim = 64;
  InsertBatch b;
  std::vector<float> v(kDim);
  for (size_t i = 0; i < kRows; ++i) {
    for (size_t j = 0; j < kDim; ++j) v[j] = float((i * 7 + j * 13) % 97);
    b.Add(Key{int64_t(i)}, v);
  }
  ASSERT_TRUE(db_->Insert("big", b).ok());
  QueryMatrix m;
  m.rows = kRows;
  m.dim = kDim;
  m.values.assign(kRows * kDim, 1.0f);
  std::atomic<bool> finished{false};
  // Run() clears a Cancel that comes before the statement starts: keep asking until it ends.
  std::thread canceller([&] {
    while (!finished) {
      session_->Cancel();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  auto r = Run("SELECT id FROM big ORDER BY embedding <-> $1 LIMIT 10 USING EXACT", {Param{m}});
  finished = true;
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCancelled) << r.status().ToString();
  EXPECT_NE(r.status().message().find("search cancelled after "), std::string::npos);
  // The session stays usable.
  EXPECT_TRUE(Run("SELECT id FROM big WHERE id = 3").ok());
}

// VACUUM: the storage of dead rows is freed, progress comes through the COPY channel, and a
// cancel stops it between slices with the database as correct as before.
TEST_F(SessionTest, VacuumFreesDeadRowsReportsProgressAndCancels) {
  // 1100 dims in one block: a row group per row, so every dead row's group is complete.
  ASSERT_TRUE(Run("CREATE COLLECTION big (id BIGINT PRIMARY KEY, embedding VECTOR(1100) "
                  "MATRYOSHKA (1100) METRIC L2)").ok());
  InsertBatch b;
  const auto v = testing::RandomVectors(2000, 1100, 3);
  for (int64_t i = 0; i < 2000; ++i) b.Add(Key{i}, std::span<const float>(v.data() + i * 1100, 1100));
  ASSERT_TRUE(db_->Insert("big", b).ok());
  ASSERT_TRUE(Run("DELETE FROM big WHERE id < 1200").ok());
  ASSERT_TRUE(db_->Flush().ok());
  stop_after_ = 1;  // the first slice's report stops it
  auto r = Run("VACUUM big");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCancelled);
  EXPECT_NE(r.status().message().find("VACUUM cancelled after"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(r.status().line(), 1u);
  stop_after_ = 0;
  ASSERT_EQ(progress_.size(), 1u);
  const int64_t first_slice = int64_t(progress_[0]);  // rewritten before the stop, and kept
  progress_.clear();
  r = Run("vacuum BIG");  // names match case-insensitively
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tag, "VACUUM");
  ASSERT_EQ(r->columns.size(), 5u);
  EXPECT_EQ(r->columns[0].name, "dead_rows");
  EXPECT_EQ(std::get<int64_t>(r->rows[0][0]), 1200);
  // Groups rewritten: one row each, those of the first slice by the stopped vacuum.
  EXPECT_EQ(std::get<int64_t>(r->rows[0][1]), 1200 - first_slice);
  EXPECT_EQ(std::get<int64_t>(r->rows[0][2]), (1200 - first_slice) * 1101 * 4);
  EXPECT_LT(std::get<int64_t>(r->rows[0][4]), std::get<int64_t>(r->rows[0][3]) / 2);
  ASSERT_GT(progress_.size(), 1u);  // slices of about 1 MiB
  EXPECT_EQ(progress_.back(), 2000u);
  EXPECT_EQ(db_->Get("big", Key{int64_t{1500}})->vector,
            std::vector<float>(v.begin() + 1500 * 1100, v.begin() + 1501 * 1100));
  auto missing = Run("VACUUM bog");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "collection \"bog\" does not exist; did you mean \"big\"?");
  EXPECT_EQ(missing.status().column(), 8u);
}

TEST_F(SessionTest, WaitForIndexCoversEveryRowReportsProgressAndCancels) {
  // 50,000 rows: not all in the graph 20 ms after their insert on any machine, so the wait
  // waits (and reports) at least once. A cheap graph: the test waits for whole builds.
  ASSERT_TRUE(Run("CREATE COLLECTION w (id BIGINT PRIMARY KEY, embedding VECTOR(8) METRIC L2) "
                  "WITH (m = 8, ef_construction = 40)").ok());
  auto insert = [&](int64_t first, size_t n) {
    InsertBatch b;
    std::vector<float> v(8);
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < 8; ++j) v[j] = float(((first + int64_t(i)) * 7 + int64_t(j) * 13) % 97);
      b.Add(Key{first + int64_t(i)}, v);
    }
    ASSERT_TRUE(db_->Insert("w", b).ok());
  };
  insert(0, 50000);
  auto r = Run("WAIT FOR INDEX w");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tag, "WAIT FOR INDEX 50000");
  EXPECT_EQ(db_->DescribeCollection("w")->index_pending_rows, 0u);
  ASSERT_FALSE(progress_.empty());  // indexed rows, through the COPY progress callback
  for (uint64_t p : progress_) EXPECT_LE(p, 50000u);

  // A progress callback answering false stops the wait, as it stops a COPY.
  insert(50000, 50000);
  stop_after_ = 1;
  r = Run("WAIT FOR INDEX");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCancelled);
  EXPECT_NE(r.status().message().find("WAIT FOR INDEX cancelled with "), std::string::npos)
      << r.status().message();
  stop_after_ = 0;

  // Session::Cancel from another thread (repeated: Run clears a Cancel that comes first).
  std::atomic<bool> finished{false};
  std::thread canceller([&] {
    while (!finished) {
      session_->Cancel();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  insert(100000, 50000);
  r = Run("WAIT FOR INDEX w");
  finished = true;
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCancelled) << r.status().ToString();
  EXPECT_EQ(r.status().line(), 1u);
  // The session stays usable, and the build went on.
  ASSERT_TRUE(Run("WAIT FOR INDEX w").ok());
  EXPECT_EQ(db_->DescribeCollection("w")->index_live_rows, 150000u);
}

TEST_F(SessionTest, CopyCannotEscapeItsDirectory) {
  TempDir outside;
  fs::create_directories(outside.path());
  { std::ofstream(outside.path() + "/x.csv") << "id,embedding,tag\n1,\"[1,2,3,4,5,6,7,8]\",a\n"; }
  fs::create_symlink(outside.path() + "/x.csv", files_.path() + "/link.csv");
  for (const std::string& path : {outside.path() + "/x.csv", std::string("../x.csv"),
                                  std::string("link.csv"), std::string("sub/../../x.csv")}) {
    auto r = Run("COPY v FROM '" + path + "'");
    ASSERT_FALSE(r.ok()) << path;
    EXPECT_NE(r.status().message().find("inside its COPY directory"), std::string::npos)
        << path << ": " << r.status().message();
    auto w = Run("COPY v TO '" + path + "'");
    ASSERT_FALSE(w.ok()) << path;
    auto t = Run("TUNE v FOR RECALL 0.9 USING QUERIES FROM '" + path + "'");
    ASSERT_FALSE(t.ok()) << path;
    EXPECT_NE(t.status().message().find("TUNE ... USING QUERIES FROM '" + path +
                                        "' is refused: the server only reads files inside its "
                                        "COPY directory"), std::string::npos)
        << path << ": " << t.status().message();
  }
  EXPECT_EQ(db_->DescribeCollection("v")->live_rows, 0u);
}

// BACKUP TO follows COPY's directory rules; bad targets are errors at the path.
TEST_F(SessionTest, BackupToADirectoryInsideTheCopyDirectory) {
  ASSERT_TRUE(Run("INSERT INTO v VALUES (1, [1, 2, 3, 4, 5, 6, 7, 8], 'a')").ok());
  auto r = Run("BACKUP TO 'b1'");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tag, "BACKUP");
  EXPECT_TRUE(fs::exists(files_.path() + "/b1/CURRENT"));
  r = Run("BACKUP TO '../outside'");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("BACKUP TO '../outside' is refused"), std::string::npos)
      << r.status().ToString();
  r = Run("BACKUP TO 'b1'");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exists"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(r.status().column(), 11u) << r.status().ToString();  // at the path
  r = Run("BACKUP 'b2'");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("expected TO"), std::string::npos) << r.status().ToString();
  // The backup opens as a database with the row.
  auto copy = testing::OpenOrDie(files_.path() + "/b1");
  auto row = copy->Get("v", Key{int64_t{1}});
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  EXPECT_EQ(row->vector, std::vector<float>({1, 2, 3, 4, 5, 6, 7, 8}));
}

// DESCRIBE's plan rows: the plan a search for 10 runs, its source with what it measured, and
// the target; after TUNE on a query file, a hand-set plan, and ALTER of the target.
TEST_F(SessionTest, DescribeShowsThePlanInForceItsSourceAndTheTarget) {
  std::string values;
  for (int i = 0; i < 300; ++i) {
    values += fmt::format("{}({}, [{}, {}, {}, {}, {}, {}, {}, {}], 't')", i ? ", " : "", i, i % 7,
                          i % 11, i % 13, i % 5, i % 3, i % 17, i % 19, i % 2);
  }
  ASSERT_TRUE(Run("INSERT INTO v VALUES " + values).ok());
  ASSERT_TRUE(Run("COPY v TO 'q.npy'").ok());
  ASSERT_OK(db_->WaitForIndexing());
  auto describe = [&] {
    std::map<std::string, std::pair<std::string, std::string>> rows;
    auto r = Run("DESCRIBE v");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    for (const auto& row : r->rows) {
      rows[std::get<std::string>(row[0])] = {std::get<std::string>(row[1]),
                                             std::get<std::string>(row[2])};
    }
    return rows;
  };
  auto rows = describe();
  EXPECT_EQ(rows["(plan)"].second, "FUNNEL (8) (k = 10)");  // index_dim 8 = D: one stage
  EXPECT_EQ(rows["(plan_source)"], std::make_pair(std::string("derived"),
                                                  std::string("from k and the ladder; not measured")));
  EXPECT_EQ(rows["(target_recall)"].second, "0.95");

  auto tuned = Run("TUNE v FOR RECALL 0.9 AT 5 USING QUERIES FROM 'q.npy'");
  ASSERT_TRUE(tuned.ok()) << tuned.status().ToString();
  ASSERT_EQ(tuned->columns.back().name, "shapes");  // each shape measured, with its figures
  const std::string shapes = std::get<std::string>(tuned->rows.at(0).back());
  EXPECT_EQ(shapes.rfind("FUNNEL (8) EF ", 0), 0u) << shapes;
  EXPECT_NE(shapes.find(": recall "), std::string::npos) << shapes;
  rows = describe();
  EXPECT_EQ(rows["(plan_source)"].first, "TUNE");
  EXPECT_EQ(rows["(plan_source)"].second.rfind("for recall@5 0.9 at 300 rows; held-back recall ", 0), 0u)
      << rows["(plan_source)"].second;
  EXPECT_EQ(rows["(plan)"].second.rfind("FUNNEL (8) EF ", 0), 0u) << rows["(plan)"].second;

  ASSERT_TRUE(Run("ALTER COLLECTION v SET (plan = FUNNEL (4 KEEP 40, 8 KEEP 10) EF 40, "
                  "target_recall = 0.8)").ok());
  rows = describe();
  EXPECT_EQ(rows["(plan)"].second, "FUNNEL (4 KEEP 40, 8) EF 40 (k = 10)");
  EXPECT_EQ(rows["(plan_source)"], std::make_pair(std::string("set"),
                                                  std::string("by hand at 300 rows for k = 10; not measured")));
  EXPECT_EQ(rows["(target_recall)"].second, "0.8");
}

TEST_F(SessionTest, ParametersBindScalarsVectorsAndMatrices) {
  ASSERT_TRUE(Run("INSERT INTO v VALUES ($1, $2, $3)",
                  {Param{int64_t{1}}, Param{std::vector<float>(8, 1.0f)}, Param{std::string("one")}}).ok());
  ASSERT_TRUE(Run("INSERT INTO v VALUES (2, [0, 0, 0, 0, 0, 0, 0, 0], NULL)").ok());
  auto r = Run("SELECT id, tag FROM v ORDER BY embedding <-> $1 LIMIT 1", {Param{std::vector<float>(8, 0.9f)}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(r->rows[0][0], Cell{int64_t{1}});
  EXPECT_EQ(r->rows[0][1], Cell{std::string("one")});
  QueryMatrix m{2, 8, std::vector<float>(16, 0.0f)};
  std::fill(m.values.begin(), m.values.begin() + 8, 1.0f);
  auto batch = Run("SELECT query_index, id FROM v ORDER BY embedding <-> $1 LIMIT 1", {Param{m}});
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->rows.size(), 2u);
  EXPECT_EQ(batch->rows[0], (std::vector<Cell>{Cell{int64_t{0}}, Cell{int64_t{1}}}));
  EXPECT_EQ(batch->rows[1], (std::vector<Cell>{Cell{int64_t{1}}, Cell{int64_t{2}}}));
  auto bad = Run("SELECT id FROM v ORDER BY embedding <-> $1", {Param{std::string("x")}});
  EXPECT_NE(bad.status().message().find("parameter $1 is not a vector"), std::string::npos);
}

TEST_F(SessionTest, ExplainAnalyzeReportsWhatTheStagesDid) {
  for (int b = 0; b < 4; ++b) {
    std::string sql = "INSERT INTO v VALUES ";
    for (int i = 0; i < 250; ++i) {
      const int id = b * 250 + i;
      sql += fmt::format("{}({}, [{}, {}, {}, {}, {}, {}, {}, {}], 't')", i ? ", " : "", id, id % 17,
                         id % 13, id % 11, id % 7, id % 5, id % 3, id % 2, id % 19);
    }
    ASSERT_TRUE(Run(sql).ok());
  }
  const std::string explain =
      "EXPLAIN (ANALYZE, RECALL) SELECT id FROM v ORDER BY embedding <-> [1, 2, 3, 4, 5, 6, 7, 8] "
      "LIMIT 5 USING FUNNEL (4 KEEP 50, 8)";
  auto text_of = [&](const ResultSet& r) {
    std::string text;
    for (const auto& row : r.rows) text += std::get<std::string>(row[0]) + "\n";
    return text;
  };
  // index_dim is 8 here (the largest granularity <= 64), so stage 1 at 4 dims scans all 1,000
  // rows (1,000 x 4 floats), and the re-rank to 8 dims reads 50 x 4 more floats and keeps 5.
  auto r = Run(explain);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string text = text_of(*r);
  EXPECT_NE(text.find("FUNNEL (4 KEEP 50, 8) on v (k = 5)"), std::string::npos) << text;
  EXPECT_NE(text.find("step 1: scan   dims     4  in     1000  out     50  bytes      16000"),
            std::string::npos) << text;
  EXPECT_NE(text.find("step 2: rerank dims     8  in       50  out      5  bytes        800"),
            std::string::npos) << text;
  EXPECT_NE(text.find("total: 5 rows"), std::string::npos) << text;
  EXPECT_NE(text.find("recall@5: 1.000 (5 of 5"), std::string::npos) << text;  // scans are exact
  // With the graph on the 4-dim prefix: stage 1 is the graph, then exact scores at 4 dims for its
  // 50 candidates (50 x 4 floats), then the re-rank to 8 dims.
  ASSERT_TRUE(Run("ALTER COLLECTION v SET (index_dim = 4)").ok());
  ASSERT_OK(db_->WaitForIndexing());
  r = Run(explain);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  text = text_of(*r);
  EXPECT_NE(text.find("step 1: hnsw   dims     4"), std::string::npos) << text;
  EXPECT_NE(text.find("out     50  bytes          0"), std::string::npos) << text;
  EXPECT_NE(text.find("step 2: rerank dims     4  in       50  out     50  bytes        800"),
            std::string::npos) << text;
  EXPECT_NE(text.find("step 3: rerank dims     8  in       50  out      5  bytes        800"),
            std::string::npos) << text;
}

// A script runs statement by statement: the statements before a wrong one have run, and the
// error's position is in the script.
TEST_F(SessionTest, ScriptRunsEachStatementBeforeParsingTheNext) {
  auto r = session_->ExecuteScript("INSERT INTO v VALUES (1, [1, 2, 3, 4, 5, 6, 7, 8], 'a');\n"
                                   "SELECT id FROM v; SELECT id (x) FROM v;");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "syntax error at or near \"(\": expected AS, ',' or FROM");
  EXPECT_EQ(r.status().line(), 2u);
  EXPECT_EQ(r.status().column(), 29u);
  auto rows = Run("SELECT id FROM v");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(rows->rows.size(), 1u);  // the INSERT ran
  auto two = session_->ExecuteScript("SHOW COLLECTIONS; SELECT id FROM v");
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(two->size(), 2u);
}

// DESCRIBE lists the columns in the order CREATE declared them, the order INSERT without a
// column list takes (tests/sql/insert.test), also after the database is reopened.
TEST_F(SessionTest, DescribeListsColumnsInDeclarationOrder) {
  ASSERT_TRUE(Run("CREATE COLLECTION o (title TEXT, embedding VECTOR(2), n INT, id BIGINT PRIMARY KEY)").ok());
  auto columns = [&] {
    std::vector<std::string> names;
    auto r = Run("DESCRIBE o");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    for (size_t i = 0; r.ok() && i < 4; ++i) names.push_back(std::get<std::string>(r->rows[i][0]));
    return names;
  };
  const std::vector<std::string> declared = {"title", "embedding", "n", "id"};
  EXPECT_EQ(columns(), declared);
  session_.reset();
  ASSERT_OK(db_->Close());
  db_ = testing::OpenOrDie(dir_.path());
  session_ = std::make_unique<Session>(db_.get());
  EXPECT_EQ(columns(), declared);
  ASSERT_TRUE(Run("INSERT INTO o VALUES ('a', [1, 2], 3, 7)").ok());
  auto row = Run("SELECT id, title FROM o");
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  EXPECT_EQ(row->rows, (std::vector<std::vector<Cell>>{{Cell{int64_t{7}}, Cell{std::string("a")}}}));
}

TEST_F(SessionTest, ErrorsPointAtTheOffendingToken) {
  const std::string sql = "SELECT id\nFROM nope\nLIMIT 3";
  auto r = Run(sql);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(FormatError(sql, r.status()),
            "ERROR:  collection \"nope\" does not exist\nLINE 2: FROM nope\n             ^");
  const std::string bad = "SELECT id FROM v WHERE tag = = 3";
  auto e = Run(bad);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().line(), 1u);
  EXPECT_EQ(e.status().column(), 30u);
  EXPECT_NE(FormatError(bad, e.status()).find("\n" + std::string(8 + 29, ' ') + "^"), std::string::npos)
      << FormatError(bad, e.status());
}

}  // namespace
}  // namespace mrldb
