// Open in seconds (docs/architecture.md, "Open in seconds"): Database::Open reads metadata
// only; the saved graph, the ids and attributes and the resident blocks load in the
// background. The loader is held at each part by DatabaseOptions::load_hook, and what runs
// meanwhile (searches, point reads, inserts, upserts, deletes) is compared with the results
// once everything is loaded.
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mrldb/database.h"
#include "tests/engine/load_gate.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::LoadGate;
using testing::TempDir;

constexpr uint32_t kDim = 32;
constexpr int64_t kRows = 1500;

CollectionSpec Spec() {
  CollectionSpec s;
  s.name = "docs";
  s.dim = kDim;
  s.granularities = {8, 16, 32};
  s.index_dim = 16;
  s.metric = Metric::kCosine;
  s.hnsw.m = 8;
  s.hnsw.ef_construction = 40;
  s.id_type = IdType::kBigint;
  s.attributes = {{"n", AttrType::kInt}, {"t", AttrType::kText}};
  return s;
}

struct Log {
  std::mutex mu;
  std::vector<std::string> lines;
  bool Has(std::string_view text) {
    std::lock_guard l(mu);
    for (const auto& line : lines) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

DatabaseOptions Options(LoadGate* gate, Log* log) {
  DatabaseOptions o;
  o.auto_tune = false;
  o.auto_vacuum_share = 0;
  o.info_log = [log](std::string_view line) {
    if (!log) return;
    std::lock_guard l(log->mu);
    log->lines.emplace_back(line);
  };
  if (gate) o.load_hook = [gate](std::string_view, std::string_view part) { gate->Hook(part); };
  return o;
}

InsertBatch Rows(int64_t first, int64_t n, uint32_t seed, int64_t tag = 0) {
  const auto v = testing::RandomVectors(size_t(n), kDim, seed);
  InsertBatch b;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = first + i;
    b.Add(Key{id}, std::span<const float>(v.data() + i * kDim, kDim),
          {Value{int64_t(id % 5 + tag)}, Value{"row " + std::to_string(id)}});
  }
  return b;
}

// A database of kRows rows with some deleted and its graph saved, closed.
void Build(const std::string& dir) {
  auto db = testing::OpenOrDie(dir, Options(nullptr, nullptr));
  ASSERT_OK(db->CreateCollection(Spec()));
  ASSERT_OK(db->Insert("docs", Rows(0, kRows, 1)));
  ASSERT_TRUE(db->Delete("docs", std::vector<Key>{Key{int64_t{3}}, Key{int64_t{40}}}).ok());
  ASSERT_OK(db->WaitForIndexing({}));
  ASSERT_OK(db->Close());
}

const std::vector<float>& Queries() {
  static const auto q = testing::RandomVectors(6, kDim, 77);
  return q;
}

// Exact searches and a funnel whose stage 0 keeps every row: the same answer whether stage 0
// is the graph or a scan, with the attributes of the hits.
std::vector<std::vector<Hit>> Searches(Database* db, std::vector<std::vector<Value>>* attrs) {
  std::vector<SearchOptions> plans(2);
  plans[0].plan = SearchPlan::Exact();
  plans[1].plan = SearchPlan::Funnel({{16, uint32_t(kRows + 100)}, {32, 10}});
  std::vector<std::vector<Hit>> out;
  for (SearchOptions& o : plans) {
    o.k = 10;
    o.vector_dims = kDim;
    o.attributes = {"n", "t"};
    for (size_t q = 0; q < 6; ++q) {
      auto hits = db->Search("docs", std::span<const float>(Queries().data() + q * kDim, kDim), o);
      EXPECT_TRUE(hits.ok()) << hits.status().ToString();
      out.push_back(hits.ok() ? *hits : std::vector<Hit>{});
      for (const Hit& h : out.back()) attrs->push_back(h.attributes);
    }
  }
  return out;
}

// Until the saved graph loads, the budget counts what it will take loaded (per-slot state, label
// map), not just its file's size: within a fifth of the loaded graph's bytes.
TEST(OpenInBackground, TheGraphIsCountedAtItsLoadedSizeWhileItLoads) {
  TempDir dir;
  Build(dir.path());
  LoadGate gate("graph");
  auto db = testing::OpenOrDie(dir.path(), Options(&gate, nullptr));
  gate.WaitReached();
  auto before = db->GetMemory();
  ASSERT_TRUE(before.ok());
  gate.Release();
  ASSERT_OK(db->WaitForLoading());
  auto after = db->GetMemory();
  ASSERT_TRUE(after.ok());
  const double estimate = double(before->collections[0].second.graph_bytes);
  const double loaded = double(after->collections[0].second.graph_bytes);
  EXPECT_GT(estimate, 0.8 * loaded) << estimate << " vs " << loaded;
  EXPECT_LT(estimate, 1.25 * loaded) << estimate << " vs " << loaded;
}

TEST(OpenInBackground, SearchesScanWhileTheGraphLoads) {
  TempDir dir;
  Build(dir.path());
  LoadGate gate("graph");
  Log log;
  auto db = testing::OpenOrDie(dir.path(), Options(&gate, &log));
  gate.WaitReached();
  // The graph is not loaded: stage 0 of the default plan scans, and says why.
  SearchStats stats;
  SearchOptions o;
  o.k = 10;
  auto first = db->Search("docs", std::span<const float>(Queries().data(), kDim), o, &stats);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->size(), 10u);
  EXPECT_TRUE(stats.graph_loading);
  ASSERT_FALSE(stats.stages.empty());
  EXPECT_EQ(stats.stages[0].method, "scan");
  auto info = db->DescribeCollection("docs");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->live_rows, uint64_t(kRows - 2));
  EXPECT_EQ(info->index_rows, 0u);
  // A checkpoint leaves the saved graph alone while it loads.
  ASSERT_OK(db->Checkpoint());
  std::vector<std::vector<Value>> attrs_during, attrs_after;
  const auto during = Searches(db.get(), &attrs_during);

  gate.Release();
  ASSERT_OK(db->WaitForLoading());
  ASSERT_OK(db->WaitForIndexing({}));
  EXPECT_FALSE(log.Has("rebuilding"));
  auto after_first = db->Search("docs", std::span<const float>(Queries().data(), kDim), o, &stats);
  ASSERT_TRUE(after_first.ok());
  EXPECT_FALSE(stats.graph_loading);
  EXPECT_EQ(stats.stages[0].method, "hnsw");
  info = db->DescribeCollection("docs");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->index_live_rows, uint64_t(kRows - 2));
  testing::ExpectSameHits(during, Searches(db.get(), &attrs_after));
  EXPECT_EQ(attrs_during, attrs_after);
  // Deleted rows never come back.
  for (const auto& hits : during) {
    for (const Hit& h : hits) EXPECT_TRUE(h.id != Key{int64_t{3}} && h.id != Key{int64_t{40}});
  }
}

TEST(OpenInBackground, PointReadsAndWritesWhileTheRowsLoad) {
  TempDir dir;
  Build(dir.path());
  Record kept;
  {
    auto db = testing::OpenOrDie(dir.path(), Options(nullptr, nullptr));
    auto r = db->Get("docs", Key{int64_t{10}});
    ASSERT_TRUE(r.ok());
    kept = *r;
  }
  LoadGate gate("rows");
  auto db = testing::OpenOrDie(dir.path(), Options(&gate, nullptr));
  gate.WaitReached();  // the graph is in; the ids and attributes are not

  // Point reads go to storage.
  auto r = db->Get("docs", Key{int64_t{10}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->attributes, kept.attributes);
  EXPECT_EQ(r->vector, kept.vector);
  EXPECT_TRUE(db->Get("docs", Key{int64_t{3}}).status().IsNotFound());
  EXPECT_TRUE(db->Get("docs", Key{int64_t{kRows + 5}}).status().IsNotFound());

  // Inserts see the stored ids; upserts replace, deletes remove.
  EXPECT_TRUE(db->Insert("docs", Rows(20, 1, 5)).IsAlreadyExists());
  ASSERT_OK(db->Upsert("docs", Rows(20, 2, 6, /*tag=*/100)));  // ids 20, 21 replaced
  auto del = db->Delete("docs", std::vector<Key>{Key{int64_t{30}}, Key{int64_t{3}}});
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(*del, 1u);  // 3 was deleted before the open
  ASSERT_OK(db->Insert("docs", Rows(kRows, 10, 7)));  // new ids
  ASSERT_TRUE(db->Delete("docs", std::vector<Key>{Key{int64_t{31}}}).ok());
  ASSERT_OK(db->Insert("docs", Rows(31, 1, 8, /*tag=*/200)));  // deleted, then inserted again
  ASSERT_TRUE(db->Delete("docs", std::vector<Key>{Key{int64_t{kRows + 1}}}).ok());  // a new row

  r = db->Get("docs", Key{int64_t{20}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->attributes[0], Value{int64_t{100}});
  EXPECT_TRUE(db->Get("docs", Key{int64_t{30}}).status().IsNotFound());
  EXPECT_TRUE(db->Get("docs", Key{int64_t{kRows + 1}}).status().IsNotFound());
  EXPECT_TRUE(db->Get("docs", Key{int64_t{kRows + 2}}).ok());
  r = db->Get("docs", Key{int64_t{31}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->attributes[0], Value{int64_t{201}});
  const uint64_t live = uint64_t(kRows - 2 - 1 + 10 - 1);
  auto info = db->DescribeCollection("docs");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->live_rows, live);

  FindOptions by_id;
  by_id.ids = std::vector<Key>{Key{int64_t{20}}, Key{int64_t{30}}, Key{int64_t{31}}, Key{int64_t{10}},
                               Key{int64_t{kRows + 2}}};
  by_id.vector_dims = kDim;
  auto found_during = db->Find("docs", by_id);
  ASSERT_TRUE(found_during.ok()) << found_during.status().ToString();
  EXPECT_EQ(found_during->size(), 4u);
  std::vector<std::vector<Value>> attrs_during, attrs_after;
  const auto during = Searches(db.get(), &attrs_during);

  // A filter waits for the attributes, then answers as it will after the load.
  SearchOptions filtered;
  filtered.k = 10;
  filtered.plan = SearchPlan::Exact();
  filtered.filter = Filter::Eq("n", Value{int64_t{100}});
  auto pending = std::async(std::launch::async, [&] {
    return db->Search("docs", std::span<const float>(Queries().data(), kDim), filtered);
  });
  gate.Release();
  auto filtered_during = pending.get();
  ASSERT_TRUE(filtered_during.ok()) << filtered_during.status().ToString();
  ASSERT_OK(db->WaitForLoading());
  ASSERT_OK(db->WaitForIndexing({}));

  testing::ExpectSameHits(during, Searches(db.get(), &attrs_after));
  EXPECT_EQ(attrs_during, attrs_after);
  auto found_after = db->Find("docs", by_id);
  ASSERT_TRUE(found_after.ok());
  ASSERT_EQ(found_after->size(), found_during->size());
  for (size_t i = 0; i < found_after->size(); ++i) {
    EXPECT_EQ((*found_after)[i].id, (*found_during)[i].id);
    EXPECT_EQ((*found_after)[i].attributes, (*found_during)[i].attributes);
    EXPECT_EQ((*found_after)[i].vector, (*found_during)[i].vector);
  }
  // Exactly the rows upserted with tag 100: ids 20 and 21, once each.
  FindOptions tagged;
  tagged.filter = Filter::Eq("n", Value{int64_t{100}});
  auto t = db->Find("docs", tagged);
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->size(), 1u);  // 20 % 5 + 100; 21 has 101
  EXPECT_EQ((*t)[0].id, Key{int64_t{20}});
  ASSERT_EQ(filtered_during->size(), 1u);
  EXPECT_EQ((*filtered_during)[0].id, Key{int64_t{20}});
  FindOptions all;
  auto every = db->Find("docs", all);
  ASSERT_TRUE(every.ok());
  EXPECT_EQ(every->size(), live);
  std::set<std::string> ids;
  for (const Record& rec : *every) ids.insert(KeyToString(rec.id));
  EXPECT_EQ(ids.size(), live);  // no id twice
  EXPECT_TRUE(db->Insert("docs", Rows(21, 1, 9)).IsAlreadyExists());
  info = db->DescribeCollection("docs");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->live_rows, live);
  EXPECT_EQ(info->index_live_rows, live);

  // What was written during the load is durable: the next open sees the same rows.
  ASSERT_OK(db->Close());
  db = testing::OpenOrDie(dir.path(), Options(nullptr, nullptr));
  ASSERT_OK(db->WaitForLoading());
  every = db->Find("docs", all);
  ASSERT_TRUE(every.ok());
  EXPECT_EQ(every->size(), live);
}

TEST(OpenInBackground, CloseWhileLoading) {
  TempDir dir;
  Build(dir.path());
  for (const char* part : {"graph", "rows", "blocks"}) {
    LoadGate gate(part);
    Log log;
    auto db = testing::OpenOrDie(dir.path(), Options(&gate, &log));
    gate.WaitReached();
    ASSERT_OK(db->Upsert("docs", Rows(kRows + 100, 5, 11)));
    auto closing = std::async(std::launch::async, [&] { return db->Close(); });
    gate.Release();
    ASSERT_OK(closing.get());
    db.reset();
    db = testing::OpenOrDie(dir.path(), Options(nullptr, &log));
    ASSERT_OK(db->WaitForLoading());
    ASSERT_OK(db->WaitForIndexing({}));
    EXPECT_FALSE(log.Has("rebuilding")) << part;
    auto info = db->DescribeCollection("docs");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->live_rows, info->index_live_rows) << part;
    ASSERT_OK(db->Close());
  }
}

}  // namespace
}  // namespace mrldb
