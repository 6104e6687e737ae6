// The memory budget (DatabaseOptions::memory_budget_bytes): searches with blocks read from
// storage give the in-memory results exactly, the budget holds while rows arrive, and bad
// budgets are clear errors.
#include <malloc.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/residency.h"
#include "mrldb/database.h"
#include "tests/engine/load_gate.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::TempDir;

constexpr uint32_t kDim = 64;
constexpr uint64_t kMiB = 1u << 20;

CollectionSpec Spec() {
  CollectionSpec s;
  s.name = "docs";
  s.dim = kDim;
  s.granularities = {8, 16, 32, 64};
  s.index_dim = 16;
  s.metric = Metric::kCosine;
  s.hnsw.m = 8;
  s.hnsw.ef_construction = 50;
  s.id_type = IdType::kBigint;
  s.attributes = {{"n", AttrType::kInt}};
  return s;
}

DatabaseOptions Options(std::optional<uint64_t> budget) {
  DatabaseOptions o;
  o.auto_tune = false;
  o.memory_budget_bytes = budget;
  o.info_log = [](std::string_view) {};
  return o;
}

void Fill(Database* db, uint64_t first, uint64_t n, uint32_t seed) {
  const auto v = testing::RandomVectors(n, kDim, seed);
  InsertBatch b;
  for (uint64_t i = 0; i < n; ++i) {
    b.Add(Key{int64_t(first + i)}, std::span<const float>(v.data() + i * kDim, kDim),
          {Value{int64_t((first + i) % 7)}});
  }
  ASSERT_OK(db->Insert("docs", b));
}

// Every plan kind, with and without a filter: the graph, re-ranks at each level, scans.
std::vector<SearchOptions> Plans() {
  std::vector<SearchOptions> plans;
  SearchOptions o;
  o.k = 10;
  o.vector_dims = kDim;
  plans.push_back(o);  // the default funnel
  o.plan = SearchPlan::Funnel({{16, 60}, {32, 30}, {64, 10}});
  plans.push_back(o);
  o.plan = SearchPlan::Funnel({{8, 80}, {64, 10}});  // a scan first, then the wide block
  plans.push_back(o);
  o.plan = SearchPlan::Exact();
  plans.push_back(o);
  o.plan = SearchPlan::Exact(48);  // off the ladder: norms computed from the values
  plans.push_back(o);
  o.plan = SearchPlan::Default();
  o.filter = Filter::Eq("n", Value{int64_t{3}});
  plans.push_back(o);
  return plans;
}

std::vector<std::vector<Hit>> RunAll(Database* db) {
  const auto queries = testing::RandomVectors(8, kDim, 99);
  std::vector<std::vector<Hit>> out;
  for (const SearchOptions& o : Plans()) {
    for (size_t q = 0; q < 8; ++q) {
      auto hits = db->Search("docs", std::span<const float>(queries.data() + q * kDim, kDim), o);
      EXPECT_TRUE(hits.ok()) << hits.status().ToString();
      out.push_back(hits.ok() ? *hits : std::vector<Hit>{});
    }
    auto batch = db->SearchBatch("docs", queries, 8, o);
    EXPECT_TRUE(batch.ok()) << batch.status().ToString();
    if (batch.ok()) out.insert(out.end(), batch->begin(), batch->end());
  }
  return out;
}

// GetMemory reports the process's resident set beside what the budget counts: at least the
// graph and blocks it holds in memory (they are written, so resident), never counted in the total.
TEST(MemoryBudget, ReportsTheProcessResidentSet) {
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path(), Options(std::nullopt));
  ASSERT_OK(db->CreateCollection(Spec()));
  Fill(db.get(), 0, 20000, 1);
  ASSERT_OK(db->WaitForIndexing({}));
  auto m = db->GetMemory();
  ASSERT_TRUE(m.ok());
  const MemoryUse& use = m->collections[0].second;
  EXPECT_GT(use.blocks_bytes, 20000u * kDim * sizeof(float));
  EXPECT_GE(m->process_rss_bytes, use.blocks_bytes + use.graph_bytes + use.row_state_bytes);
  EXPECT_LT(m->process_rss_bytes, uint64_t{64} << 30);
  const uint64_t total = m->TotalBytes();
  m->process_rss_bytes = 0;
  EXPECT_EQ(m->TotalBytes(), total);
}

TEST(MemoryBudget, ResultsEqualTheInMemoryResults) {
  TempDir dir;
  std::vector<std::vector<Hit>> unlimited;
  {
    auto db = testing::OpenOrDie(dir.path(), Options(std::nullopt));
    ASSERT_OK(db->CreateCollection(Spec()));
    Fill(db.get(), 0, 6000, 1);
    db->Delete("docs", std::vector<Key>{Key{int64_t{5}}, Key{int64_t{77}}}).status().IgnoreError();
    ASSERT_OK(db->WaitForIndexing({}));
    ASSERT_OK(db->WaitForLoading());
    auto m = db->GetMemory();
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->collections[0].second.resident_blocks, 4u);
    unlimited = RunAll(db.get());
    ASSERT_OK(db->Close());
  }
  // With the loader held before the blocks: every block is read from storage.
  {
    std::unique_ptr<Database> db;
    testing::LoadGate held("blocks");  // released before db closes, also on an early return
    db = testing::OpenOrDie(dir.path(), testing::HookedTo(&held, Options(std::nullopt)));
    held.WaitReached();
    ASSERT_OK(db->WaitForIndexing({}));
    auto m = db->GetMemory();
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->collections[0].second.resident_blocks, 0u);
    testing::ExpectSameHits(unlimited, RunAll(db.get()));
    held.Release();
  }
  // A budget that keeps only the blocks the graph needs (8 and 16 dims) in memory.
  auto db = testing::OpenOrDie(dir.path(), Options(8 * kMiB));
  ASSERT_OK(db->WaitForLoading());
  auto m = db->GetMemory();
  ASSERT_TRUE(m.ok());
  const MemoryUse& use = m->collections[0].second;
  EXPECT_EQ(use.resident_blocks, 2u);
  EXPECT_EQ(use.wanted_blocks, 2u);
  EXPECT_LE(m->TotalBytes(), 8 * kMiB);
  testing::ExpectSameHits(unlimited, RunAll(db.get()));

  // EXPLAIN ANALYZE's counters: the re-rank at 64 dims read its block from storage.
  SearchStats stats;
  const auto q = testing::RandomVectors(1, kDim, 5);
  SearchOptions o;
  o.plan = SearchPlan::Funnel({{16, 60}, {64, 10}});
  ASSERT_TRUE(db->Search("docs", q, o, &stats).ok());
  ASSERT_EQ(stats.stages.size(), 3u);  // the graph, then re-ranks at 16 and 64 dims
  EXPECT_EQ(stats.stages[1].storage_reads + stats.stages[1].cache_hits, 0u);  // resident
  EXPECT_GT(stats.stages[2].storage_reads + stats.stages[2].cache_hits, 0u);
  EXPECT_GE(stats.stages[2].storage_bytes, stats.stages[2].storage_reads * 256);
  ASSERT_OK(db->Close());
  db.reset();

  // Storage reads split into parts read at once (DatabaseOptions::storage_read_depth), every
  // block read from storage while the loader is held: the same results.
  for (unsigned depth : {3u, 16u}) {
    SCOPED_TRACE(depth);
    std::unique_ptr<Database> split;
    testing::LoadGate held("blocks");
    DatabaseOptions opts = Options(8 * kMiB);
    opts.storage_read_depth = depth;
    split = testing::OpenOrDie(dir.path(), testing::HookedTo(&held, opts));
    held.WaitReached();
    testing::ExpectSameHits(unlimited, RunAll(split.get()));
    held.Release();
  }
}

TEST(MemoryBudget, BadBudgetsAreClearErrors) {
  TempDir dir;
  {
    auto db = testing::OpenOrDie(dir.path(), Options(std::nullopt));
    ASSERT_OK(db->CreateCollection(Spec()));
    Fill(db.get(), 0, 3000, 2);
  }
  auto zero = Database::Open(dir.path(), Options(0));
  ASSERT_FALSE(zero.ok());
  EXPECT_TRUE(zero.status().IsInvalidArgument());
  EXPECT_NE(zero.status().message().find("memory budget is 0 bytes"), std::string::npos);
  // Below the graph, the row state and the blocks the graph is built from.
  auto small = Database::Open(dir.path(), Options(4 * kMiB));
  ASSERT_FALSE(small.ok());
  EXPECT_TRUE(small.status().IsInvalidArgument());
  EXPECT_NE(small.status().message().find("memory budget 4.0 MiB is below the"), std::string::npos)
      << small.status().message();
  EXPECT_NE(small.status().message().find("HNSW graphs"), std::string::npos);
}

// A destroyed database hands back the heap it freed. Once a large block freed by the process
// raised glibc's mmap threshold, a database's column blocks and batches come from the heap, and
// glibc kept them resident after the database was gone: a process that closed one database and
// opened another carried both (the tiered benchmark's ingest, then its searches).
TEST(MemoryBudget, ADestroyedDatabaseReturnsTheHeapItFreed) {
  { std::vector<char> big(size_t{31} << 20, 1); }  // freed: the threshold is now 31 MiB
  const uint64_t before = ProcessRssBytes();
  uint64_t blocks = 0;
  {
    TempDir dir;
    auto db = testing::OpenOrDie(dir.path(), Options(std::nullopt));
    ASSERT_OK(db->CreateCollection(Spec()));
    for (uint64_t first = 0; first < 80000; first += 20000) Fill(db.get(), first, 20000, 3);
    auto m = db->GetMemory();
    ASSERT_TRUE(m.ok());
    blocks = m->collections[0].second.blocks_bytes;
    ASSERT_GT(ProcessRssBytes(), before + blocks / 2);
    ASSERT_OK(db->Close());
  }
  const uint64_t after = ProcessRssBytes();
  // Measured: 7.5 MiB more than before (thread stacks glibc caches, RocksDB's own threads)
  // against 110 MiB without the trim, for 21 MiB of blocks.
  EXPECT_LT(after, before + blocks) << "before " << before / 1024 << " KiB, after " << after / 1024
                                        << " KiB, blocks " << blocks / 1024 << " KiB";
}

// What a row holds besides its vector (docs/architecture.md, "Memory budget"): a BIGINT id of 8
// bytes with its id map's slots (at most 23 bytes), the liveness byte, one INT attribute (40),
// and the same estimate while the rows of a reopened database load (where the columns are sized
// to the rows).
TEST(MemoryBudget, PerRowStateStaysSmall) {
  TempDir dir;
  constexpr uint64_t kRows = 50000, kMaxPerRow = 8 + 23 + 1 + sizeof(Value);
  {
    auto db = testing::OpenOrDie(dir.path(), Options(std::nullopt));
    ASSERT_OK(db->CreateCollection(Spec()));
    for (uint64_t first = 0; first < kRows; first += 10000) Fill(db.get(), first, 10000, 5);
    auto info = db->DescribeCollection("docs");
    ASSERT_TRUE(info.ok());
    // Growing columns hold up to twice their rows (amortized doubling).
    EXPECT_LE(info->memory.row_state_bytes, 2 * kRows * kMaxPerRow);
    ASSERT_OK(db->Close());
  }
  testing::LoadGate gate("rows");  // holds the loader before the rows load
  auto db = testing::OpenOrDie(dir.path(), testing::HookedTo(&gate, Options(std::nullopt)));
  gate.WaitReached();
  auto info = db->DescribeCollection("docs");
  ASSERT_TRUE(info.ok());
  EXPECT_LE(info->memory.row_state_bytes, kRows * kMaxPerRow);
  EXPECT_GE(info->memory.row_state_bytes, kRows * (8 + 8 + 1 + sizeof(Value)));
  gate.Release();
  ASSERT_OK(db->WaitForLoading());
  info = db->DescribeCollection("docs");  // loaded: the columns are sized to the rows
  ASSERT_TRUE(info.ok());
  EXPECT_LE(info->memory.row_state_bytes, kRows * kMaxPerRow);
  EXPECT_GE(info->memory.row_state_bytes, kRows * (8 + 8 + 1 + sizeof(Value)));
  auto got = db->Get("docs", Key{int64_t{kRows - 1}});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
}

// The memtables are charged to the block cache (docs/architecture.md, "Write buffers counted by
// use"): its capacity covers the write buffers' limit, and the memtables' bytes are in its use.
TEST(MemoryBudget, WriteBuffersAreChargedToTheBlockCache) {
  TempDir dir;
  constexpr uint64_t kBudget = 256 * kMiB;
  auto db = testing::OpenOrDie(dir.path(), Options(kBudget));
  ASSERT_OK(db->CreateCollection(Spec()));
  for (uint64_t first = 0; first < 20000; first += 5000) Fill(db.get(), first, 5000, 7);
  ASSERT_OK(db->WaitForIndexing({}));
  ASSERT_OK(db->WaitForLoading());  // planned again after the graph grew
  auto m = db->GetMemory();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->write_buffer_limit_bytes, kBudget / 8);
  EXPECT_GE(m->cache_capacity_bytes, kBudget / 32 + m->write_buffer_limit_bytes);
  ASSERT_GT(m->write_buffer_bytes, 4 * kMiB);  // 20,000 rows of 64 floats, not flushed yet
  // Charged in whole reservation units (RocksDB's dummy entries), never less than the use.
  EXPECT_GE(m->cache_usage_bytes + kMiB, m->write_buffer_bytes);
  EXPECT_LE(m->TotalBytes(), kBudget);
}

TEST(MemoryBudget, HoldsUnderConcurrentInsertsAndSearches) {
  TempDir dir;
  constexpr uint64_t kBudget = 40 * kMiB;
  constexpr uint64_t kRows = 60000;  // 15 MiB of vectors, 4 MiB in the graph's blocks
  const uint64_t rss0 = ProcessRssBytes();
  auto db = testing::OpenOrDie(dir.path(), Options(kBudget));
  ASSERT_OK(db->CreateCollection(Spec()));
  std::atomic<bool> done{false};
  std::atomic<uint64_t> searches{0};
  std::thread searcher([&] {
    const auto q = testing::RandomVectors(1, kDim, 3);
    SearchOptions o;
    o.plan = SearchPlan::Funnel({{16, 40}, {32, 20}, {64, 10}});
    while (!done) {
      auto hits = db->Search("docs", q, o);
      EXPECT_TRUE(hits.ok()) << hits.status().ToString();
      ++searches;
    }
  });
  uint64_t peak_over = 0;
  for (uint64_t first = 0; first < kRows; first += 2000) {
    Fill(db.get(), first, 2000, 10 + uint32_t(first));
    auto m = db->GetMemory();
    ASSERT_TRUE(m.ok());
    // The resident blocks grow a chunk (16,384 rows) at a time; the planner then runs again and
    // sends blocks back to storage (printed, not asserted: how far it lags is scheduling).
    const uint64_t total = m->TotalBytes();
    if (total > kBudget) peak_over = std::max(peak_over, total - kBudget);
  }
  done = true;
  searcher.join();
  EXPECT_GT(searches.load(), 0u);
  ASSERT_OK(db->WaitForIndexing({}));
  ASSERT_OK(db->WaitForLoading());
  auto m = db->GetMemory();
  ASSERT_TRUE(m.ok());
  EXPECT_LE(m->TotalBytes(), kBudget);
  EXPECT_LT(m->collections[0].second.resident_blocks, 4u);  // the vectors did not all fit
  // The process as a whole: the budget, plus what it does not count (threads, RocksDB's arenas,
  // the test). Freed memory the allocator still keeps is returned first.
  malloc_trim(0);
  const uint64_t rss = ProcessRssBytes();
  std::printf("budget %llu MiB, accounted %.1f MiB (at most %.1f MiB over while rows arrived), "
              "RSS grew %.1f MiB\n", (unsigned long long)(kBudget / kMiB),
              m->TotalBytes() / double(kMiB), peak_over / double(kMiB),
              (rss - std::min(rss, rss0)) / double(kMiB));
  EXPECT_LE(rss - std::min(rss, rss0), kBudget + kBudget / 2);
}

}  // namespace
}  // namespace mrldb

namespace mrldb {
namespace {

// TUNE's exact truth and ANALYZE's scans under a budget come from storage scans shared by
// groups of queries; what they measure equals the in-memory figures.
TEST(MemoryBudget, TuneAndAnalyzeUnderABudgetMeasureTheSame) {
  TempDir dir;
  TuneOptions t;
  t.sample_queries = 150;  // more than one group of 64 per half
  AnalyzeOptions an;
  an.sample = 150;
  an.store = false;
  TuneReport in_memory;
  PrefixAnalysis analysed;
  {
    auto db = testing::OpenOrDie(dir.path(), Options(std::nullopt));
    ASSERT_OK(db->CreateCollection(Spec()));
    Fill(db.get(), 0, 6000, 3);
    ASSERT_OK(db->WaitForIndexing({}));
    auto r = db->Tune("docs", t);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    in_memory = *r;
    auto a = db->Analyze("docs", an);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    analysed = *a;
    ASSERT_OK(db->Close());
  }
  auto db = testing::OpenOrDie(dir.path(), Options(8 * kMiB));
  ASSERT_OK(db->WaitForLoading());
  auto m = db->GetMemory();
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->collections[0].second.resident_blocks, 2u);  // the 64-dim block is in storage
  auto r = db->Tune("docs", t);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->straight_keep, in_memory.straight_keep);
  EXPECT_EQ(r->wide_keep, in_memory.wide_keep);
  EXPECT_DOUBLE_EQ(r->wide_held_back_recall, in_memory.wide_held_back_recall);
  ASSERT_FALSE(r->shapes.empty());
  EXPECT_EQ(r->shapes[0].plan.ToString(), in_memory.shapes[0].plan.ToString());
  EXPECT_DOUBLE_EQ(r->shapes[0].recall, in_memory.shapes[0].recall);
  auto a = db->Analyze("docs", an);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->sample, analysed.sample);
  EXPECT_DOUBLE_EQ(a->suffix_recall, analysed.suffix_recall);
  ASSERT_EQ(a->levels.size(), analysed.levels.size());
  for (size_t b = 0; b < a->levels.size(); ++b) {
    EXPECT_DOUBLE_EQ(a->levels[b].recall, analysed.levels[b].recall) << b;
    EXPECT_DOUBLE_EQ(a->levels[b].rank_corr, analysed.levels[b].rank_corr) << b;
    EXPECT_EQ(a->levels[b].shortlist, analysed.levels[b].shortlist) << b;
  }
}

// A batch of exact searches under a budget reads the blocks in storage once for as many queries
// as the scan's scratch (a 32nd of the budget) holds, not once per 64: 150 queries cost what one
// costs, and give what they give one at a time.
TEST(MemoryBudget, ABatchOfExactSearchesReadsStorageOnce) {
  TempDir dir;
  {
    auto db = testing::OpenOrDie(dir.path(), Options(std::nullopt));
    ASSERT_OK(db->CreateCollection(Spec()));
    Fill(db.get(), 0, 6000, 3);
    ASSERT_OK(db->WaitForIndexing({}));
    ASSERT_OK(db->Close());
  }
  auto db = testing::OpenOrDie(dir.path(), Options(8 * kMiB));
  ASSERT_OK(db->WaitForLoading());
  auto m = db->GetMemory();
  ASSERT_TRUE(m.ok());
  ASSERT_LT(m->collections[0].second.resident_blocks, 4u);  // the 64-dim block is in storage
  constexpr size_t kQueries = 150;  // 8 MiB / 32 holds 819 lists of 2 x 10 candidates
  const auto q = testing::RandomVectors(kQueries, kDim, 99);
  SearchOptions o;
  o.k = 10;
  o.plan = SearchPlan::Exact();
  auto bytes_for = [&](size_t n, std::vector<std::vector<Hit>>* hits) {
    const uint64_t before = db->GetStorageStats().iter_bytes_read;
    auto r = db->SearchBatch("docs", std::span<const float>(q.data(), n * kDim), n, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) *hits = std::move(*r);
    return db->GetStorageStats().iter_bytes_read - before;
  };
  std::vector<std::vector<Hit>> one, all;
  const uint64_t single = bytes_for(1, &one);
  const uint64_t batch = bytes_for(kQueries, &all);
  EXPECT_GT(single, 6000u * kDim * sizeof(float));  // a storage scan reads all four blocks
  EXPECT_EQ(batch, single);
  ASSERT_EQ(all.size(), kQueries);
  for (size_t i = 0; i < kQueries; i += 37) {
    auto r = db->Search("docs", std::span<const float>(q.data() + i * kDim, kDim), o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), all[i].size());
    for (size_t j = 0; j < r->size(); ++j) {
      EXPECT_EQ((*r)[j].id, all[i][j].id) << i << " " << j;
      EXPECT_EQ((*r)[j].distance, all[i][j].distance) << i << " " << j;
    }
  }
}

}  // namespace
}  // namespace mrldb
