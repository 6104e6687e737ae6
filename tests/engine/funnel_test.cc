// The funnel against exact search: recall floors per metric, deletes and upserts, reopen,
// recovery of the HNSW graph, filters, batch search, tuning and bad plans.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>
#include <fstream>
#include <unordered_set>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mrldb/database.h"
#include "mrldb/synthetic.h"
#include "tests/engine/funnel_util.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::TempDir;

using namespace funnel_testing;  // NOLINT: the shared helpers of the funnel tests

class FunnelRecall : public ::testing::TestWithParam<Metric> {};

TEST_P(FunnelRecall, DefaultPlanReachesTheFloor) {
  for (GraphCodes codes : {GraphCodes::kFloat32, GraphCodes::kInt8}) {
  SCOPED_TRACE(GraphCodesName(codes));
  TempDir dir;
  DatabaseOptions dbo;
  dbo.auto_tune = false;  // the derived plan is under test
  auto db = testing::OpenOrDie(dir.path(), dbo);
  CollectionSpec spec = Spec(GetParam());
  spec.hnsw.codes = codes;
  ASSERT_OK(db->CreateCollection(spec));
  SyntheticOptions so;
  so.dim = kDim;
  SyntheticGenerator gen(so);
  for (size_t first = 0; first < 20000; first += 5000) Fill(*db, gen, first, 5000);
  ASSERT_OK(db->WaitForIndexing());
  SearchOptions o;  // default plan, k = 10
  const double recall = MeanRecall(*db, gen, o, 50);
  std::printf("%s, %s graph: default-plan recall@10 = %.3f\n", std::string(MetricName(GetParam())).c_str(),
              std::string(GraphCodesName(codes)).c_str(), recall);
  EXPECT_GE(recall, 0.95);
  SearchStats stats;
  auto q = gen.Queries(0, 1);
  ASSERT_TRUE(db->Search("c", q, o, &stats).ok());
  EXPECT_EQ(stats.stages.front().method, "hnsw");
  EXPECT_EQ(stats.stages.back().dims, kDim);
  EXPECT_EQ(stats.stages.back().candidates_out, 10u);
  }
}

INSTANTIATE_TEST_SUITE_P(Metrics, FunnelRecall,
                         ::testing::Values(Metric::kCosine, Metric::kInnerProduct, Metric::kL2),
                         [](const ::testing::TestParamInfo<Metric>& p) {
                           return std::string(MetricName(p.param));
                         });

class FunnelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    so_.dim = kDim;
    gen_ = std::make_unique<SyntheticGenerator>(so_);
    DatabaseOptions o;
    o.info_log = [this](std::string_view line) { log_.emplace_back(line); };
    o.auto_tune = false;  // the tests here set and check the default plan themselves
    opts_ = o;
    db_ = testing::OpenOrDie(dir_.path(), opts_);
    CollectionSpec spec = Spec(Metric::kCosine);
    spec.hnsw.codes = Codes();
    ASSERT_OK(db_->CreateCollection(spec));
    for (size_t first = 0; first < 6000; first += 2000) Fill(*db_, *gen_, first, 2000);
    ASSERT_OK(db_->WaitForIndexing());
  }
  void Reopen() {
    ASSERT_OK(db_->WaitForIndexing());
    ASSERT_OK(db_->Close());
    db_ = testing::OpenOrDie(dir_.path(), opts_);
    ASSERT_OK(db_->WaitForIndexing());
  }
  std::vector<float> Query(size_t i) const { return gen_->Queries(i, 1); }
  virtual GraphCodes Codes() const { return GraphCodes::kFloat32; }
  void CheckDeletedAndReplacedRowsAreNeverReturnedStale();
  void CheckReopenReturnsIdenticalResults();

  TempDir dir_;
  SyntheticOptions so_;
  std::unique_ptr<SyntheticGenerator> gen_;
  DatabaseOptions opts_;
  std::vector<std::string> log_;
  std::unique_ptr<Database> db_;
};

// The same funnel over a graph on int8 codes (engine/prefix_codes.h).
class FunnelInt8Test : public FunnelTest {
 protected:
  GraphCodes Codes() const override { return GraphCodes::kInt8; }
};

TEST_F(FunnelTest, DeletedAndReplacedRowsAreNeverReturnedStale) {
  CheckDeletedAndReplacedRowsAreNeverReturnedStale();
}
TEST_F(FunnelInt8Test, DeletedAndReplacedRowsAreNeverReturnedStale) {
  CheckDeletedAndReplacedRowsAreNeverReturnedStale();
}
TEST_F(FunnelTest, ReopenReturnsIdenticalResults) { CheckReopenReturnsIdenticalResults(); }
TEST_F(FunnelInt8Test, ReopenReturnsIdenticalResults) { CheckReopenReturnsIdenticalResults(); }

void FunnelTest::CheckDeletedAndReplacedRowsAreNeverReturnedStale() {
  std::vector<Key> del;
  for (int64_t i = 0; i < 6000; i += 2) del.push_back(Key{i});
  ASSERT_EQ(*db_->Delete("c", del), 3000u);
  // Replace rows 1, 3, 5 ... 99 with the vectors of rows far away (row + 3000).
  InsertBatch up;
  auto far = gen_->Rows(3001, 100);
  for (int64_t i = 1; i < 100; i += 2) {
    up.Add(Key{i}, std::span<const float>(far.data() + (i - 1) * kDim, kDim), {Value{}, Value{}});
  }
  ASSERT_OK(db_->Upsert("c", up));
  for (int round = 0; round < 2; ++round) {
    for (size_t qi = 0; qi < 20; ++qi) {
      auto q = Query(qi);
      SearchOptions o;
      o.k = 50;
      auto hits = db_->Search("c", q, o);
      ASSERT_TRUE(hits.ok()) << hits.status().ToString();
      EXPECT_EQ(hits->size(), 50u);
      for (const Hit& h : *hits) {
        const int64_t id = std::get<int64_t>(h.id);
        EXPECT_EQ(id % 2, 1) << "deleted row " << id << " returned";
        // The distance is the one of the stored (current) vector.
        auto rec = db_->Get("c", h.id);
        ASSERT_TRUE(rec.ok());
        double dot = 0, qq = 0, xx = 0;
        for (uint32_t d = 0; d < kDim; ++d) {
          dot += double(q[d]) * rec->vector[d];
          qq += double(q[d]) * q[d];
          xx += double(rec->vector[d]) * rec->vector[d];
        }
        EXPECT_NEAR(h.distance, 1 - dot / std::sqrt(qq * xx), 1e-4) << id;
      }
    }
    Reopen();
  }
  EXPECT_TRUE(log_.empty()) << log_.front();  // the saved graph was reused, not rebuilt
}

TEST_F(FunnelTest, RowsAreSearchableBeforeTheIndexerReachesThem) {
  // Each new row is queried right after its insert returns: it must be its own nearest
  // neighbour whether it is in the graph yet or still in the scanned tail.
  auto rows = gen_->Rows(50000, 200);
  for (size_t i = 0; i < 200; ++i) {
    InsertBatch b;
    b.Add(Key{int64_t(50000 + i)}, std::span<const float>(rows.data() + i * kDim, kDim),
          {Value{}, Value{}});
    ASSERT_OK(db_->Insert("c", b));
    SearchOptions o;
    o.k = 1;
    auto hits = db_->Search("c", std::span<const float>(rows.data() + i * kDim, kDim), o);
    ASSERT_TRUE(hits.ok());
    ASSERT_EQ(hits->size(), 1u);
    EXPECT_EQ((*hits)[0].id, Key{int64_t(50000 + i)});
  }
  ASSERT_OK(db_->WaitForIndexing());
  auto info = db_->DescribeCollection("c");
  EXPECT_EQ(info->index_pending_rows, 0u);
  EXPECT_EQ(info->index_live_rows, 6200u);
}

TEST_F(FunnelTest, DescribeCountsEveryLiveRowOnceWhileTheIndexerRuns) {
  // Indexed + pending must be the live row count in every DescribeCollection, however its reads
  // interleave with the indexer's steps (a finished step's rows used to count as both: "41216
  // rows indexed, 59040 pending" for 100,000 rows), and with deletes.
  std::atomic<bool> done{false};
  std::atomic<uint64_t> reads{0}, wrong{0};
  std::string first_wrong;
  std::thread reader([&] {
    while (!done) {
      auto info = db_->DescribeCollection("c");
      if (!info.ok()) continue;
      ++reads;
      if (info->index_live_rows + info->index_pending_rows != info->live_rows && wrong++ == 0) {
        first_wrong = fmt::format("{} indexed + {} pending for {} rows", info->index_live_rows,
                                  info->index_pending_rows, info->live_rows);
      }
      std::this_thread::yield();
    }
  });
  for (size_t i = 0; i < 16; ++i) {
    Fill(*db_, *gen_, 6000 + i * 500, 500);
    std::vector<Key> del = {Key{int64_t(i)}, Key{int64_t(6000 + i * 500)}};
    ASSERT_TRUE(db_->Delete("c", del).ok());
  }
  ASSERT_OK(db_->WaitForIndexing());
  done = true;
  reader.join();
  EXPECT_EQ(wrong.load(), 0u) << "first: " << first_wrong << " (of " << reads.load() << " reads)";
  auto info = db_->DescribeCollection("c");
  EXPECT_EQ(info->index_pending_rows, 0u);
  EXPECT_EQ(info->index_live_rows, info->live_rows);
  EXPECT_EQ(info->live_rows, 14000u - 32u);
}

// Batch searches (which hold the search pool and wait for the graph lock) while inserts keep the
// background indexer busy (which holds the graph lock while its adds run on a pool): the two
// must never wait for each other in a cycle.
TEST_F(FunnelTest, BatchSearchesDuringIndexingDoNotDeadlock) {
  auto work = std::async(std::launch::async, [&] {
    std::atomic<bool> stop{false};
    std::thread searcher([&] {
      auto qs = gen_->Queries(0, 8);
      while (!stop) {
        auto r = db_->SearchBatch("c", qs, 8, SearchOptions{});
        EXPECT_TRUE(r.ok()) << r.status().ToString();
      }
    });
    for (size_t first = 100000; first < 106000; first += 500) Fill(*db_, *gen_, first, 500);
    EXPECT_TRUE(db_->WaitForIndexing().ok());
    stop = true;
    searcher.join();
  });
  if (work.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
    ADD_FAILURE() << "batch searches and the indexer deadlocked";
    std::fflush(stdout);
    std::abort();  // the threads cannot be joined; fail fast instead of hanging the suite
  }
  EXPECT_EQ(db_->DescribeCollection("c")->index_live_rows, 12000u);
}

void FunnelTest::CheckReopenReturnsIdenticalResults() {
  std::vector<std::vector<Hit>> before;
  SearchOptions o;
  o.k = 10;
  for (size_t qi = 0; qi < 10; ++qi) before.push_back(*db_->Search("c", Query(qi), o));
  Reopen();
  auto info = db_->DescribeCollection("c");
  EXPECT_EQ(info->index_rows, 6000u);
  EXPECT_GT(info->index_memory_bytes, 6000u * 64 * (Codes() == GraphCodes::kInt8 ? 1 : 4));
  for (size_t qi = 0; qi < 10; ++qi) {
    auto after = *db_->Search("c", Query(qi), o);
    ASSERT_EQ(after.size(), before[qi].size());
    for (size_t i = 0; i < after.size(); ++i) {
      EXPECT_EQ(after[i].id, before[qi][i].id);
      EXPECT_EQ(after[i].distance, before[qi][i].distance);
    }
  }
  EXPECT_TRUE(log_.empty());
}

TEST_F(FunnelTest, MissingOrDamagedGraphIsRebuiltWithALogLine) {
  ASSERT_OK(db_->Close());
  // The header names the graph's generation file: 1.hnsw.<generation>.
  const auto hnsw = std::filesystem::path(dir_.path()) / "hnsw";
  std::filesystem::path graph;
  for (const auto& e : std::filesystem::directory_iterator(hnsw)) {
    if (e.path().filename() != "1.hnsw.meta") graph = e.path();
  }
  ASSERT_TRUE(std::filesystem::exists(hnsw / "1.hnsw.meta"));
  ASSERT_EQ(graph.filename().string().rfind("1.hnsw.", 0), 0u) << graph;
  {
    std::fstream f(graph, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1000);
    f.write("garbage!", 8);
  }
  db_ = testing::OpenOrDie(dir_.path(), opts_);
  ASSERT_OK(db_->WaitForIndexing());
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_NE(log_[0].find("rebuilding the HNSW graph"), std::string::npos) << log_[0];
  EXPECT_NE(log_[0].find("checksum"), std::string::npos) << log_[0];
  EXPECT_GE(MeanRecall(*db_, *gen_, SearchOptions{}, 10), 0.9);
  ASSERT_OK(db_->Close());
  // The header's graph file missing.
  graph.clear();
  for (const auto& e : std::filesystem::directory_iterator(hnsw)) {
    if (e.path().filename() != "1.hnsw.meta") graph = e.path();
  }
  std::filesystem::remove(graph);
  log_.clear();
  db_ = testing::OpenOrDie(dir_.path(), opts_);
  ASSERT_OK(db_->WaitForLoading());  // the saved graph loads (and fails) in the background
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_NE(log_[0].find("which is missing"), std::string::npos) << log_[0];
  ASSERT_OK(db_->Close());
  // No checkpoint at all.
  std::filesystem::remove_all(hnsw);
  log_.clear();
  db_ = testing::OpenOrDie(dir_.path(), opts_);
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_NE(log_[0].find("no saved graph"), std::string::npos) << log_[0];
  ASSERT_OK(db_->WaitForIndexing());
  EXPECT_EQ(db_->DescribeCollection("c")->index_rows, 6000u);
}

TEST_F(FunnelTest, RowsWrittenAfterTheLastSaveAreReplayed) {
  ASSERT_OK(db_->Checkpoint());
  Fill(*db_, *gen_, 6000, 1000);
  std::vector<Key> del = {Key{int64_t{5}}, Key{int64_t{6500}}};
  ASSERT_EQ(*db_->Delete("c", del), 2u);
  // Simulate a crash: copy the directory while the database is open (graph as of Checkpoint).
  TempDir copy;
  ASSERT_OK(db_->Flush());
  std::filesystem::copy(dir_.path(), copy.path(), std::filesystem::copy_options::recursive);
  std::filesystem::remove(std::filesystem::path(copy.path()) / "LOCK");
  auto db = testing::OpenOrDie(copy.path(), opts_);
  EXPECT_TRUE(log_.empty());
  ASSERT_OK(db->WaitForIndexing());
  auto info = db->DescribeCollection("c");
  EXPECT_EQ(info->live_rows, 6998u);
  // Replayed: rows 6000..6999 but 6500 (deleted before it was replayed); row 5 marked deleted.
  EXPECT_EQ(info->index_rows, 6999u);
  EXPECT_EQ(info->index_live_rows, 6998u);
  SearchOptions o;
  o.k = 100;
  for (size_t qi = 0; qi < 5; ++qi) {
    auto hits = db->Search("c", Query(qi), o);
    ASSERT_TRUE(hits.ok());
    for (const Hit& h : *hits) {
      EXPECT_NE(h.id, Key{int64_t{5}});
      EXPECT_NE(h.id, Key{int64_t{6500}});
    }
  }
}

TEST_F(FunnelTest, FilteredSearchMatchesExactWithTheSameFilter) {
  struct Case {
    const char* what;
    Filter filter;
    size_t matches;
  };
  std::vector<Case> cases = {
      {"1% (selective)", Filter::Eq("cat", Value{int64_t{42}}), 60},
      {"30%", Filter::Lt("cat", Value{int64_t{30}}), 1800},
      {"~43% with NULLs", Filter::Eq("tag", Value{"odd"}), 0},
      {"90% (broad)", Filter::Not(Filter::Eq("cat", Value{int64_t{3}})), 5940},
      {"IN and OR", Filter::Or({Filter::In("cat", {Value{int64_t{1}}, Value{int64_t{2}}}),
                                Filter::IsNull("tag")}), 0},
      {"empty", Filter::Gt("cat", Value{int64_t{1000}}), 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    SearchOptions o;
    o.k = 10;
    o.filter = c.filter;
    o.attributes = {"cat", "tag"};
    SearchOptions exact = o;
    exact.plan = SearchPlan::Exact();
    double recall = 0;
    for (size_t qi = 0; qi < 10; ++qi) {
      SearchStats stats;
      auto got = db_->Search("c", Query(qi), o, &stats);
      auto want = db_->Search("c", Query(qi), exact);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_TRUE(want.ok());
      if (c.matches) {
        EXPECT_EQ(stats.filter_matches, c.matches);
      }
      EXPECT_EQ(got->size(), std::min<size_t>(10, stats.filter_matches));
      EXPECT_EQ(got->size(), want->size());
      for (const Hit& h : *got) {
        const int64_t cat = std::get<int64_t>(h.attributes[0]);
        const Value& tag = h.attributes[1];
        const int64_t id = std::get<int64_t>(h.id);
        EXPECT_EQ(cat, id % 100);
        bool match = false;
        switch (&c - cases.data()) {
          case 0: match = cat == 42; break;
          case 1: match = cat < 30; break;
          case 2: match = tag == Value{"odd"}; break;
          case 3: match = cat != 3; break;
          case 4: match = cat == 1 || cat == 2 || std::holds_alternative<std::monostate>(tag); break;
          default: match = false;
        }
        EXPECT_TRUE(match) << "row " << id << " does not match " << c.filter.ToString();
      }
      recall += Recall(*got, *want);
    }
    EXPECT_GE(recall / 10, 0.9) << c.filter.ToString();
  }
}

TEST_F(FunnelTest, FilterSemanticsAndErrors) {
  SearchOptions o;
  o.k = 6000;
  o.plan = SearchPlan::Exact();
  auto count = [&](Filter f) {
    o.filter = std::move(f);
    auto hits = db_->Search("c", Query(0), o);
    EXPECT_TRUE(hits.ok()) << hits.status().ToString();
    return hits.ok() ? hits->size() : 0;
  };
  // Rows with tag NULL (every 7th) match neither tag = 'odd' nor NOT (tag = 'odd').
  const size_t nulls = (6000 + 6) / 7;
  EXPECT_EQ(count(Filter::IsNull("tag")), nulls);
  EXPECT_EQ(count(Filter::Eq("tag", Value{"odd"})) + count(Filter::Not(Filter::Eq("tag", Value{"odd"}))),
            6000 - nulls);
  EXPECT_EQ(count(Filter::In("cat", {Value{int64_t{1}}, Value{}})), 60u);
  EXPECT_EQ(count(Filter::Ge("cat", Value{99.5})), 0u);  // INT column vs FLOAT literal
  EXPECT_EQ(count(Filter::And({Filter::Ge("cat", Value{int64_t{10}}), Filter::Le("cat", Value{int64_t{19}})})), 600u);
  o.filter = Filter::Eq("tag", Value{int64_t{3}});
  auto bad = db_->Search("c", Query(0), o);
  EXPECT_TRUE(bad.status().IsInvalidArgument());
  EXPECT_NE(bad.status().message().find("'tag' is TEXT"), std::string::npos) << bad.status().message();
  o.filter = Filter::Eq("nope", Value{int64_t{3}});
  EXPECT_NE(db_->Search("c", Query(0), o).status().message().find("'nope'"), std::string::npos);
}

TEST_F(FunnelTest, BatchSearchEqualsSingleSearches) {
  auto qs = gen_->Queries(0, 16);
  SearchOptions o;
  o.k = 7;
  o.filter = Filter::Lt("cat", Value{int64_t{50}});
  auto batch = db_->SearchBatch("c", qs, 16, o);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->size(), 16u);
  for (size_t i = 0; i < 16; ++i) {
    auto single = db_->Search("c", std::span<const float>(qs.data() + i * kDim, kDim), o);
    ASSERT_TRUE(single.ok());
    ASSERT_EQ((*batch)[i].size(), single->size());
    for (size_t j = 0; j < single->size(); ++j) EXPECT_EQ((*batch)[i][j].id, (*single)[j].id);
  }
  qs[5 * kDim + 3] = std::numeric_limits<float>::infinity();
  auto bad = db_->SearchBatch("c", qs, 16, o);
  EXPECT_NE(bad.status().message().find("query 6"), std::string::npos) << bad.status().message();
  EXPECT_TRUE(db_->SearchBatch("c", qs, 15, o).status().IsInvalidArgument());
}

TEST_F(FunnelTest, ACancelledBatchSearchOrTuneFailsAndStoresNothing) {
  std::atomic<bool> cancel{true};
  SearchOptions o;
  o.cancel = &cancel;
  auto batch = db_->SearchBatch("c", gen_->Queries(0, 16), 16, o);
  ASSERT_EQ(batch.status().code(), Status::Code::kCancelled) << batch.status().ToString();
  EXPECT_EQ(batch.status().message(), "search cancelled after 0 of 16 queries");
  TuneOptions t;
  t.sample_queries = 20;
  t.cancel = &cancel;
  EXPECT_EQ(db_->Tune("c", t).status().code(), Status::Code::kCancelled);
  EXPECT_TRUE(db_->DescribeCollection("c")->spec.default_plan.stages.empty());
  cancel = false;
  EXPECT_TRUE(db_->SearchBatch("c", gen_->Queries(0, 16), 16, o).ok());
}

TEST_F(FunnelTest, BadPlansAreClearErrors) {
  auto q = Query(0);
  auto err = [&](SearchPlan plan, uint32_t k, std::span<const float> query) {
    SearchOptions o;
    o.k = k;
    o.plan = std::move(plan);
    return db_->Search("c", query, o).status();
  };
  auto expect = [](const Status& st, const char* part) {
    EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
    EXPECT_NE(st.message().find(part), std::string::npos) << st.message();
  };
  expect(err(SearchPlan::Funnel({{64, 100}, {100, 0}}), 10, q), "100 dims: not a granularity");
  expect(err(SearchPlan::Funnel({{128, 100}, {64, 0}}), 10, q), "does not increase");
  expect(err(SearchPlan::Funnel({{64, 5}, {256, 0}}), 10, q), "fewer than k = 10");
  expect(err(SearchPlan::Funnel({}), 10, q), "at least one stage");
  expect(err(SearchPlan::Default(), 0, q), "k = 0");
  expect(err(SearchPlan::Exact(300), 10, q), "300");
  std::vector<float> short_q(100, 1.0f);
  expect(err(SearchPlan::Default(), 10, short_q), "100 dimensions");
  q[7] = std::nanf("");
  expect(err(SearchPlan::Default(), 10, q), "dimension 7");
}

TEST_F(FunnelTest, ExplicitPlansAndPrefixMode) {
  SearchOptions o;
  o.plan = SearchPlan::Funnel({{64, 200}, {128, 50}, {256, 0}}, 200);
  EXPECT_GE(MeanRecall(*db_, *gen_, o, 20), 0.9);
  o.plan = SearchPlan::Funnel({{32, 300}, {256, 0}});  // stage 0 off the index: brute force
  SearchStats stats;
  ASSERT_TRUE(db_->Search("c", Query(0), o, &stats).ok());
  EXPECT_EQ(stats.stages[0].method, "scan");
  EXPECT_EQ(stats.stages[0].bytes_read, 6000u * 32 * 4);
  EXPECT_EQ(stats.stages[1].bytes_read, 300u * (256 - 32) * 4);
  EXPECT_EQ(stats.plan, "FUNNEL (32 KEEP 300, 256)");
  // PREFIX at the index dims searches the graph only; elsewhere it is exact at that prefix.
  o.plan = SearchPlan::Prefix(64, 100);
  ASSERT_TRUE(db_->Search("c", Query(0), o, &stats).ok());
  EXPECT_EQ(stats.stages[0].method, "hnsw");
  EXPECT_EQ(stats.stages.back().dims, 64u);
}

TEST_F(FunnelTest, TuningReachesTheTargetAndIsStored) {
  TuneOptions t;
  t.target_recall = 0.95;
  t.sample_queries = 50;
  auto report = db_->Tune("c", t);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->reached_target);
  EXPECT_GE(report->recall, 0.95);
  EXPECT_GE(report->held_back_recall, 0.95);
  EXPECT_GT(report->plans_tried, 1u);
  Reopen();
  auto info = db_->DescribeCollection("c");
  ASSERT_FALSE(info->spec.default_plan.stages.empty());
  EXPECT_EQ(info->spec.default_plan.stages.front().keep, report->plan.stages.front().keep);
  EXPECT_EQ(info->spec.default_plan.k, 10u);
  EXPECT_EQ(info->spec.default_plan.source, PlanSource::kTune);
  EXPECT_EQ(info->spec.default_plan.rows, 6000u);
  EXPECT_EQ(info->spec.default_plan.recall, report->held_back_recall);
  EXPECT_EQ(info->spec.default_plan.target, 0.95);
  SearchStats stats;
  ASSERT_TRUE(db_->Search("c", Query(0), SearchOptions{}, &stats).ok());
  SearchPlan stored = report->plan;
  stored.stages.back().keep = 0;
  EXPECT_EQ(stats.plan, stored.ToString());
  ASSERT_OK(db_->SetDefaultPlan("c", SearchPlan::Default()));
  EXPECT_TRUE(db_->DescribeCollection("c")->spec.default_plan.stages.empty());
  EXPECT_EQ(db_->DescribeCollection("c")->spec.default_plan.source, PlanSource::kDerived);
}

// A tuned plan holds on queries that are not stored rows (fresh draws of the generator), for
// prefixes that carry much (decay 1) and little (decay 0.3, clustered tightly) of the signal.
TEST(FunnelTune, TunedPlanHoldsOnUnseenQueries) {
  for (double decay : {1.0, 0.3}) {
    SCOPED_TRACE(decay);
    TempDir dir;
    DatabaseOptions dbo;
    dbo.auto_tune = false;  // TUNE's plan is under test
    auto db = testing::OpenOrDie(dir.path(), dbo);
    ASSERT_OK(db->CreateCollection(Spec(Metric::kCosine)));
    SyntheticOptions so;
    so.dim = kDim;
    so.decay = decay;
    so.noise = decay < 1 ? 0.9 : 0.6;
    SyntheticGenerator gen(so);
    for (size_t first = 0; first < 8000; first += 2000) Fill(*db, gen, first, 2000);
    TuneOptions t;
    t.target_recall = 0.95;
    t.sample_queries = 200;
    auto report = db->Tune("c", t);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    ASSERT_TRUE(report->reached_target) << report->plan.ToString();
    // The stored default plan, on 300 queries none of which is a stored row.
    const double unseen = MeanRecall(*db, gen, SearchOptions{}, 300);
    EXPECT_GE(unseen, 0.95 - 0.005) << report->plan.ToString() << " tuned " << report->recall
                                    << " held back " << report->held_back_recall;
  }
}

// The writer of GraphMatchesStorageAfterKill: inserts, deletes and checkpoints until killed.
TEST(FunnelCrash, WriterProcess) {
  const char* dir = std::getenv("MRLDB_CRASH_WRITER_DIR");
  if (dir == nullptr) GTEST_SKIP() << "runs only as the writer process of GraphMatchesStorageAfterKill";
  SyntheticOptions so;
  so.dim = kDim;
  SyntheticGenerator gen(so);
  auto db = Database::Open(dir);
  if (!db.ok()) _exit(3);
  for (size_t b = 0;; ++b) {
    auto rows = gen.Rows(b * 500, 500);
    InsertBatch batch;
    for (size_t i = 0; i < 500; ++i) {
      batch.Add(Key{int64_t(b * 500 + i)}, std::span<const float>(rows.data() + i * kDim, kDim));
    }
    if (!(*db)->Insert("c", batch).ok()) _exit(4);
    if (b % 3 == 0) {
      std::vector<Key> del = {Key{int64_t(b * 500)}};
      if (!(*db)->Delete("c", del).ok()) _exit(5);
    }
    if (b % 4 == 1 && !(*db)->Checkpoint().ok()) _exit(6);
  }
}

// A writer killed with SIGKILL in the middle of an ingest: after reopening, the graph holds every
// live row and nothing else.
TEST(FunnelCrash, GraphMatchesStorageAfterKill) {
  TempDir dir;
  {
    auto db = testing::OpenOrDie(dir.path());
    ASSERT_OK(db->CreateCollection(Spec(Metric::kL2)));
  }
  SyntheticOptions so;
  so.dim = kDim;
  SyntheticGenerator gen(so);
  // The writer is a fresh process (this test binary re-executed), not a bare fork of a process
  // that may hold RocksDB's background threads and their locks.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("MRLDB_CRASH_WRITER_DIR", dir.path().c_str(), 1);
    execl("/proc/self/exe", "engine_tests", "--gtest_filter=FunnelCrash.WriterProcess", nullptr);
    _exit(127);
  }
  usleep(2500 * 1000);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);

  std::vector<std::string> log;
  DatabaseOptions o;
  o.info_log = [&](std::string_view line) { log.emplace_back(line); };
  auto db = testing::OpenOrDie(dir.path(), o);
  ASSERT_OK(db->WaitForIndexing());
  auto info = db->DescribeCollection("c");
  ASSERT_TRUE(info.ok());
  ASSERT_GT(info->live_rows, 500u) << "the writer did not get far enough";
  EXPECT_EQ(info->index_live_rows, info->live_rows);  // no missing row, no ghost row
  // No ghost rows: everything the graph returns is live and findable by id.
  SearchOptions prefix;
  prefix.k = 200;
  prefix.plan = SearchPlan::Prefix(64, 400);
  SearchOptions exact_prefix = prefix;
  exact_prefix.plan = SearchPlan::Exact(64);
  double recall = 0;
  for (size_t qi = 0; qi < 10; ++qi) {
    auto q = gen.Queries(qi, 1);
    auto hits = db->Search("c", q, prefix);
    auto want = db->Search("c", q, exact_prefix);
    ASSERT_TRUE(hits.ok() && want.ok());
    EXPECT_EQ(hits->size(), std::min<size_t>(200, info->live_rows));
    for (const Hit& h : *hits) EXPECT_TRUE(db->Get("c", h.id).ok());
    recall += Recall(*hits, *want);
  }
  EXPECT_GE(recall / 10, 0.9);
  ASSERT_OK(db->Close());
  for (const auto& l : log) std::printf("log: %s\n", l.c_str());
}

}  // namespace
}  // namespace mrldb
