// VACUUM (Database::Vacuum; docs/architecture.md, "Vacuum"): dead rows' vector bytes are
// reclaimed while search results, the graph and every live row's bytes stay exactly as they
// were, in memory, after a reopen and read from storage under a memory budget; writes go on
// during a vacuum; progress, cancel and the background vacuum's threshold.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "mrldb/database.h"
#include "storage/key_format.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::TempDir;

constexpr uint32_t kDim = 256;  // ladder 16, 32, 64, 128, 256: groups of 59, 59, 30, 15, 7 rows
constexpr uint64_t kMiB = 1u << 20;

CollectionSpec Spec() {
  CollectionSpec s;
  s.name = "docs";
  s.dim = kDim;
  s.granularities = {16, 32, 64, 128, 256};
  s.index_dim = 32;
  s.metric = Metric::kCosine;
  s.hnsw.m = 8;
  s.hnsw.ef_construction = 50;
  s.id_type = IdType::kBigint;
  s.attributes = {{"n", AttrType::kInt}};
  return s;
}

DatabaseOptions Options(std::optional<uint64_t> budget = std::nullopt) {
  DatabaseOptions o;
  o.auto_tune = false;
  o.auto_vacuum_share = 0;  // vacuums only where a test asks
  o.memory_budget_bytes = budget;
  o.info_log = [](std::string_view) {};
  return o;
}

// Version `ver` of row `id`'s vector.
std::vector<float> VectorOf(int64_t id, uint32_t ver) {
  return testing::RandomVectors(1, kDim, uint32_t(id) * 7919u + ver);
}

// The rows a test wrote: id -> version.
using Model = std::map<int64_t, uint32_t>;

void Put(Database* db, Model* m, const std::vector<std::pair<int64_t, uint32_t>>& rows) {
  InsertBatch b;
  for (auto [id, ver] : rows) {
    b.Add(Key{id}, std::span<const float>(VectorOf(id, ver)), {Value{id % 7}});
    (*m)[id] = ver;
  }
  ASSERT_OK(db->Upsert("docs", b));
}

void Fill(Database* db, Model* m, int64_t first, int64_t n, uint32_t ver = 0) {
  for (int64_t at = first; at < first + n; at += 1000) {
    std::vector<std::pair<int64_t, uint32_t>> rows;
    for (int64_t id = at; id < std::min(first + n, at + 1000); ++id) rows.emplace_back(id, ver);
    Put(db, m, rows);
  }
}

void Remove(Database* db, Model* m, const std::vector<int64_t>& ids) {
  std::vector<Key> keys;
  for (int64_t id : ids) {
    keys.emplace_back(id);
    m->erase(id);
  }
  ASSERT_TRUE(db->Delete("docs", keys).ok());
}

// Every row of the model with its exact bytes, and no other.
void ExpectRows(Database* db, const Model& m, int64_t ids) {
  for (int64_t id = 0; id < ids; ++id) {
    auto r = db->Get("docs", Key{id});
    auto it = m.find(id);
    if (it == m.end()) {
      EXPECT_FALSE(r.ok()) << "id " << id << " was deleted";
      continue;
    }
    ASSERT_TRUE(r.ok()) << "id " << id << ": " << r.status().ToString();
    ASSERT_EQ(r->vector, VectorOf(id, it->second)) << "id " << id;
  }
}

// Every plan kind: the default funnel, re-ranks at each level, scans, a filter.
std::vector<SearchOptions> Plans() {
  std::vector<SearchOptions> plans;
  SearchOptions o;
  o.k = 10;
  o.vector_dims = kDim;
  plans.push_back(o);
  o.plan = SearchPlan::Funnel({{32, 80}, {64, 40}, {128, 20}, {256, 10}});
  plans.push_back(o);
  o.plan = SearchPlan::Funnel({{16, 100}, {256, 10}});  // a scan first
  plans.push_back(o);
  o.plan = SearchPlan::Exact();
  plans.push_back(o);
  o.plan = SearchPlan::Exact(100);  // off the ladder
  plans.push_back(o);
  o.plan = SearchPlan::Default();
  o.filter = Filter::Eq("n", Value{int64_t{3}});
  plans.push_back(o);
  return plans;
}

std::vector<std::vector<Hit>> RunAll(Database* db) {
  const auto queries = testing::RandomVectors(6, kDim, 99);
  std::vector<std::vector<Hit>> out;
  for (const SearchOptions& o : Plans()) {
    for (size_t q = 0; q < 6; ++q) {
      auto hits = db->Search("docs", std::span<const float>(queries.data() + q * kDim, kDim), o);
      EXPECT_TRUE(hits.ok()) << hits.status().ToString();
      out.push_back(hits.ok() ? *hits : std::vector<Hit>{});
    }
  }
  return out;
}

TEST(Vacuum, ReclaimsDeadRowsAndLeavesResultsAndTheGraphAsTheyWere) {
  TempDir dir;
  Model m;
  std::vector<std::vector<Hit>> before;
  std::vector<std::string> log;
  {
    auto db = testing::OpenOrDie(dir.path(), Options());
    ASSERT_OK(db->CreateCollection(Spec()));
    Fill(db.get(), &m, 0, 6000);
    std::vector<int64_t> odd;
    for (int64_t id = 1; id < 6000; id += 2) odd.push_back(id);
    Remove(db.get(), &m, odd);
    std::vector<std::pair<int64_t, uint32_t>> upserts;  // their old versions die too
    for (int64_t id = 0; id < 2000; id += 4) upserts.emplace_back(id, 1);
    Put(db.get(), &m, upserts);
    ASSERT_OK(db->WaitForIndexing());
    ASSERT_OK(db->Flush());
    const CollectionInfo info = *db->DescribeCollection("docs");
    EXPECT_EQ(info.unvacuumed_rows, 3500u);
    before = RunAll(db.get());

    std::vector<VacuumProgress> seen;
    VacuumOptions vo;
    vo.progress = [&](const VacuumProgress& p) { seen.push_back(p); };
    auto r = db->Vacuum("docs", vo);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->dead_rows, 3500u);
    EXPECT_GT(r->groups_rewritten, 0u);
    // At least the dead rows' bytes of the complete groups (norm + values of each block).
    EXPECT_GE(r->bytes_freed, uint64_t(3400) * (kDim + 5) * 4);
    EXPECT_LT(double(r->disk_bytes_after), 0.6 * double(r->disk_bytes_before))
        << r->disk_bytes_before << " -> " << r->disk_bytes_after;
    ASSERT_GT(seen.size(), 2u);  // slices of about 1 MiB
    for (size_t i = 1; i < seen.size(); ++i) EXPECT_GT(seen[i].rows_done, seen[i - 1].rows_done);
    EXPECT_EQ(seen.back().rows_done, info.allocated_rows);
    EXPECT_EQ(seen.back().rows_total, info.allocated_rows);

    testing::ExpectSameHits(before, RunAll(db.get()));
    ExpectRows(db.get(), m, 6000);
    const CollectionInfo after = *db->DescribeCollection("docs");
    EXPECT_EQ(after.index_rows, info.index_rows);
    EXPECT_EQ(after.index_live_rows, info.index_live_rows);
    EXPECT_EQ(after.unvacuumed_rows, 0u);
    EXPECT_LT(after.disk_bytes, info.disk_bytes);
    // A second vacuum finds nothing left to drop.
    r = db->Vacuum("docs");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->dead_rows, 3500u);
    EXPECT_EQ(r->groups_rewritten, 0u);
    EXPECT_EQ(r->bytes_freed, 0u);
    ASSERT_OK(db->Close());
  }
  // Reopened: the resident blocks load from the vacuumed groups; the saved graph is used as is.
  {
    DatabaseOptions o = Options();
    o.info_log = [&](std::string_view l) { log.emplace_back(l); };
    auto db = testing::OpenOrDie(dir.path(), o);
    ASSERT_OK(db->WaitForLoading());
    testing::ExpectSameHits(before, RunAll(db.get()));
    ExpectRows(db.get(), m, 6000);
    EXPECT_EQ(db->DescribeCollection("docs")->unvacuumed_rows, 0u);
    for (const auto& l : log) EXPECT_EQ(l.find("rebuilding"), std::string::npos) << l;
  }
  // Under a budget that leaves the wide blocks in storage: re-ranks and scans read the
  // vacuumed groups there.
  auto db = testing::OpenOrDie(dir.path(), Options(12 * kMiB));
  ASSERT_OK(db->WaitForLoading());
  auto mem = db->GetMemory();
  ASSERT_TRUE(mem.ok());
  EXPECT_LT(mem->collections[0].second.resident_blocks, 5u);
  testing::ExpectSameHits(before, RunAll(db.get()));
  ExpectRows(db.get(), m, 6000);
}

TEST(Vacuum, WritesAfterAVacuumAppendToItsGroups) {
  TempDir dir;
  Model m;
  auto db = testing::OpenOrDie(dir.path(), Options());
  ASSERT_OK(db->CreateCollection(Spec()));
  Fill(db.get(), &m, 0, 1003);  // a partial last group in every block but the 59-row ones
  std::vector<int64_t> dead;
  for (int64_t id = 0; id < 1003; id += 3) dead.push_back(id);
  Remove(db.get(), &m, dead);
  ASSERT_TRUE(db->Vacuum("docs").ok());
  Fill(db.get(), &m, 1003, 500);
  Put(db.get(), &m, {{1000, 2}, {1001, 2}, {4, 3}});
  Remove(db.get(), &m, {1002, 1400});
  auto r = db->Vacuum("docs");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->groups_rewritten, 0u);
  ExpectRows(db.get(), m, 1503);
  ASSERT_OK(db->Close());
  db = testing::OpenOrDie(dir.path(), Options());
  ExpectRows(db.get(), m, 1503);
  ASSERT_OK(db->WaitForIndexing());
  auto info = db->DescribeCollection("docs");
  EXPECT_EQ(info->live_rows, m.size());
  EXPECT_EQ(info->index_live_rows, m.size());
}

TEST(Vacuum, EmptyAllDeadAndNoDeadCollections) {
  TempDir dir;
  Model m;
  auto db = testing::OpenOrDie(dir.path(), Options());
  ASSERT_OK(db->CreateCollection(Spec()));
  auto r = db->Vacuum("docs");  // empty
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->dead_rows, 0u);
  EXPECT_EQ(r->groups_rewritten, 0u);

  Fill(db.get(), &m, 0, 1000);
  r = db->Vacuum("docs");  // nothing dead: nothing read or written
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->dead_rows, 0u);
  EXPECT_EQ(r->groups_rewritten, 0u);
  EXPECT_EQ(r->bytes_freed, 0u);
  ExpectRows(db.get(), m, 1000);

  std::vector<int64_t> all;
  for (int64_t id = 0; id < 1000; ++id) all.push_back(id);
  Remove(db.get(), &m, all);
  ASSERT_OK(db->Flush());
  r = db->Vacuum("docs");  // everything dead
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->dead_rows, 1000u);
  EXPECT_LT(double(r->disk_bytes_after), 0.1 * double(r->disk_bytes_before))
      << r->disk_bytes_before << " -> " << r->disk_bytes_after;
  const auto q = testing::RandomVectors(1, kDim, 5);
  for (const SearchOptions& o : Plans()) {
    auto hits = db->Search("docs", q, o);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    EXPECT_TRUE(hits->empty());
  }
  // The collection lives on: new rows are stored and found.
  Fill(db.get(), &m, 2000, 100);
  ASSERT_OK(db->Close());
  db = testing::OpenOrDie(dir.path(), Options());
  ExpectRows(db.get(), m, 2100);
  ExactSearchOptions eo;
  eo.k = 1;
  auto hit = db->ExactSearch("docs", VectorOf(2050, 0), eo);
  ASSERT_TRUE(hit.ok()) << hit.status().ToString();
  ASSERT_EQ(hit->size(), 1u);
  EXPECT_EQ((*hit)[0].id, Key{int64_t{2050}});
}

TEST(Vacuum, WritesAndSearchesGoOnDuringVacuums) {
  TempDir dir;
  Model m;
  auto db = testing::OpenOrDie(dir.path(), Options());
  ASSERT_OK(db->CreateCollection(Spec()));
  Fill(db.get(), &m, 0, 3000);
  std::mutex mu;  // guards m against the writer
  std::atomic<bool> done{false};
  std::thread writer([&] {
    std::mt19937_64 rng(3);
    for (int round = 0; round < 60; ++round) {
      std::lock_guard l(mu);
      std::vector<std::pair<int64_t, uint32_t>> rows;
      for (int i = 0; i < 20; ++i) rows.emplace_back(int64_t(rng() % 4000), uint32_t(round + 1));
      std::sort(rows.begin(), rows.end());
      rows.erase(std::unique(rows.begin(), rows.end(),
                             [](auto& a, auto& b) { return a.first == b.first; }),
                 rows.end());
      Put(db.get(), &m, rows);
      std::vector<int64_t> gone;
      for (int i = 0; i < 15; ++i) gone.push_back(int64_t(rng() % 4000));
      std::sort(gone.begin(), gone.end());
      gone.erase(std::unique(gone.begin(), gone.end()), gone.end());
      Remove(db.get(), &m, gone);
    }
    done = true;
  });
  const auto q = testing::RandomVectors(1, kDim, 8);
  int vacuums = 0;
  while (!done || vacuums < 2) {
    auto r = db->Vacuum("docs");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ++vacuums;
    auto hits = db->Search("docs", q, SearchOptions{});
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  }
  writer.join();
  ExpectRows(db.get(), m, 4000);
  ASSERT_OK(db->Close());
  db = testing::OpenOrDie(dir.path(), Options());
  ExpectRows(db.get(), m, 4000);
  ASSERT_OK(db->WaitForIndexing());
  EXPECT_EQ(db->DescribeCollection("docs")->index_live_rows, m.size());
}

TEST(Vacuum, CancelStopsBetweenSlicesAndLeavesACorrectDatabase) {
  TempDir dir;
  Model m;
  auto db = testing::OpenOrDie(dir.path(), Options());
  ASSERT_OK(db->CreateCollection(Spec()));
  Fill(db.get(), &m, 0, 5000);
  std::vector<int64_t> dead;
  for (int64_t id = 0; id < 5000; id += 2) dead.push_back(id);
  Remove(db.get(), &m, dead);
  ASSERT_OK(db->WaitForIndexing());
  const auto before = RunAll(db.get());
  std::atomic<bool> cancel{false};
  VacuumOptions vo;
  vo.cancel = &cancel;
  vo.progress = [&](const VacuumProgress&) { cancel = true; };
  auto r = db->Vacuum("docs", vo);
  ASSERT_EQ(r.status().code(), Status::Code::kCancelled) << r.status().ToString();
  EXPECT_NE(r.status().message().find("VACUUM cancelled after"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(db->DescribeCollection("docs")->unvacuumed_rows, 2500u);  // not finished
  testing::ExpectSameHits(before, RunAll(db.get()));
  ExpectRows(db.get(), m, 5000);
  r = db->Vacuum("docs");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->groups_rewritten, 0u);
  testing::ExpectSameHits(before, RunAll(db.get()));
}

// Keys under `prefix` in the vectors family, read with RocksDB directly (the database closed).
size_t VectorKeys(const std::string& path, const std::string& prefix) {
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{storage::kCfDefault, {}},
                                                      {storage::kCfRows, {}},
                                                      {storage::kCfVectors, {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> hs;
  EXPECT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::Options(), path, cfs, &hs, &raw).ok());
  if (raw == nullptr) return 0;
  size_t n = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(rocksdb::ReadOptions(), hs[2]));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
  }
  for (auto* h : hs) EXPECT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
  delete raw;
  return n;
}

TEST(Vacuum, ADropStopsAVacuumAndNoGroupComesBack) {
  TempDir dir;
  Model m;
  auto db = testing::OpenOrDie(dir.path(), Options());
  ASSERT_OK(db->CreateCollection(Spec()));  // the database's first collection: cid 1
  Fill(db.get(), &m, 0, 5000);
  std::vector<int64_t> dead;
  for (int64_t id = 0; id < 5000; id += 2) dead.push_back(id);
  Remove(db.get(), &m, dead);
  VacuumOptions vo;
  bool dropped = false;
  vo.progress = [&](const VacuumProgress&) {  // after the first slice's write
    if (dropped) return;
    dropped = true;
    const Status st = db->DropCollection("docs");
    EXPECT_TRUE(st.ok()) << st.ToString();
  };
  auto r = db->Vacuum("docs", vo);
  ASSERT_EQ(r.status().code(), Status::Code::kCancelled) << r.status().ToString();
  EXPECT_NE(r.status().message().find("the collection was dropped"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(db->Vacuum("docs").status().code(), Status::Code::kNotFound);
  ASSERT_OK(db->Close());
  EXPECT_EQ(VectorKeys(dir.path(), storage::CollectionPrefix(storage::kTagSegment, 1)), 0u);
}

TEST(Vacuum, TheBackgroundVacuumRunsPastItsShare) {
  TempDir dir;
  Model m;
  std::mutex log_mu;
  std::vector<std::string> log;
  DatabaseOptions o = Options();
  o.auto_vacuum_share = 0.2;
  o.auto_vacuum_min_rows = 100;
  o.info_log = [&](std::string_view l) {
    std::lock_guard g(log_mu);
    log.emplace_back(l);
  };
  auto db = testing::OpenOrDie(dir.path(), o);
  ASSERT_OK(db->CreateCollection(Spec()));
  Fill(db.get(), &m, 0, 3000);
  std::vector<int64_t> dead;
  for (int64_t id = 0; id < 450; ++id) dead.push_back(id);  // 15%: below the share
  Remove(db.get(), &m, dead);
  ASSERT_OK(db->WaitForTuning());
  EXPECT_EQ(db->DescribeCollection("docs")->unvacuumed_rows, 450u);
  dead.clear();
  for (int64_t id = 450; id < 700; ++id) dead.push_back(id);  // 23%
  Remove(db.get(), &m, dead);
  ASSERT_OK(db->WaitForTuning());  // waits for a due vacuum too
  EXPECT_EQ(db->DescribeCollection("docs")->unvacuumed_rows, 0u);
  ExpectRows(db.get(), m, 3000);
  std::lock_guard g(log_mu);
  ASSERT_FALSE(log.empty());
  EXPECT_NE(log.back().find("collection 'docs': vacuumed 700 dead rows"), std::string::npos)
      << log.back();
}

TEST(Vacuum, BadInputIsAClearError) {
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path(), Options());
  auto r = db->Vacuum("nope");
  ASSERT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(r.status().message(), "collection 'nope' does not exist");
  ASSERT_OK(db->Close());
  for (double share : {-0.1, 1.5, std::nan("")}) {
    DatabaseOptions o = Options();
    o.auto_vacuum_share = share;
    auto bad = Database::Open(dir.path(), o);
    ASSERT_FALSE(bad.ok());
    EXPECT_TRUE(bad.status().IsInvalidArgument());
    EXPECT_NE(bad.status().message().find("auto_vacuum_share must be in 0..1"), std::string::npos)
        << bad.status().message();
  }
}

}  // namespace
}  // namespace mrldb
