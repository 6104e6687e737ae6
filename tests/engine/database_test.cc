#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "mrldb/database.h"
#include "storage/coding.h"
#include "storage/key_format.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::TempDir;

CollectionSpec DocsSpec() {
  CollectionSpec s;
  s.name = "docs";
  s.dim = 48;
  s.granularities = {16, 32, 48};
  s.metric = Metric::kCosine;
  s.attributes = {{"title", AttrType::kText}, {"year", AttrType::kInt},
                  {"score", AttrType::kFloat}, {"ok", AttrType::kBool}};
  return s;
}

InsertBatch DocsBatch(size_t first, size_t n, const std::vector<float>& data) {
  InsertBatch b;
  for (size_t i = first; i < first + n; ++i) {
    b.Add(Key{"doc" + std::to_string(i)}, std::span<const float>(data.data() + i * 48, 48),
          {Value{"title " + std::to_string(i)}, Value{int64_t(2000 + i)}, Value{i * 0.5},
           i % 3 == 0 ? Value{} : Value{i % 2 == 0}});
  }
  return b;
}

TEST(Database, CatalogPersistsAcrossReopen) {
  TempDir dir;
  {
    auto db = testing::OpenOrDie(dir.path());
    ASSERT_OK(db->CreateCollection(DocsSpec()));
    CollectionSpec other;
    other.name = "other";
    other.dim = 100;
    other.metric = Metric::kL2;
    other.id_type = IdType::kBigint;
    other.hnsw.m = 32;
    ASSERT_OK(db->CreateCollection(other));
    EXPECT_EQ(db->ListCollections(), (std::vector<std::string>{"docs", "other"}));
  }
  auto db = testing::OpenOrDie(dir.path());
  EXPECT_EQ(db->ListCollections(), (std::vector<std::string>{"docs", "other"}));
  auto info = db->DescribeCollection("other");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->spec.dim, 100u);
  EXPECT_EQ(info->spec.granularities, (std::vector<uint32_t>{16, 32, 64, 100}));
  EXPECT_EQ(info->spec.index_dim, 64u);
  EXPECT_EQ(info->spec.metric, Metric::kL2);
  EXPECT_EQ(info->spec.id_type, IdType::kBigint);
  EXPECT_EQ(info->spec.hnsw.m, 32u);
  auto docs = db->DescribeCollection("docs");
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(docs->spec.attributes.size(), 4u);
  EXPECT_EQ(docs->spec.attributes[2].name, "score");
  EXPECT_EQ(docs->spec.index_dim, 48u);  // the largest granularity <= 64
}

TEST(Database, RowsVectorsAndAttributesPersistAcrossReopen) {
  TempDir dir;
  auto data = testing::RandomVectors(300, 48, 1);
  {
    auto db = testing::OpenOrDie(dir.path());
    ASSERT_OK(db->CreateCollection(DocsSpec()));
    ASSERT_OK(db->Insert("docs", DocsBatch(0, 200, data)));
    ASSERT_OK(db->Insert("docs", DocsBatch(200, 100, data)));
    std::vector<Key> gone = {Key{"doc7"}};
    ASSERT_EQ(*db->Delete("docs", gone), 1u);
  }
  for (int round = 0; round < 2; ++round) {  // reopen twice: loading must not change anything
    auto db = testing::OpenOrDie(dir.path());
    auto info = db->DescribeCollection("docs");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->live_rows, 299u);
    EXPECT_EQ(db->Get("docs", Key{"doc7"}).status().code(), Status::Code::kNotFound);
    for (size_t i : {0, 1, 2, 150, 299}) {
      auto r = db->Get("docs", Key{"doc" + std::to_string(i)});
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(r->vector.size(), 48u);
      for (int d = 0; d < 48; ++d) EXPECT_EQ(r->vector[d], data[i * 48 + d]);
      EXPECT_EQ(r->attributes[0], Value{"title " + std::to_string(i)});
      EXPECT_EQ(r->attributes[1], Value{int64_t(2000 + i)});
      EXPECT_EQ(r->attributes[2], Value{i * 0.5});
      EXPECT_EQ(r->attributes[3], i % 3 == 0 ? Value{} : Value{i % 2 == 0});
    }
    auto prefix = db->Get("docs", Key{"doc5"}, 16);
    ASSERT_TRUE(prefix.ok());
    EXPECT_EQ(prefix->vector, std::vector<float>(data.begin() + 5 * 48, data.begin() + 5 * 48 + 16));
  }
}

TEST(Database, UpsertReplacesAndInsertRefusesExisting) {
  TempDir dir;
  auto data = testing::RandomVectors(20, 48, 2);
  auto db = testing::OpenOrDie(dir.path());
  ASSERT_OK(db->CreateCollection(DocsSpec()));
  ASSERT_OK(db->Insert("docs", DocsBatch(0, 10, data)));
  InsertBatch again;
  again.Add(Key{"doc3"}, std::span<const float>(data.data() + 15 * 48, 48),
            {Value{"new"}, Value{}, Value{}, Value{}});
  Status st = db->Insert("docs", again);
  EXPECT_TRUE(st.IsAlreadyExists()) << st.ToString();
  EXPECT_NE(st.message().find("doc3"), std::string::npos) << st.message();
  ASSERT_OK(db->Upsert("docs", again));
  auto check = [&](Database& d) {
    auto r = d.Get("docs", Key{"doc3"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->attributes[0], Value{"new"});
    EXPECT_EQ(r->attributes[1], Value{});
    EXPECT_EQ(r->vector[0], data[15 * 48]);
    EXPECT_EQ(d.DescribeCollection("docs")->live_rows, 10u);
    // The replaced version never comes back from a search.
    ExactSearchOptions o;
    o.k = 20;
    auto hits = d.ExactSearch("docs", std::span<const float>(data.data() + 3 * 48, 48), o);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ(hits->size(), 10u);
    int seen = 0;
    for (const Hit& h : *hits) seen += h.id == Key{"doc3"};
    EXPECT_EQ(seen, 1);
  };
  check(*db);
  ASSERT_OK(db->Close());
  auto reopened = testing::OpenOrDie(dir.path());
  check(*reopened);
}

TEST(Database, DeleteCountsOnlyStoredIdsAndIsDurable) {
  TempDir dir;
  auto data = testing::RandomVectors(10, 48, 3);
  {
    auto db = testing::OpenOrDie(dir.path());
    ASSERT_OK(db->CreateCollection(DocsSpec()));
    ASSERT_OK(db->Insert("docs", DocsBatch(0, 10, data)));
    std::vector<Key> ids = {Key{"doc1"}, Key{"nope"}, Key{"doc1"}, Key{"doc2"}};
    auto n = db->Delete("docs", ids);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 2u);
    EXPECT_EQ(*db->Delete("docs", ids), 0u);
    // A deleted id can be inserted again.
    ASSERT_OK(db->Insert("docs", DocsBatch(1, 1, data)));
  }
  auto db = testing::OpenOrDie(dir.path());
  EXPECT_EQ(db->DescribeCollection("docs")->live_rows, 9u);
  EXPECT_TRUE(db->Get("docs", Key{"doc1"}).ok());
  EXPECT_TRUE(db->Get("docs", Key{"doc2"}).status().IsNotFound());
}

TEST(Database, DropCollectionRemovesEverything) {
  TempDir dir;
  auto data = testing::RandomVectors(10, 48, 4);
  {
    auto db = testing::OpenOrDie(dir.path());
    ASSERT_OK(db->CreateCollection(DocsSpec()));
    ASSERT_OK(db->Insert("docs", DocsBatch(0, 10, data)));
    ASSERT_OK(db->DropCollection("docs"));
    EXPECT_TRUE(db->DropCollection("docs").IsNotFound());
    EXPECT_TRUE(db->DescribeCollection("docs").status().IsNotFound());
    // Re-creating the name starts empty: the old rows do not resurface.
    ASSERT_OK(db->CreateCollection(DocsSpec()));
    EXPECT_EQ(db->DescribeCollection("docs")->live_rows, 0u);
  }
  auto db = testing::OpenOrDie(dir.path());
  EXPECT_EQ(db->DescribeCollection("docs")->live_rows, 0u);
  EXPECT_TRUE(db->Get("docs", Key{"doc1"}).status().IsNotFound());
}

TEST(Database, HalfPrecisionInputIsWidened) {
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x3555), 0.333251953125f);
  EXPECT_EQ(HalfToFloat(0x0001), 5.9604644775390625e-08f);  // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7c00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));

  TempDir dir;
  auto db = testing::OpenOrDie(dir.path());
  CollectionSpec s;
  s.name = "h";
  s.dim = 4;
  ASSERT_OK(db->CreateCollection(s));
  InsertBatch b;
  std::vector<uint16_t> half = {0x3c00, 0xc000, 0x3555, 0x0001};
  b.AddHalf(Key{"a"}, half);
  ASSERT_OK(db->Insert("h", b));
  auto r = db->Get("h", Key{"a"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->vector, (std::vector<float>{1.0f, -2.0f, 0.333251953125f, 5.9604644775390625e-08f}));
  InsertBatch nan;
  std::vector<uint16_t> bad = {0x3c00, 0x7e00, 0, 0};
  nan.AddHalf(Key{"b"}, bad);
  EXPECT_TRUE(db->Insert("h", nan).IsInvalidArgument());
}

// Rewrites the version record with RocksDB directly.
void WriteFormatVersion(const std::string& path, uint32_t version) {
  rocksdb::DB* raw = nullptr;
  rocksdb::Options o;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {storage::kCfDefault, {}}, {storage::kCfRows, {}}, {storage::kCfVectors, {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> hs;
  ASSERT_TRUE(rocksdb::DB::Open(o, path, cfs, &hs, &raw).ok());
  std::string v;
  storage::PutFixed32(&v, version);
  ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), hs[0], storage::kFormatKey, v).ok());
  for (auto* h : hs) ASSERT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
  delete raw;
}

// The format record as RocksDB holds it.
uint32_t ReadFormatVersion(const std::string& path) {
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {storage::kCfDefault, {}}, {storage::kCfRows, {}}, {storage::kCfVectors, {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> hs;
  EXPECT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::Options(), path, cfs, &hs, &raw).ok());
  if (raw == nullptr) return 0;
  std::string v;
  EXPECT_TRUE(raw->Get(rocksdb::ReadOptions(), hs[0], storage::kFormatKey, &v).ok());
  for (auto* h : hs) EXPECT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
  delete raw;
  return v.size() == 4 ? storage::DecodeFixed32(v.data()) : 0;
}

// Format 3 only adds vacuumed row groups: a format 2 database is read as it is, and becomes
// format 3 when a VACUUM first rewrites a group (an older build then refuses it).
TEST(Database, AFormat2DatabaseIsReadAndBecomesFormat3AtItsFirstVacuum) {
  TempDir dir;
  const auto data = testing::RandomVectors(300, 48, 4);
  {
    auto db = testing::OpenOrDie(dir.path());
    ASSERT_OK(db->CreateCollection(DocsSpec()));
    ASSERT_OK(db->Insert("docs", DocsBatch(0, 300, data)));
  }
  EXPECT_EQ(ReadFormatVersion(dir.path()), storage::kFormatVersion);
  WriteFormatVersion(dir.path(), 2);
  {
    auto db = testing::OpenOrDie(dir.path());
    auto r = db->Get("docs", Key{"doc7"});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->vector, std::vector<float>(data.begin() + 7 * 48, data.begin() + 8 * 48));
    ASSERT_TRUE(db->Vacuum("docs").ok());  // nothing dead: nothing rewritten
  }
  EXPECT_EQ(ReadFormatVersion(dir.path()), 2u);
  {
    auto db = testing::OpenOrDie(dir.path());
    ASSERT_TRUE(db->Delete("docs", std::vector<Key>{Key{"doc3"}}).ok());
    auto v = db->Vacuum("docs");
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_GT(v->groups_rewritten, 0u);
  }
  EXPECT_EQ(ReadFormatVersion(dir.path()), 3u);
  auto db = testing::OpenOrDie(dir.path());
  EXPECT_FALSE(db->Get("docs", Key{"doc3"}).ok());
  EXPECT_EQ(db->Get("docs", Key{"doc4"})->vector,
            std::vector<float>(data.begin() + 4 * 48, data.begin() + 5 * 48));
}

TEST(Database, FormatVersionMismatchIsAClearError) {
  TempDir dir;
  {
    auto db = testing::OpenOrDie(dir.path());
    ASSERT_OK(db->CreateCollection(DocsSpec()));
  }
  WriteFormatVersion(dir.path(), storage::kFormatVersion + 1);  // as a future format would
  auto db = Database::Open(dir.path());
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::kVersionMismatch);
  EXPECT_NE(db.status().message().find("this build reads formats 2 and 3"), std::string::npos)
      << db.status().message();
}

TEST(Database, OlderFormatIsRefusedWithTheMigration) {
  TempDir dir;
  {
    auto db = testing::OpenOrDie(dir.path());
    ASSERT_OK(db->CreateCollection(DocsSpec()));
  }
  // A database of format 1 (per-batch segments without norms), as the previous build wrote.
  WriteFormatVersion(dir.path(), 1);
  auto db = Database::Open(dir.path());
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::kVersionMismatch);
  const std::string& m = db.status().message();
  EXPECT_NE(m.find("written in storage format 1, this build reads formats 2 and 3"), std::string::npos) << m;
  EXPECT_NE(m.find("COPY each collection out"), std::string::npos) << m;
}

TEST(Database, MemoryBudgetTextIsParsedOrAClearError) {
  EXPECT_EQ(*ParseMemoryBudget("8G"), uint64_t{8} << 30);
  EXPECT_EQ(*ParseMemoryBudget("512m"), uint64_t{512} << 20);
  EXPECT_EQ(*ParseMemoryBudget("64K"), uint64_t{64} << 10);
  EXPECT_EQ(*ParseMemoryBudget("2T"), uint64_t{2} << 40);
  EXPECT_EQ(*ParseMemoryBudget("1048576"), uint64_t{1} << 20);
  for (const auto& [text, why] : std::vector<std::pair<std::string, std::string>>{
           {"0", "': 0 ("}, {"0G", "': 0 ("}, {"-1G", "negative"}, {"", "not a number"},
           {"eight", "not a number"}, {"8X", "unknown unit 'X'"}, {"8GB", "unknown unit 'GB'"},
           {"99999999999999999999", "too large"}, {"20000000T", "too large"}}) {
    auto r = ParseMemoryBudget(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_TRUE(r.status().IsInvalidArgument());
    EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("memory budget '" + text + "'"), std::string::npos);
  }
}

TEST(Database, OpenOptions) {
  TempDir dir;
  DatabaseOptions no_create;
  no_create.create_if_missing = false;
  EXPECT_TRUE(Database::Open(dir.path(), no_create).status().IsNotFound());
  { auto db = testing::OpenOrDie(dir.path()); }
  DatabaseOptions exclusive;
  exclusive.error_if_exists = true;
  EXPECT_TRUE(Database::Open(dir.path(), exclusive).status().IsAlreadyExists());
  // A second open of a database in use fails cleanly (RocksDB's lock), never corrupts it.
  auto first = testing::OpenOrDie(dir.path());
  auto second = Database::Open(dir.path());
  EXPECT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kIOError) << second.status().ToString();
  // It says what holds the database, not RocksDB's "While lock file" (another process: the
  // shell test ErrorsSayAnotherProcessHoldsTheDatabase).
  EXPECT_EQ(second.status().message(),
            "database '" + dir.path() + "' is already open in this process (one Database per "
            "directory: share the one that holds it)");
}

TEST(Database, ConcurrentReadersSeeWholeBatches) {
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path());
  CollectionSpec s;
  s.name = "c";
  s.dim = 16;
  s.id_type = IdType::kBigint;
  s.metric = Metric::kL2;
  ASSERT_OK(db->CreateCollection(s));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    std::vector<float> q(16, 0.0f);
    ExactSearchOptions o;
    o.k = 100000;
    while (!stop) {
      auto hits = db->ExactSearch("c", q, o);
      if (!hits.ok() || hits->size() % 50 != 0) ++bad;  // batches are 50 rows
    }
  });
  auto data = testing::RandomVectors(50 * 40, 16, 5);
  for (int b = 0; b < 40; ++b) {
    InsertBatch batch;
    for (int i = 0; i < 50; ++i) {
      batch.Add(Key{int64_t(b * 50 + i)},
                std::span<const float>(data.data() + (b * 50 + i) * 16, 16));
    }
    ASSERT_OK(db->Insert("c", batch));
  }
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(db->DescribeCollection("c")->live_rows, 2000u);
}

}  // namespace
}  // namespace mrldb
