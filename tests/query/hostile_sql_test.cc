// Statements a hostile client sends to exhaust the server's stack: flat chains of tens of
// thousands of OR / AND terms (the parser's nesting limit does not bound them), through SELECT,
// EXPLAIN, DELETE and a vector search's filter; and filters nested too deeply through the API.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mrldb/session.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

class HostileSqlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::OpenOrDie(dir_.path());
    session_ = std::make_unique<Session>(db_.get(), SessionOptions{});
    ASSERT_TRUE(Run("CREATE COLLECTION t (id BIGINT PRIMARY KEY, embedding VECTOR(4) METRIC L2, "
                    "n INT)").ok());
    ASSERT_TRUE(Run("INSERT INTO t (id, embedding, n) VALUES (0, [1, 0, 0, 0], 0), "
                    "(1, [0, 1, 0, 0], 1), (2, [0, 0, 1, 0], 2), (3, [0, 0, 0, 1], 3)").ok());
  }
  Result<ResultSet> Run(std::string_view sql) { return session_->Execute(sql, {}); }

  // "id = 0 OR id = 1 OR ... " with `terms` terms; the terms past 3 match nothing.
  static std::string Chain(size_t terms, std::string_view op) {
    std::string s;
    s.reserve(terms * 16);
    for (size_t i = 0; i < terms; ++i) {
      if (i) fmt::format_to(std::back_inserter(s), " {} ", op);
      fmt::format_to(std::back_inserter(s), "id {} {}", op == "OR" ? "=" : "!=", i + 2);
    }
    return s;
  }

  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Session> session_;
};

constexpr size_t kTerms = 200000;  // ~2.6 MB of SQL: far past any stack a recursive walk had

TEST_F(HostileSqlTest, LongOrChainIsAnsweredNotACrash) {
  auto r = Run("SELECT id FROM t WHERE " + Chain(kTerms, "OR"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows.size(), 2u);  // ids 2 and 3
}

TEST_F(HostileSqlTest, LongAndChainInASearchFilterAndExplain) {
  // id != 2 AND id != 3 AND ...: leaves ids 0 and 1.
  const std::string where = Chain(kTerms, "AND");
  auto r = Run("SELECT id FROM t WHERE " + where + " ORDER BY embedding <-> [1, 0, 0, 0] LIMIT 4");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 2u);
  auto e = Run("EXPLAIN SELECT id FROM t WHERE " + where +
               " ORDER BY embedding <-> [1, 0, 0, 0] LIMIT 4");
  EXPECT_TRUE(e.ok()) << e.status().ToString();
}

TEST_F(HostileSqlTest, LongOrChainInDelete) {
  auto r = Run("DELETE FROM t WHERE " + Chain(kTerms, "OR"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(db_->DescribeCollection("t")->live_rows, 2u);
}

TEST_F(HostileSqlTest, DeepParenthesesAreStillRefusedWithAPosition) {
  std::string sql = "SELECT id FROM t WHERE ";
  for (int i = 0; i < 100000; ++i) sql += "(";
  sql += "id = 1";
  auto r = Run(sql);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nested too deeply"), std::string::npos)
      << r.status().message();
}

TEST_F(HostileSqlTest, FilterNestedTooDeeplyThroughTheApiIsAnError) {
  Filter f = Filter::Eq("n", Value{int64_t{1}});
  for (int i = 0; i < 5000; ++i) f = Filter::Not(std::move(f));
  FindOptions o;
  o.filter = std::move(f);
  auto r = db_->Find("t", o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("nested too deeply"), std::string::npos)
      << r.status().message();
}

// COPY from a FIFO used to block in open() (and then read()) for as long as nobody wrote to it,
// deaf to CANCEL and to the server's shutdown. COPY takes regular files only.
TEST(HostileCopyTest, FifosAndDevicesAreRefusedAtOnce) {
  testing::TempDir dir, files;
  std::filesystem::create_directories(files.path());
  auto db = testing::OpenOrDie(dir.path());
  SessionOptions so;
  so.copy_dir = files.path();
  Session session(db.get(), so);
  ASSERT_TRUE(session.Execute("CREATE COLLECTION t (id BIGINT PRIMARY KEY, embedding VECTOR(4))", {}).ok());
  const std::string fifo = files.path() + "/in.npy";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  { std::ofstream(files.path() + "/in.ids.txt") << "1\n"; }
  ASSERT_EQ(::mkfifo((files.path() + "/out.npy.partial").c_str(), 0600), 0);
  for (const char* sql : {"COPY t FROM 'in.npy'", "COPY t TO 'out.npy'"}) {
    auto running = std::async(std::launch::async, [&] { return session.Execute(sql, {}); });
    if (running.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      ADD_FAILURE() << sql << " blocked on a FIFO";
      // Unblock it (open the other end of both FIFOs and close them) so the test can end.
      for (const std::string& f : {fifo, files.path() + "/out.npy.partial"}) {
        const int fd = ::open(f.c_str(), O_RDWR | O_NONBLOCK);
        if (fd >= 0) ::close(fd);
      }
    }
    auto r = running.get();
    ASSERT_FALSE(r.ok()) << sql;
    EXPECT_NE(r.status().message().find("FIFO"), std::string::npos) << sql << ": " << r.status().message();
  }
  // A character device (endless input) is refused the same way (here without a copy_dir).
  Session open_session(db.get(), SessionOptions{});
  auto dev = open_session.Execute("COPY t FROM '/dev/zero' WITH (format 'fvecs', ids '/dev/null')", {});
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.status().message().find("character device"), std::string::npos)
      << dev.status().message();
}

}  // namespace
}  // namespace mrldb
