// Placement and device memory through SQL where no GPU is usable (GPU searches disabled, so the
// text is the same on every machine): EXPLAIN [ANALYZE]'s placement line under 'cpu' and
// 'auto', SHOW MEMORY's "no GPU" row, DESCRIBE's (device) row, SHOW PLACEMENT.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mrldb/session.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::TempDir;

constexpr const char* kNoGpu = "GPU searches are disabled by DatabaseOptions::gpu = false";

class SessionPlacementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions o;
    o.gpu = false;
    db_ = testing::OpenOrDie(dir_.path(), o);
    session_ = std::make_unique<Session>(db_.get());
    ASSERT_TRUE(Run("CREATE COLLECTION v (id BIGINT PRIMARY KEY, embedding VECTOR(8) MATRYOSHKA "
                    "(4, 8) METRIC L2)").ok());
    std::string sql = "INSERT INTO v VALUES ";
    for (int i = 0; i < 100; ++i) {
      sql += fmt::format("{}({}, [{}, 1, 2, 3, 4, 5, 6, {}])", i ? ", " : "", i, i % 7, i % 11);
    }
    ASSERT_TRUE(Run(sql).ok());
  }
  Result<ResultSet> Run(std::string_view sql, std::vector<Param> params = {}) {
    return session_->Execute(sql, params);
  }
  // Column 0 of every row, one per line.
  std::string Text(std::string_view sql) {
    auto r = Run(sql);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::string text;
    if (!r.ok()) return text;
    for (const auto& row : r->rows) text += std::get<std::string>(row[0]) + "\n";
    return text;
  }
  // The details (column 2) of the row whose column 0 is `what`.
  std::string Row(std::string_view sql, std::string_view what) {
    auto r = Run(sql);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    for (const auto& row : r->rows) {
      if (std::get<std::string>(row[0]) == what) return std::get<std::string>(row[2]);
    }
    return "(no row " + std::string(what) + ")";
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Session> session_;
};

const char* kSearch = "SELECT id FROM v ORDER BY embedding <-> [1, 1, 2, 3, 4, 5, 6, 7] LIMIT 3 "
                      "USING EXACT";

TEST_F(SessionPlacementTest, ExplainSaysWhereAndWhy) {
  std::string text = Text(std::string("EXPLAIN ANALYZE ") + kSearch);
  EXPECT_NE(text.find("  placement: cpu: device 'cpu'\n  step 1: scan"), std::string::npos) << text;
  ASSERT_TRUE(Run("SET device = 'auto'").ok());
  // A single search under 'auto' stays on the CPU until the GPU was measured for the plan.
  const std::string small = "placement: cpu: batch of 1 (under 16), not yet measured on the GPU "
                            "for this plan";
  text = Text(std::string("EXPLAIN ") + kSearch);
  EXPECT_NE(text.find(small), std::string::npos) << text;
  text = Text(std::string("EXPLAIN ANALYZE ") + kSearch);
  EXPECT_NE(text.find(small), std::string::npos) << text;
  // A batch of 16 would explore the GPU: there is none, so the CPU answers, and from then on
  // EXPLAIN says why.
  QueryMatrix m{16, 8, std::vector<float>(16 * 8, 1.0f)};
  auto batch = Run("SELECT id FROM v ORDER BY embedding <-> $1 LIMIT 3 USING EXACT", {m});
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->rows.size(), 16u * 3);
  text = Text(std::string("EXPLAIN ANALYZE ") + kSearch);
  EXPECT_NE(text.find(fmt::format("placement: cpu: no device ({})", kNoGpu)), std::string::npos)
      << text;
  EXPECT_EQ(Row("DESCRIBE v", "(device)"), fmt::format("no device copy: {}", kNoGpu));
}

TEST_F(SessionPlacementTest, ShowMemorySaysThereIsNoGpu) {
  EXPECT_EQ(Row("SHOW MEMORY", "gpu"), fmt::format("no GPU: {}", kNoGpu));
  EXPECT_NE(Row("SHOW MEMORY", "process").find("resident in this process now: the parts below"),
            std::string::npos) << Row("SHOW MEMORY", "process");
  EXPECT_EQ(Row("SHOW MEMORY", "v: device"), "(no row v: device)");  // no GPU, no copy
  EXPECT_EQ(Row("DESCRIBE v", "(device)"), "no device copy (made at the first GPU search)");
}

TEST_F(SessionPlacementTest, ShowPlacementListsTheModel) {
  auto empty = Run("SHOW PLACEMENT");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->rows.empty());
  ASSERT_EQ(empty->columns.size(), 8u);
  EXPECT_EQ(empty->columns[3].name, "cpu_us_per_query");
  ASSERT_TRUE(Run("SET device = 'auto'").ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Run(kSearch).ok());
  auto r = Run("SHOW PLACEMENT v");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows.size(), 1u);
  const auto& row = r->rows[0];
  EXPECT_EQ(std::get<std::string>(row[0]), "v");
  EXPECT_EQ(std::get<std::string>(row[1]), "EXACT; stage 1 scan");
  EXPECT_EQ(std::get<std::string>(row[2]), "1-3");
  EXPECT_GT(std::get<double>(row[3]), 0.0);                     // measured on the CPU
  EXPECT_TRUE(std::holds_alternative<std::monostate>(row[4]));  // never on the GPU
  EXPECT_EQ(std::get<int64_t>(row[5]), 3);
  EXPECT_EQ(std::get<int64_t>(row[6]), 0);
  EXPECT_EQ(std::get<std::string>(row[7]), "cpu (gpu not measured)");
  auto bad = Run("SHOW PLACEMENT nope");
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace mrldb
