// The shell's pieces without a process: completion, \h from the grammar, expanded display and
// "did you mean".
#include <gtest/gtest.h>

#include "query/suggest.h"
#include "shell/complete.h"
#include "shell/format.h"
#include "shell/shell.h"

namespace mrldb::shell {
namespace {

TEST(ShellComplete, KeywordsFollowTheUsersCase) {
  EXPECT_EQ(Completions("", "SEL", {}, {}), std::vector<std::string>({"SELECT"}));
  EXPECT_EQ(Completions("", "sel", {}, {}), std::vector<std::string>({"select"}));
  EXPECT_EQ(Completions("SELECT id ", "FR", {}, {}), std::vector<std::string>({"FROM"}));
  // The keywords are the grammar's: every statement's words complete.
  EXPECT_EQ(Completions("", "PREDI", {}, {}), std::vector<std::string>({"PREDICT"}));
  EXPECT_EQ(Completions("SELECT id FROM t ", "RETUR", {}, {}), std::vector<std::string>({"RETURNING"}));
}

TEST(ShellComplete, CollectionsAfterFromAndColumnsOfNamedCollections) {
  const std::vector<std::string> collections = {"docs", "dogs", "images"};
  // After FROM only collections, never keywords or columns.
  EXPECT_EQ(Completions("SELECT * FROM ", "do", collections, {"doc_id"}),
            std::vector<std::string>({"docs", "dogs"}));
  EXPECT_EQ(Completions("SELECT id FROM docs WHERE ", "ti", collections, {"id", "title", "embedding"}),
            std::vector<std::string>({"title"}));
  EXPECT_EQ(NamedCollections("SELECT id FROM Docs WHERE x", collections), std::vector<std::string>({"docs"}));
  EXPECT_EQ(NamedCollections("INSERT INTO images VALUES", collections), std::vector<std::string>({"images"}));
  EXPECT_TRUE(NamedCollections("SELECT id FROM nope", collections).empty());
}

TEST(ShellComplete, BackslashCommandsAtTheStartOfALine) {
  EXPECT_EQ(Completions("", "\\ti", {}, {}), std::vector<std::string>({"\\timing"}));
  EXPECT_EQ(Completions("", "\\p", {}, {}), std::vector<std::string>({"\\pset"}));
}

TEST(ShellHelp, StatementSynopsesComeFromTheGrammar) {
  auto select = StatementHelp("select");
  ASSERT_TRUE(select.has_value());
  EXPECT_NE(select->find("select        = \"SELECT\""), std::string::npos) << *select;
  EXPECT_NE(select->find("plan          ="), std::string::npos) << "rules it names follow";
  EXPECT_EQ(select->find("literal       ="), std::string::npos) << "token-level rules do not";
  auto create = StatementHelp("CREATE COLLECTION");
  ASSERT_TRUE(create.has_value());
  EXPECT_NE(create->find("column_def"), std::string::npos) << *create;
  auto list = StatementHelp("");
  ASSERT_TRUE(list.has_value());
  EXPECT_NE(list->find("WAIT FOR INDEX"), std::string::npos) << *list;
  EXPECT_FALSE(StatementHelp("FROBNICATE").has_value());
}

TEST(ShellFormat, ExpandedDisplayIsOneBlockPerRow) {
  ResultSet r;
  r.columns = {{"id", CellType::kBigint}, {"title", CellType::kText}};
  r.rows = {{Cell{int64_t{1}}, Cell{std::string("a")}}, {Cell{int64_t{22}}, Cell{}}};
  EXPECT_EQ(FormatResult(r, OutputFormat::kTable, true),
            "-[ RECORD 1 ]-\nid    | 1\ntitle | a\n-[ RECORD 2 ]-\nid    | 22\ntitle | NULL\n");
  r.rows.clear();
  EXPECT_EQ(FormatResult(r, OutputFormat::kTable, true), "(0 rows)\n");
  EXPECT_EQ(FormatResult(r, OutputFormat::kCsv, true), "id,title\n") << "csv ignores \\x";
}

TEST(DidYouMean, NearNamesOnly) {
  const std::vector<std::string> names = {"embedding", "title", "id"};
  EXPECT_EQ(query::ClosestName("titel", names), "title");
  EXPECT_EQ(query::ClosestName("embeding", names), "embedding");
  EXPECT_EQ(query::ClosestName("ie", names), "") << "too short to guess";
  EXPECT_EQ(query::ClosestName("price", names), "");
  EXPECT_EQ(query::ClosestName("title", names), "") << "an exact name is no typo";
  EXPECT_EQ(query::DidYouMean("SELCT", {"SELECT", "INSERT"}, false), "; did you mean SELECT?");
}

}  // namespace
}  // namespace mrldb::shell
