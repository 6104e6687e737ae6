// Bad input gets a clear error naming what was wrong and where, and writes nothing.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "mrldb/database.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::TempDir;

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::OpenOrDie(dir_.path());
    CollectionSpec s;
    s.name = "docs";
    s.dim = 32;
    s.granularities = {8, 16, 32};
    s.attributes = {{"title", AttrType::kText}, {"year", AttrType::kInt},
                    {"price", AttrType::kFloat}, {"ok", AttrType::kBool}};
    ASSERT_OK(db_->CreateCollection(s));
    data_ = testing::RandomVectors(100, 32, 9);
    InsertBatch seed;
    seed.Add(Key{"stored"}, Row(99));
    ASSERT_OK(db_->Insert("docs", seed));
  }

  std::span<const float> Row(size_t i) const { return {data_.data() + i * 32, 32}; }

  // A batch of `n` valid rows a0..a{n-1}.
  InsertBatch Valid(size_t n) const {
    InsertBatch b;
    for (size_t i = 0; i < n; ++i) {
      b.Add(Key{"a" + std::to_string(i)}, Row(i),
            {Value{"t"}, Value{int64_t(1)}, Value{1.5}, Value{true}});
    }
    return b;
  }

  // The write failed with `code`, its message contains every one of `parts`, and the collection
  // still holds exactly the one seeded row, now and after reopening.
  void ExpectRejected(const Status& st, Status::Code code, std::vector<std::string> parts) {
    EXPECT_EQ(st.code(), code) << st.ToString();
    for (const auto& p : parts) EXPECT_NE(st.message().find(p), std::string::npos) << st.message();
    ExpectUntouched();
  }

  void ExpectUntouched() {
    for (int round = 0; round < 2; ++round) {
      auto info = db_->DescribeCollection("docs");
      ASSERT_TRUE(info.ok());
      EXPECT_EQ(info->live_rows, 1u);
      EXPECT_EQ(info->allocated_rows, 1u);
      EXPECT_TRUE(db_->Get("docs", Key{"a0"}).status().IsNotFound());
      if (round == 0) {
        ASSERT_OK(db_->Close());
        db_ = testing::OpenOrDie(dir_.path());
      }
    }
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
  std::vector<float> data_;
};

TEST_F(BadInput, WrongDimension) {
  InsertBatch b = Valid(5);
  b.Add(Key{"short"}, Row(5).subspan(0, 31));
  ExpectRejected(db_->Insert("docs", b), Status::Code::kInvalidArgument,
                 {"row 6", "'short'", "31 dimensions", "dimension 32"});
}

TEST_F(BadInput, NanOrInfAnywhereRejectsTheWholeBatch) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    for (size_t where : {size_t{0}, size_t{17}, size_t{31}}) {
      InsertBatch b = Valid(3);
      std::vector<float> v(Row(3).begin(), Row(3).end());
      v[where] = bad;
      b.Add(Key{"last"}, v);  // the last row of the batch is the bad one
      ExpectRejected(db_->Insert("docs", b), Status::Code::kInvalidArgument,
                     {"row 4", "'last'", "dimension " + std::to_string(where), "not finite"});
    }
  }
}

TEST_F(BadInput, EmptyBatch) {
  ExpectRejected(db_->Insert("docs", InsertBatch{}), Status::Code::kInvalidArgument,
                 {"empty batch"});
}

TEST_F(BadInput, UnknownCollection) {
  Status st = db_->Insert("nope", Valid(1));
  EXPECT_TRUE(st.IsNotFound());
  EXPECT_NE(st.message().find("'nope'"), std::string::npos);
  EXPECT_TRUE(db_->Get("nope", Key{"x"}).status().IsNotFound());
  std::vector<float> q(32, 1.0f);
  EXPECT_TRUE(db_->ExactSearch("nope", q).status().IsNotFound());
  EXPECT_TRUE(db_->DropCollection("nope").IsNotFound());
  EXPECT_TRUE(db_->DescribeCollection("nope").status().IsNotFound());
  ExpectUntouched();
}

TEST_F(BadInput, DuplicateIdWithinBatch) {
  InsertBatch b = Valid(4);
  b.Add(Key{"a1"}, Row(10));
  ExpectRejected(db_->Insert("docs", b), Status::Code::kAlreadyExists,
                 {"'a1'", "twice", "rows 2 and 5"});
  ExpectRejected(db_->Upsert("docs", b), Status::Code::kAlreadyExists, {"'a1'", "twice"});
}

TEST_F(BadInput, DuplicateIdAgainstStoredRows) {
  InsertBatch b = Valid(4);
  b.Add(Key{"stored"}, Row(10));
  ExpectRejected(db_->Insert("docs", b), Status::Code::kAlreadyExists,
                 {"row 5", "'stored'", "already exists"});
}

TEST_F(BadInput, IdOfTheWrongType) {
  InsertBatch b = Valid(2);
  b.Add(Key{int64_t{7}}, Row(2));
  ExpectRejected(db_->Insert("docs", b), Status::Code::kInvalidArgument,
                 {"row 3", "BIGINT", "TEXT"});
  EXPECT_TRUE(db_->Get("docs", Key{int64_t{7}}).status().IsInvalidArgument());
  std::vector<Key> ids = {Key{int64_t{7}}};
  EXPECT_TRUE(db_->Delete("docs", ids).status().IsInvalidArgument());
}

TEST_F(BadInput, AttributeOfTheWrongType) {
  InsertBatch b = Valid(2);
  b.Add(Key{"x"}, Row(2), {Value{"t"}, Value{"1999"}, Value{1.0}, Value{true}});
  ExpectRejected(db_->Insert("docs", b), Status::Code::kInvalidArgument,
                 {"row 3", "'year'", "INT", "'1999'"});
  InsertBatch c = Valid(1);
  c.Add(Key{"y"}, Row(2), {Value{"t"}, Value{int64_t{1}}, Value{1.0}, Value{int64_t{1}}});
  ExpectRejected(db_->Insert("docs", c), Status::Code::kInvalidArgument, {"'ok'", "BOOL"});
  InsertBatch d = Valid(1);
  d.Add(Key{"z"}, Row(2), {Value{"t"}, Value{int64_t{1}}, Value{std::nan("")}, Value{true}});
  ExpectRejected(db_->Insert("docs", d), Status::Code::kInvalidArgument, {"'price'", "finite"});
}

TEST_F(BadInput, WrongAttributeCount) {
  InsertBatch b = Valid(1);
  b.Add(Key{"x"}, Row(2), {Value{"only one"}});
  ExpectRejected(db_->Insert("docs", b), Status::Code::kInvalidArgument,
                 {"row 2", "1 attribute values", "4 attribute columns"});
}

TEST_F(BadInput, IntegersAreAcceptedForFloatColumns) {
  InsertBatch b;
  b.Add(Key{"i"}, Row(1), {Value{}, Value{}, Value{int64_t{3}}, Value{}});
  ASSERT_OK(db_->Insert("docs", b));
  EXPECT_EQ(db_->Get("docs", Key{"i"})->attributes[2], Value{3.0});
}

TEST_F(BadInput, BadSearches) {
  std::vector<float> q(Row(0).begin(), Row(0).end());
  ExactSearchOptions o;
  o.k = 0;
  EXPECT_TRUE(db_->ExactSearch("docs", q, o).status().IsInvalidArgument());
  o.k = 10;
  o.dims = 33;
  EXPECT_NE(db_->ExactSearch("docs", q, o).status().message().find("33"), std::string::npos);
  o.dims = 0;
  std::vector<float> wrong(31, 1.0f);
  EXPECT_TRUE(db_->ExactSearch("docs", wrong, o).status().IsInvalidArgument());
  q[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(db_->ExactSearch("docs", q, o).status().message().find("dimension 3"),
            std::string::npos);
  std::vector<float> zero(32, 0.0f);
  EXPECT_NE(db_->ExactSearch("docs", zero, o).status().message().find("zero norm"),
            std::string::npos);
  o.attributes = {"nope"};
  EXPECT_NE(db_->ExactSearch("docs", Row(0), o).status().message().find("'nope'"),
            std::string::npos);
  EXPECT_TRUE(db_->Get("docs", Key{"stored"}, 40).status().IsInvalidArgument());
}

TEST_F(BadInput, InvalidUtf8InATextIdOrValueIsRejectedNamingTheRowAndByte) {
  InsertBatch id = Valid(2);
  id.Add(Key{std::string("ab\xff", 3)}, Row(2));  // the id is not printed: it is not text
  ExpectRejected(db_->Insert("docs", id), Status::Code::kInvalidArgument,
                 {"row 3: the id is not valid UTF-8 (byte 3 of 3: 0xff)"});
  // Overlong forms, surrogates and a sequence cut short are invalid too; upserts are checked.
  for (const std::string& bad : {std::string("\xc0\xaf"), std::string("x\xed\xa0\x80"),
                                std::string("\xe2\x82")}) {
    InsertBatch b = Valid(1);
    b.Add(Key{"x"}, Row(2), {Value{bad}, Value{}, Value{}, Value{}});
    ExpectRejected(db_->Upsert("docs", b), Status::Code::kInvalidArgument,
                   {"row 2 (id 'x'): column 'title': the value is not valid UTF-8"});
  }
  InsertBatch good;  // valid multi-byte text is stored as it is
  good.Add(Key{"\xc3\xa9t\xc3\xa9 \xf0\x9f\x99\x82"}, Row(3),
           {Value{"na\xc3\xafve"}, Value{}, Value{}, Value{}});
  ASSERT_OK(db_->Insert("docs", good));
  EXPECT_EQ(db_->Get("docs", Key{"\xc3\xa9t\xc3\xa9 \xf0\x9f\x99\x82"})->attributes[0],
            Value{"na\xc3\xafve"});
}

TEST_F(BadInput, ZeroVectorInACosineCollection) {
  InsertBatch b = Valid(2);
  b.Add(Key{"x"}, std::vector<float>(32, 0.0f));
  ExpectRejected(db_->Insert("docs", b), Status::Code::kInvalidArgument,
                 {"row 3 (id 'x'): a zero vector has no cosine direction"});
  ExpectRejected(db_->Upsert("docs", b), Status::Code::kInvalidArgument, {"zero vector"});
  // Negative zeros are zero; a vector with one non-zero value is fine; l2 takes zero vectors.
  InsertBatch neg;
  neg.Add(Key{"x"}, std::vector<float>(32, -0.0f));
  ExpectRejected(db_->Insert("docs", neg), Status::Code::kInvalidArgument, {"zero vector"});
  CollectionSpec l2;
  l2.name = "flat";
  l2.dim = 4;
  l2.metric = Metric::kL2;
  ASSERT_OK(db_->CreateCollection(l2));
  InsertBatch z;
  z.Add(Key{"z"}, std::vector<float>(4, 0.0f));
  ASSERT_OK(db_->Insert("flat", z));
}

TEST_F(BadInput, PlanEfAboveTheCapIsRejected) {
  SearchOptions o;
  for (SearchPlan plan : {SearchPlan::Prefix(8, 4294967295u), SearchPlan::Prefix(16, 1000001),
                          SearchPlan::Funnel({{8, 100}, {32, 0}}, 1000001)}) {
    o.plan = plan;
    Status st = db_->Search("docs", Row(0), o).status();
    EXPECT_TRUE(st.IsInvalidArgument()) << plan.ToString();
    EXPECT_NE(st.message().find("outside 0..1000000"), std::string::npos) << st.message();
  }
  o.plan = SearchPlan::Prefix(8, 1000000);
  ASSERT_OK(db_->Search("docs", Row(0), o).status());
}

struct SpecCase {
  const char* what;
  CollectionSpec spec;
  const char* message;
};

TEST(BadSpec, InvalidSpecsAreRejectedWithTheReason) {
  auto base = [] {
    CollectionSpec s;
    s.name = "c";
    s.dim = 64;
    return s;
  };
  std::vector<SpecCase> cases;
  auto add = [&](const char* what, auto mutate, const char* message) {
    CollectionSpec s = base();
    mutate(s);
    cases.push_back({what, s, message});
  };
  add("not increasing", [](CollectionSpec& s) { s.granularities = {16, 8, 64}; },
      "strictly increasing");
  add("repeated", [](CollectionSpec& s) { s.granularities = {16, 16, 64}; }, "strictly increasing");
  add("not ending at D", [](CollectionSpec& s) { s.granularities = {16, 32}; },
      "must end at the dimension 64");
  add("beyond D", [](CollectionSpec& s) { s.granularities = {16, 128}; }, "must end");
  add("zero step", [](CollectionSpec& s) { s.granularities = {0, 64}; }, "granularity 0");
  add("zero dim", [](CollectionSpec& s) { s.dim = 0; }, "dimension 0");
  add("huge dim", [](CollectionSpec& s) { s.dim = 70000; }, "outside 1..65536");
  add("index_dim off ladder", [](CollectionSpec& s) { s.index_dim = 48; }, "index_dim 48");
  add("bad name", [](CollectionSpec& s) { s.name = "1abc"; }, "invalid collection name");
  add("empty name", [](CollectionSpec& s) { s.name = ""; }, "invalid collection name");
  add("dup column", [](CollectionSpec& s) { s.attributes = {{"a", AttrType::kInt}, {"A", AttrType::kText}}; },
      "defined twice");
  add("column named like id", [](CollectionSpec& s) { s.attributes = {{"id", AttrType::kInt}}; },
      "defined twice");
  add("m too small", [](CollectionSpec& s) { s.hnsw.m = 1; }, "m = 1");
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path());
  for (auto& c : cases) {
    Status st = db->CreateCollection(c.spec);
    EXPECT_TRUE(st.IsInvalidArgument()) << c.what << ": " << st.ToString();
    EXPECT_NE(st.message().find(c.message), std::string::npos) << c.what << ": " << st.message();
  }
  EXPECT_TRUE(db->ListCollections().empty());
  ASSERT_OK(db->CreateCollection(base()));
  EXPECT_TRUE(db->CreateCollection(base()).IsAlreadyExists());
}

}  // namespace
}  // namespace mrldb
