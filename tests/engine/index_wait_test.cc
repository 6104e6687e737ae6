// Database::WaitForIndexing: one collection or all, progress, cancellation, and the graph a
// Close saves after a partial build (a short-lived process must not lose the work it did).
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mrldb/database.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::TempDir;

CollectionSpec Spec(const std::string& name) {
  CollectionSpec s;
  s.name = name;
  s.dim = 16;
  s.granularities = {8, 16};
  s.index_dim = 8;
  s.hnsw.m = 8;  // a cheap graph: the tests wait for whole builds
  s.hnsw.ef_construction = 40;
  s.metric = Metric::kL2;
  s.id_type = IdType::kBigint;
  return s;
}

void InsertRows(Database& db, const std::string& collection, size_t n, uint32_t seed) {
  const std::vector<float> v = testing::RandomVectors(n, 16, seed);
  for (size_t first = 0; first < n; first += 10000) {
    InsertBatch b;
    for (size_t i = first; i < std::min(n, first + 10000); ++i) {
      b.Add(Key{int64_t(i)}, std::span<const float>(v.data() + i * 16, 16));
    }
    ASSERT_OK(db.Insert(collection, b));
  }
}

TEST(IndexWait, WaitsForOneCollectionOrAllAndReportsProgress) {
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path());
  ASSERT_OK(db->CreateCollection(Spec("a")));
  ASSERT_OK(db->CreateCollection(Spec("b")));
  InsertRows(*db, "a", 20000, 1);
  InsertRows(*db, "b", 3000, 2);
  std::vector<IndexProgress> seen;
  IndexWaitOptions o;
  o.collection = "a";
  o.progress = [&](const IndexProgress& p) { seen.push_back(p); };
  ASSERT_OK(db->WaitForIndexing(o));
  auto a = db->DescribeCollection("a");
  EXPECT_EQ(a->index_pending_rows, 0u);
  EXPECT_EQ(a->index_live_rows, 20000u);
  for (const IndexProgress& p : seen) {  // only "a"'s rows are counted
    EXPECT_EQ(p.live_rows, 20000u);
    EXPECT_LE(p.indexed_rows, p.live_rows);
  }
  ASSERT_OK(db->WaitForIndexing());
  EXPECT_EQ(db->DescribeCollection("b")->index_pending_rows, 0u);

  o.collection = "nope";
  Status st = db->WaitForIndexing(o);
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
  EXPECT_EQ(st.message(), "collection 'nope' does not exist");
}

// The waits below assume that 50,000 rows are not all in the graph 20 ms after their insert:
// true on any machine (a build of that size takes a large part of a second on 16 cores).
TEST(IndexWait, CancelStopsTheWaitAndTheBuildGoesOn) {
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path());
  ASSERT_OK(db->CreateCollection(Spec("a")));
  InsertRows(*db, "a", 50000, 3);
  std::atomic<bool> cancel{false};
  IndexWaitOptions o;
  o.cancel = &cancel;
  o.progress = [&](const IndexProgress&) { cancel = true; };  // at the first report
  Status st = db->WaitForIndexing(o);
  ASSERT_EQ(st.code(), Status::Code::kCancelled) << st.ToString();
  EXPECT_NE(st.message().find(" rows not yet indexed"), std::string::npos) << st.message();
  ASSERT_OK(db->WaitForIndexing());  // the indexer went on
  EXPECT_EQ(db->DescribeCollection("a")->index_live_rows, 50000u);
  // Nothing pending: a set flag is no reason to fail.
  EXPECT_TRUE(db->WaitForIndexing(o).ok());
}

TEST(IndexWait, ACollectionDroppedDuringTheWaitEndsIt) {
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path());
  ASSERT_OK(db->CreateCollection(Spec("a")));
  InsertRows(*db, "a", 50000, 5);
  IndexWaitOptions o;
  o.collection = "a";
  o.progress = [&](const IndexProgress&) { db->DropCollection("a").IgnoreError(); };
  Status st = db->WaitForIndexing(o);
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
  EXPECT_EQ(st.message(), "collection 'a' was dropped while waiting for its index");
}

// A process that closes the database in the middle of a build (the shell with --no-wait, a
// cancelled wait) keeps the rows it indexed: Close saves the partial graph, and the next open
// loads it instead of rebuilding. Background checkpoints are off, so only Close can save.
TEST(IndexWait, CloseDuringABuildSavesThePartialGraph) {
  TempDir dir;
  DatabaseOptions opts;
  opts.index_checkpoint_rows = 0;
  opts.index_checkpoint_seconds = 0;
  std::mutex log_mu;
  std::vector<std::string> log;
  opts.info_log = [&](std::string_view line) {
    std::lock_guard l(log_mu);
    if (line.find("loading finished") == std::string_view::npos) log.emplace_back(line);
  };
  uint64_t before_close = 0;
  {
    auto db = testing::OpenOrDie(dir.path(), opts);
    ASSERT_OK(db->CreateCollection(Spec("a")));
    InsertRows(*db, "a", 50000, 6);
    std::atomic<bool> cancel{false};
    IndexWaitOptions o;
    o.cancel = &cancel;
    o.progress = [&](const IndexProgress& p) { cancel = p.indexed_rows >= 2000; };
    Status st = db->WaitForIndexing(o);
    ASSERT_TRUE(st.ok() || st.code() == Status::Code::kCancelled) << st.ToString();
    before_close = db->DescribeCollection("a")->index_live_rows;
    ASSERT_GE(before_close, 2000u);
    ASSERT_OK(db->Close());
  }
  auto db = testing::OpenOrDie(dir.path(), opts);
  ASSERT_OK(db->WaitForLoading());  // the saved graph loads in the background
  auto info = db->DescribeCollection("a");
  ASSERT_TRUE(info.ok());
  EXPECT_GE(info->index_live_rows, before_close);
  std::lock_guard l(log_mu);
  // Nothing saved: "rebuilding the HNSW graph over 50000 rows (no saved graph)".
  EXPECT_TRUE(log.empty()) << log.front();
}

}  // namespace
}  // namespace mrldb
