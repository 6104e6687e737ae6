// Hostile input through the query layer: invalid UTF-8 at every entry (literals, parameters,
// UPDATE, COPY csv/jsonl/ids files), zero vectors in a cosine collection, parameters the
// statement does not use, plan numbers out of range (errors at the number), COPY of a missing
// vectors file, and LIMIT 0.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "mrldb/session.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

class SessionInput : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::OpenOrDie(dir_.path());
    fs::create_directories(files_.path());
    SessionOptions o;
    o.copy_dir = files_.path();
    session_ = std::make_unique<Session>(db_.get(), o);
    ASSERT_TRUE(Run("CREATE COLLECTION t (id TEXT PRIMARY KEY, embedding VECTOR(2), tag TEXT)").ok());
    ASSERT_TRUE(Run("INSERT INTO t VALUES ('a', [1, 0], 'x')").ok());
  }
  Result<ResultSet> Run(std::string_view sql, std::vector<Param> params = {}) {
    return session_->Execute(sql, params);
  }
  // The statement fails and its message contains `part`.
  void ExpectError(std::string_view sql, const std::string& part, std::vector<Param> params = {}) {
    auto r = Run(sql, std::move(params));
    ASSERT_FALSE(r.ok()) << sql;
    EXPECT_NE(r.status().message().find(part), std::string::npos)
        << sql << "\n  message: " << r.status().message();
  }
  void File(const std::string& name, std::string_view bytes) {
    std::ofstream f(files_.path() + "/" + name, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  uint64_t Rows() { return db_->DescribeCollection("t")->live_rows; }

  TempDir dir_, files_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Session> session_;
};

TEST_F(SessionInput, InvalidUtf8IsRefusedAtEveryEntry) {
  const std::string bad = "b\xff";
  ExpectError("INSERT INTO t VALUES ('" + bad + "', [0, 1], 'y')",
              "row 1: the id is not valid UTF-8 (byte 2 of 2: 0xff)");
  ExpectError("INSERT INTO t VALUES ('b', [0, 1], 'y'), ('c', [0, 1], 'z\xc0\xaf')",
              "row 2 (id 'c'): column 'tag': the value is not valid UTF-8 (byte 2 of 3: 0xc0)");
  ExpectError("INSERT INTO t VALUES ($1, [0, 1], $2)", "the id is not valid UTF-8",
              {Param{bad}, Param{std::string("y")}});
  ExpectError("INSERT INTO t VALUES ('b', $1, $2)", "column 'tag': the value is not valid UTF-8",
              {Param{std::vector<float>{0, 1}}, Param{bad}});
  ExpectError("UPDATE t SET tag = $1 WHERE id = 'a'", "column 'tag': the value is not valid UTF-8",
              {Param{bad}});
  // COPY: the reader names the file, line and column.
  File("bad.csv", "id,embedding,tag\nb,\"[0,1]\",ok\nc,\"[0,1]\",n\xe2\x82o\n");
  ExpectError("COPY t FROM 'bad.csv'",
              "line 3, column 'tag': the TEXT value is not valid UTF-8 (byte 2 of 4: 0xe2)");
  File("badid.csv", "id,embedding,tag\n\xed\xa0\x80,\"[0,1]\",ok\n");
  ExpectError("COPY t FROM 'badid.csv'", "line 2, column 'id': the TEXT id is not valid UTF-8");
  File("bad.jsonl", "{\"id\": \"b\", \"embedding\": [0, 1], \"tag\": \"\xff\"}\n");
  ExpectError("COPY t FROM 'bad.jsonl'", "line 1");
  File("v.fvecs", std::string("\x02\x00\x00\x00", 4) + std::string("\x00\x00\x80\x3f", 4) +
                      std::string(4, '\0'));
  File("v.ids.txt", "\xff\n");
  ExpectError("COPY t FROM 'v.fvecs'", "line 1: the TEXT id is not valid UTF-8");
  EXPECT_EQ(Rows(), 1u);

  // Valid UTF-8 goes in and survives a jsonl round trip (the export used to be unreadable).
  ASSERT_TRUE(Run("INSERT INTO t VALUES ('\xc3\xa9', [0, 1], 'na\xc3\xafve \xf0\x9f\x99\x82')").ok());
  ASSERT_TRUE(Run("COPY t TO 'out.jsonl'").ok());
  ASSERT_TRUE(Run("DELETE FROM t").ok());
  auto back = Run("COPY t FROM 'out.jsonl'");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  auto r = Run("SELECT tag FROM t WHERE id = '\xc3\xa9'");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(std::get<std::string>(r->rows[0][0]), "na\xc3\xafve \xf0\x9f\x99\x82");
}

TEST_F(SessionInput, ZeroVectorIsRefusedInACosineCollection) {
  ExpectError("INSERT INTO t VALUES ('b', [0, 1], NULL), ('x', [0, 0], NULL)",
              "row 2 (id 'x'): a zero vector has no cosine direction");
  ExpectError("INSERT INTO t VALUES ('x', $1, NULL)", "zero vector", {Param{std::vector<float>{0, -0.0f}}});
  ExpectError("UPDATE t SET embedding = [0, 0]", "row 1 (id 'a'): a zero vector");
  File("zero.csv", "id,embedding,tag\nb,\"[0,1]\",\nz,\"[0,0]\",\n");
  ExpectError("COPY t FROM 'zero.csv'", "row 2 (id 'z'): a zero vector has no cosine direction");
  EXPECT_EQ(Rows(), 1u);
  ASSERT_TRUE(Run("CREATE COLLECTION e (id BIGINT PRIMARY KEY, embedding VECTOR(2) METRIC L2)").ok());
  EXPECT_TRUE(Run("INSERT INTO e VALUES (1, [0, 0])").ok());  // l2 and ip have no such problem
}

TEST_F(SessionInput, ParametersTheStatementDoesNotUseAreAnError) {
  ExpectError("SELECT id FROM t", "parameter $1 is given but the statement uses no parameters",
              {Param{int64_t{1}}});
  ExpectError("SELECT id FROM t WHERE tag = $1", "parameter $2 is given but not used (the statement uses $1)",
              {Param{std::string("x")}, Param{std::string("y")}});
  ExpectError("SELECT id FROM t WHERE tag = $2", "parameter $1 is given but not used (the statement uses $2)",
              {Param{std::string("x")}, Param{std::string("y")}});
  ExpectError("SELECT id FROM t WHERE tag = $2", "parameter $2 is not bound",
              {Param{std::string("x")}});
  // Every use counts, repeated ones once, inside EXPLAIN too.
  EXPECT_TRUE(Run("SELECT id FROM t WHERE tag = $1 OR id = $1 OR id = $2",
                  {Param{std::string("x")}, Param{std::string("a")}}).ok());
  EXPECT_TRUE(Run("EXPLAIN SELECT id FROM t WHERE tag = $2 ORDER BY embedding <=> $1",
                  {Param{std::vector<float>{1, 0}}, Param{std::string("x")}}).ok());
}

TEST_F(SessionInput, PlanNumbersOutOfRangeAreErrorsAtTheNumber) {
  struct Case {
    std::string sql;
    std::string message;
    std::string at;  // the text the error's column points at
  };
  const std::string q = "SELECT id FROM t ORDER BY embedding <=> [1, 0] ";
  const Case cases[] = {
      {q + "USING EXACT AT 0", "EXACT AT 0: a prefix dimension must be in 1..65536", "0"},
      {q + "USING PREFIX 0", "PREFIX 0: a prefix dimension must be in 1..65536", "0"},
      {q + "USING PREFIX 70000", "PREFIX 70000: a prefix dimension must be in 1..65536", "70000"},
      {q + "USING PREFIX 2 EF 4294967295", "EF 4294967295 is outside 1..1000000", "4294967295"},
      {q + "USING PREFIX 2 EF 0", "EF 0 is outside 1..1000000", "0"},
      {q + "USING FUNNEL (1 KEEP 10, 2) EF 1000001", "EF 1000001 is outside 1..1000000", "1000001"},
      {q + "USING FUNNEL (1 KEEP 0, 2)", "funnel stage 1 keeps 0: KEEP must be in 1..1000000", "1 KEEP"},
      {q + "USING FUNNEL (0 KEEP 10, 2)", "funnel stage 1 at 0 dims", "0 KEEP"},
      {"ALTER COLLECTION t SET (plan = PREFIX 2 EF 2000000)", "EF 2000000 is outside 1..1000000",
       "2000000"},
  };
  for (const Case& c : cases) {
    auto r = Run(c.sql);
    ASSERT_FALSE(r.ok()) << c.sql;
    EXPECT_NE(r.status().message().find(c.message), std::string::npos)
        << c.sql << "\n  message: " << r.status().message();
    ASSERT_EQ(r.status().line(), 1u) << c.sql;
    EXPECT_EQ(c.sql.substr(r.status().column() - 1, c.at.size()), c.at) << c.sql;
  }
  // The caps themselves are accepted, as SET ef's.
  EXPECT_TRUE(Run(q + "USING PREFIX 2 EF 1000000").ok());
  EXPECT_TRUE(Run("SET ef = 1000000").ok());
  EXPECT_FALSE(Run("SET ef = 1000001").ok());
}

TEST_F(SessionInput, CopyOfAMissingVectorsFileNamesThatFile) {
  for (const char* file : {"nope.npy", "nope.fvecs"}) {
    const std::string name = file;
    auto r = Run("COPY t FROM '" + name + "'");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kIOError) << r.status().ToString();
    EXPECT_NE(r.status().message().find(name + "': No such file"), std::string::npos)
        << r.status().message();
    EXPECT_EQ(r.status().message().find(".ids.txt"), std::string::npos) << r.status().message();
  }
  // With the vectors file there, a missing ids file is still named.
  File("v.fvecs", std::string("\x02\x00\x00\x00", 4) + std::string("\x00\x00\x80\x3f", 4) +
                      std::string(4, '\0'));
  ExpectError("COPY t FROM 'v.fvecs'", "WITH (ids 'file') (looked for");
}

}  // namespace
}  // namespace mrldb
