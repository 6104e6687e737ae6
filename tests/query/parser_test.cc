// The parser: every statement kind into the expected AST, predicate precedence, positions,
// scripts; and every example in docs/sql.md parses. Errors: parser_error_test.cc.
#include "query/parser.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/query/ast_printer.h"

namespace mrldb::query {
namespace {

using testing::Dump;

// The statement's AST in the printer's form, or "error: <message>".
std::string P(std::string_view sql) {
  auto statement = ParseStatement(sql);
  if (!statement.ok()) return "error: " + statement.status().message();
  return Dump(*statement);
}

// The WHERE predicate of "SELECT * FROM t WHERE <predicate>", printed.
std::string Where(std::string_view predicate) {
  auto statement = ParseStatement("SELECT * FROM t WHERE " + std::string(predicate));
  if (!statement.ok()) return "error: " + statement.status().message();
  return Dump(std::get<Select>(statement->node).where);
}

Statement ParseOrDie(std::string_view sql) {
  auto statement = ParseStatement(sql);
  EXPECT_TRUE(statement.ok()) << sql << ": " << statement.status().ToString();
  return statement.ok() ? std::move(statement).value() : Statement{};
}

TEST(Parser, CreateCollection) {
  EXPECT_EQ(P("CREATE COLLECTION docs (\n"
              "  id TEXT PRIMARY KEY,\n"
              "  embedding VECTOR(768) MATRYOSHKA (32, 64, 128, 256, 768) METRIC COSINE,\n"
              "  title TEXT, year INT, price FLOAT, ok BOOL\n"
              ") WITH (index_dim = 64, m = 16, ef_construction = 200, ef_search = 64);"),
            "create docs (id TEXT pk, embedding VECTOR(768) matryoshka(32,64,128,256,768) metric "
            "cosine, title TEXT, year INT, price FLOAT, ok BOOL) with (index_dim=64, m=16, "
            "ef_construction=200, ef_search=64)");
  EXPECT_EQ(P("create collection if not exists Docs (Id bigint primary key, e vector(3) metric "
              "IP, n integer, d double, r real, b boolean)"),
            "create Docs if-not-exists (Id BIGINT pk, e VECTOR(3) metric ip, n INTEGER, "
            "d DOUBLE, r REAL, b BOOLEAN)");
  EXPECT_EQ(P("CREATE COLLECTION v (e VECTOR(8) MATRYOSHKA (4, 8))"),
            "create v (e VECTOR(8) matryoshka(4,8))");
  EXPECT_EQ(P("CREATE COLLECTION \"Select\" (\"from\" TEXT)"), "create Select (from TEXT)");
  // IF right before '(' is a collection named "if".
  EXPECT_EQ(P("CREATE COLLECTION if (id TEXT)"), "create if (id TEXT)");
}

TEST(Parser, DropShowDescribeAlter) {
  EXPECT_EQ(P("DROP COLLECTION docs"), "drop docs");
  EXPECT_EQ(P("drop collection IF EXISTS docs;"), "drop docs if-exists");
  EXPECT_EQ(P("DROP COLLECTION if"), "drop if");
  EXPECT_EQ(P("SHOW COLLECTIONS"), "show-collections");
  EXPECT_EQ(P("show collections;"), "show-collections");
  EXPECT_EQ(P("DESCRIBE docs"), "describe docs");
  EXPECT_EQ(P("ALTER COLLECTION docs SET (index_dim = 128, m = 32, ef_construction = 200, "
              "ef_search = 80, plan = FUNNEL (64 KEEP 200, 768) EF 200)"),
            "alter docs set (index_dim=128, m=32, ef_construction=200, ef_search=80, "
            "plan=funnel(64 keep 200, 768) ef 200)");
  EXPECT_EQ(P("ALTER COLLECTION docs SET (PLAN = default, Note = 'x', neg = -1.5, off = false)"),
            "alter docs set (plan=default, note='x', neg=-1.5, off=false)");
  EXPECT_EQ(P("ALTER COLLECTION docs SET (plan = EXACT AT 64)"),
            "alter docs set (plan=exact at 64)");
}

TEST(Parser, InsertAndUpsert) {
  EXPECT_EQ(P("INSERT INTO docs VALUES ('a', [0.1, -2, 3e-2], 'T', 2021, NULL, TRUE), "
              "('b', [1, 2, 3], 'U', -7, 1.5, false)"),
            "insert docs values ('a', [0.1, -2, 0.03], 'T', 2021, NULL, true) "
            "('b', [1, 2, 3], 'U', -7, 1.5, false)");
  EXPECT_EQ(P("INSERT INTO docs (id, embedding) VALUES ($1, $2)"),
            "insert docs (id, embedding) values ($1, $2)");
  EXPECT_EQ(P("INSERT INTO docs VALUES (1, [1]) ON CONFLICT REPLACE"),
            "upsert docs values (1, [1])");
  EXPECT_EQ(P("insert into docs values (1, [1]) on conflict do update"),
            "upsert docs values (1, [1])");
  EXPECT_EQ(P("UPSERT INTO docs (id) VALUES ('x'), ('y');"), "upsert docs (id) values ('x') ('y')");
  EXPECT_EQ(P("INSERT INTO t VALUES (-9223372036854775808, 9223372036854775807)"),
            "insert t values (-9223372036854775808, 9223372036854775807)");
}

TEST(Parser, DeleteAndUpdate) {
  EXPECT_EQ(P("DELETE FROM docs"), "delete docs");
  EXPECT_EQ(P("DELETE FROM docs WHERE id = 'a'"), "delete docs where (= id 'a')");
  EXPECT_EQ(P("UPDATE docs SET title = 'x', year = 2020, embedding = [1, 2]"),
            "update docs set title='x', year=2020, embedding=[1, 2]");
  EXPECT_EQ(P("UPDATE docs SET price = NULL WHERE year < 2000 OR year IS NULL"),
            "update docs set price=NULL where (or (< year 2000) (is-null year))");
}

TEST(Parser, SelectItems) {
  EXPECT_EQ(P("SELECT * FROM docs"), "select * from docs");
  EXPECT_EQ(P("SELECT id, Title AS t, distance, DISTANCE AS d, embedding[:64], "
              "PREFIX(embedding, 128) AS p, query_index, \"distance\", prefix FROM docs"),
            "select id, Title as t, <distance>, <distance> as d, embedding[:64], "
            "embedding[:128] as p, <query_index>, distance, prefix from docs");
  const Statement s = ParseOrDie("SELECT id,\n  distance AS \"D\" FROM docs");
  const auto& items = std::get<Select>(s.node).items;
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[1].kind, SelectItem::Kind::kDistance);
  EXPECT_EQ(items[1].alias, "D");
  EXPECT_EQ(items[1].pos.line, 2u);
  EXPECT_EQ(items[1].pos.column, 3u);
}

TEST(Parser, SelectClauses) {
  EXPECT_EQ(P("SELECT id, title, distance FROM docs WHERE year >= 2020 "
              "ORDER BY embedding <=> [0.1, 0.2] LIMIT 10 "
              "USING FUNNEL (64 KEEP 400, 256 KEEP 80, 768)"),
            "select id, title, <distance> from docs where (>= year 2020) "
            "order-by (<=> embedding [0.1, 0.2]) limit 10 using funnel(64 keep 400, 256 keep 80, "
            "768)");
  EXPECT_EQ(P("SELECT id FROM docs ORDER BY embedding <-> $1 LIMIT 5 USING FUNNEL (64, 768) EF 99"),
            "select id from docs order-by (<-> embedding $1) limit 5 using funnel(64, 768) ef 99");
  EXPECT_EQ(P("SELECT query_index, id FROM docs ORDER BY embedding <#> [[1, 2], [3, -4.5]]"),
            "select <query_index>, id from docs order-by (<#> embedding [[1, 2], [3, -4.5]])");
  EXPECT_EQ(P("SELECT id FROM docs ORDER BY e <=> $2 USING EXACT"),
            "select id from docs order-by (<=> e $2) using exact");
  EXPECT_EQ(P("SELECT id FROM docs ORDER BY e <=> $2 USING EXACT AT 64"),
            "select id from docs order-by (<=> e $2) using exact at 64");
  EXPECT_EQ(P("SELECT id FROM docs ORDER BY e <=> $2 USING PREFIX 64"),
            "select id from docs order-by (<=> e $2) using prefix 64");
  EXPECT_EQ(P("SELECT id FROM docs ORDER BY e <=> $2 USING prefix 64 ef 128"),
            "select id from docs order-by (<=> e $2) using prefix 64 ef 128");
  EXPECT_EQ(P("SELECT id FROM docs ORDER BY e <=> $2 USING DEFAULT"),
            "select id from docs order-by (<=> e $2) using default");
  EXPECT_EQ(P("SELECT id FROM docs LIMIT 0"), "select id from docs limit 0");
  EXPECT_EQ(P("select id from docs where ok limit 3"), "select id from docs where ok limit 3");
}

TEST(Parser, Explain) {
  EXPECT_EQ(P("EXPLAIN SELECT * FROM docs"), "explain: select * from docs");
  EXPECT_EQ(P("EXPLAIN ANALYZE SELECT * FROM docs"), "explain analyze: select * from docs");
  EXPECT_EQ(P("EXPLAIN (ANALYZE) SELECT * FROM docs"), "explain analyze: select * from docs");
  EXPECT_EQ(P("EXPLAIN (ANALYZE, RECALL) SELECT * FROM docs"),
            "explain analyze recall: select * from docs");
  EXPECT_EQ(P("explain (recall) select * from docs"),  // RECALL implies ANALYZE
            "explain analyze recall: select * from docs");
  EXPECT_EQ(P("EXPLAIN DELETE FROM docs WHERE id = 1"), "explain: delete docs where (= id 1)");
  // The explained statement has its own position and text.
  const Statement s = ParseOrDie("EXPLAIN ANALYZE\n  SELECT id FROM docs LIMIT 3;");
  const auto& explain = std::get<Explain>(s.node);
  EXPECT_EQ(s.text, "EXPLAIN ANALYZE\n  SELECT id FROM docs LIMIT 3");
  EXPECT_EQ(explain.statement->text, "SELECT id FROM docs LIMIT 3");
  EXPECT_EQ(explain.statement->pos.line, 2u);
  EXPECT_EQ(explain.statement->pos.column, 3u);
}

TEST(Parser, Copy) {
  EXPECT_EQ(P("COPY docs FROM 'vectors.npy'"), "copy docs from 'vectors.npy'");
  EXPECT_EQ(P("COPY docs FROM '/data/v.npy' WITH (format npy, ids 'ids.txt', batch_size 10000, "
              "header true)"),
            "copy docs from '/data/v.npy' with (format='npy', ids='ids.txt', batch_size=10000, "
            "header=true)");
  EXPECT_EQ(P("COPY docs TO 'out.csv' WITH (FORMAT = csv, delimiter = ';', Header = FALSE)"),
            "copy docs to 'out.csv' with (format='csv', delimiter=';', header=false)");
  EXPECT_EQ(P("COPY docs FROM 'it''s.jsonl'"), "copy docs from 'it's.jsonl'");
  EXPECT_EQ(P("copy docs from stdin with (format csv)"), "copy docs from stdin with (format='csv')");
  EXPECT_EQ(P("COPY docs TO STDOUT"), "copy docs to stdout");
  EXPECT_EQ(P("COPY docs FROM 'stdin'"), "copy docs from 'stdin'");  // a file named stdin
}

TEST(Parser, Settings) {
  EXPECT_EQ(P("SET ef_search = 100"), "set ef_search = 100");
  EXPECT_EQ(P("SET Device TO 'cpu'"), "set device = 'cpu'");
  EXPECT_EQ(P("SET device = GPU"), "set device = 'GPU'");
  EXPECT_EQ(P("SET search.Recall = 0.9"), "set search.recall = 0.9");
  EXPECT_EQ(P("SET timing = on"), "set timing = 'on'");
  EXPECT_EQ(P("SET threshold = -2"), "set threshold = -2");
  EXPECT_EQ(P("SET ef_search TO DEFAULT"), "reset ef_search");
  EXPECT_EQ(P("RESET ef_search"), "reset ef_search");
  EXPECT_EQ(P("RESET ALL"), "reset all");
  EXPECT_EQ(P("SHOW ef_search"), "show ef_search");
  EXPECT_EQ(P("SHOW ALL"), "show all");
  EXPECT_EQ(P("show Search.EF"), "show search.ef");
}

TEST(Parser, Tune) {
  EXPECT_EQ(P("TUNE docs FOR RECALL 0.95"), "tune docs recall 0.95");
  EXPECT_EQ(P("tune docs for recall 0.9 at 10;"), "tune docs recall 0.9 at 10");
  EXPECT_EQ(P("TUNE docs FOR RECALL 1"), "tune docs recall 1");
  EXPECT_EQ(P("TUNE docs FOR RECALL 0.9 AT 50 USING QUERIES FROM 'q.npy'"),
            "tune docs recall 0.9 at 50 queries 'q.npy'");
  EXPECT_EQ(P("tune docs for recall 0.9 using queries from 'dir/q.fvecs'"),
            "tune docs recall 0.9 queries 'dir/q.fvecs'");
}

TEST(Parser, WaitForIndex) {
  EXPECT_EQ(P("WAIT FOR INDEX"), "wait for index");
  EXPECT_EQ(P("wait for index docs;"), "wait for index docs");
  EXPECT_EQ(P("WAIT FOR INDEX \"My Docs\""), "wait for index My Docs");
  EXPECT_EQ(P("BACKUP TO '/srv/backups/monday'"), "backup to '/srv/backups/monday'");
  EXPECT_EQ(P("vacuum \"My Docs\""), "vacuum My Docs");
}

TEST(Parser, Precedence) {
  // OR < AND < NOT < comparison.
  EXPECT_EQ(Where("a = 1 OR b = 2 AND NOT c = 3"), "(or (= a 1) (and (= b 2) (not (= c 3))))");
  EXPECT_EQ(Where("(a = 1 OR b = 2) AND c = 3"), "(and (or (= a 1) (= b 2)) (= c 3))");
  EXPECT_EQ(Where("a = 1 OR b = 2 OR c = 3"), "(or (= a 1) (= b 2) (= c 3))");
  EXPECT_EQ(Where("a = 1 AND b = 2 AND c = 3"), "(and (= a 1) (= b 2) (= c 3))");
  EXPECT_EQ(Where("NOT NOT a"), "(not (not a))");
  EXPECT_EQ(Where("NOT (a = 1 OR b = 2)"), "(not (or (= a 1) (= b 2)))");
  // BETWEEN's AND belongs to BETWEEN.
  EXPECT_EQ(Where("year BETWEEN 2000 AND 2010 AND ok"), "(and (between year 2000 2010) ok)");
  EXPECT_EQ(Where("year NOT BETWEEN -1 AND $1 OR x"), "(or (not-between year -1 $1) x)");
}

TEST(Parser, Comparisons) {
  EXPECT_EQ(Where("a = 1"), "(= a 1)");
  EXPECT_EQ(Where("a != 'x'"), "(!= a 'x')");
  EXPECT_EQ(Where("a <> 1.5"), "(!= a 1.5)");
  EXPECT_EQ(Where("a < -2"), "(< a -2)");
  EXPECT_EQ(Where("a <= $1"), "(<= a $1)");
  EXPECT_EQ(Where("a > TRUE"), "(> a true)");
  EXPECT_EQ(Where("2020 >= \"Year\""), "(>= 2020 Year)");
  EXPECT_EQ(Where("title IN ('a', 'b', $2)"), "(in title 'a' 'b' $2)");
  EXPECT_EQ(Where("year NOT IN (1, -2)"), "(not-in year 1 -2)");
  EXPECT_EQ(Where("title IS NULL"), "(is-null title)");
  EXPECT_EQ(Where("title is not null"), "(is-not-null title)");
  EXPECT_EQ(Where("(((a)))"), "a");
  EXPECT_EQ(Where("a = NULL"), "(= a NULL)");
}

TEST(Parser, Positions) {
  const Statement s = ParseOrDie(
      "-- find recent documents\n"
      "SELECT id\n"
      "  FROM docs\n"
      " WHERE year >= 2020\n"
      "   AND NOT title IN ('x')\n"
      " ORDER BY embedding <=> $1\n"
      " USING FUNNEL (64 KEEP 100,\n"
      "               768)");
  EXPECT_EQ(s.pos.line, 2u);
  EXPECT_EQ(s.pos.column, 1u);
  EXPECT_EQ(s.pos.offset, 25u);
  const auto& select = std::get<Select>(s.node);
  const auto& and_node = std::get<Logical>(select.where->node);
  EXPECT_EQ(select.where->pos.line, 4u);  // a node is where its first token is
  EXPECT_EQ(select.where->pos.column, 8u);
  EXPECT_EQ(and_node.operands[1]->pos.line, 5u);  // NOT
  EXPECT_EQ(and_node.operands[1]->pos.column, 8u);
  const auto& in = std::get<InList>(std::get<Not>(and_node.operands[1]->node).operand->node);
  EXPECT_EQ(in.items[0]->pos.column, 22u);
  const auto& distance = std::get<Distance>(select.order_by->node);
  EXPECT_EQ(distance.column->pos.line, 6u);
  EXPECT_EQ(distance.column->pos.column, 11u);
  EXPECT_EQ(distance.vector->pos.column, 25u);
  ASSERT_TRUE(select.plan.has_value());
  EXPECT_EQ(select.plan->pos.line, 7u);
  EXPECT_EQ(select.plan->pos.column, 8u);
  EXPECT_EQ(select.plan->stages[1].pos.line, 8u);
  EXPECT_EQ(select.plan->stages[1].pos.column, 16u);

  const Statement c =
      ParseOrDie("CREATE COLLECTION c (\n  id TEXT,\n  v VECTOR(4)\n) WITH (m = 8)");
  const auto& create = std::get<CreateCollection>(c.node);
  EXPECT_EQ(create.columns[1].pos.line, 3u);
  EXPECT_EQ(create.columns[1].pos.column, 3u);
  EXPECT_EQ(create.options[0].pos.line, 4u);
  EXPECT_EQ(create.options[0].pos.column, 9u);

  const Statement u = ParseOrDie("UPDATE t SET a = 1,\n b = 2");
  EXPECT_EQ(std::get<Update>(u.node).set[1].pos.line, 2u);
  EXPECT_EQ(std::get<Update>(u.node).set[1].pos.column, 2u);
}

TEST(Parser, ScriptOfSeveralStatements) {
  auto script = ParseScript(
      "/* set-up */\n"
      "CREATE COLLECTION docs (id TEXT PRIMARY KEY, embedding VECTOR(4));;\n"
      "INSERT INTO docs VALUES ('a', [1, 2, 3, 4]); -- one row\n"
      ";\n"
      "SELECT id, distance FROM docs\n"
      "  ORDER BY embedding <=> [1, 0, 0, 0] /* nearest */ LIMIT 1;\n"
      "SHOW COLLECTIONS  -- no ';' at the end");
  ASSERT_TRUE(script.ok()) << script.status().ToString();
  ASSERT_EQ(script->size(), 4u);
  const auto& statements = *script;
  EXPECT_TRUE(std::holds_alternative<CreateCollection>(statements[0].node));
  EXPECT_TRUE(std::holds_alternative<Insert>(statements[1].node));
  EXPECT_TRUE(std::holds_alternative<Select>(statements[2].node));
  EXPECT_TRUE(std::holds_alternative<ShowCollections>(statements[3].node));
  EXPECT_EQ(statements[1].text, "INSERT INTO docs VALUES ('a', [1, 2, 3, 4])");
  EXPECT_EQ(statements[1].pos.line, 3u);
  EXPECT_EQ(statements[2].text,
            "SELECT id, distance FROM docs\n"
            "  ORDER BY embedding <=> [1, 0, 0, 0] /* nearest */ LIMIT 1");
  EXPECT_EQ(statements[2].pos.line, 5u);
  EXPECT_EQ(statements[3].text, "SHOW COLLECTIONS");
  EXPECT_EQ(statements[3].pos.line, 7u);
  EXPECT_EQ(statements[3].pos.offset, 230u);
}

// SplitScript cuts without parsing: a statement that does not parse stays one piece, and the
// ';' inside strings, quoted names and comments do not cut.
TEST(Parser, SplitScriptCutsAtSemicolonsOutsideStringsAndComments) {
  const std::string_view sql =
      "SELECT id FROM docs; SELECT COUNT(*) FROM docs;\n"
      "  INSERT INTO \"a;b\" VALUES ('x;y', [1]) -- c;d\n"
      "  ; /* e; */ ;;\n"
      "SHOW COLLECTIONS";
  const auto pieces = SplitScript(sql);
  ASSERT_EQ(pieces.size(), 4u);
  EXPECT_EQ(pieces[0].text, "SELECT id FROM docs");
  EXPECT_EQ(pieces[1].text, "SELECT COUNT(*) FROM docs");
  EXPECT_EQ(pieces[1].pos.column, 22u);
  EXPECT_EQ(pieces[2].text, "INSERT INTO \"a;b\" VALUES ('x;y', [1])");
  EXPECT_EQ(pieces[2].pos.line, 2u);
  EXPECT_EQ(pieces[2].pos.column, 3u);
  EXPECT_EQ(pieces[3].text, "SHOW COLLECTIONS");
  EXPECT_EQ(pieces[3].pos.line, 4u);
  for (std::string_view empty : {"", " ; ;; ", "-- nothing\n/* at all */"}) {
    EXPECT_TRUE(SplitScript(empty).empty()) << empty;
  }
  // Where the tokenizer fails, the rest of the script from that statement is the last piece.
  const auto bad = SplitScript("SHOW ALL; SELECT 'abc; SHOW ALL;");
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[1].text, "SELECT 'abc; SHOW ALL;");
  EXPECT_EQ(ParseStatement(bad[1].text).status().message(),
            "unterminated string literal: missing closing '");
  const auto stray = SplitScript("SHOW ALL;\n @ SHOW ALL");
  ASSERT_EQ(stray.size(), 2u);
  EXPECT_EQ(stray[1].text, "\n @ SHOW ALL");
  EXPECT_EQ(stray[1].pos.column, 10u);
}

TEST(Parser, EmptyScripts) {
  for (std::string_view sql : {"", "   ", ";", " ; ;; ", "-- nothing\n/* at all */"}) {
    auto script = ParseScript(sql);
    ASSERT_TRUE(script.ok()) << sql << ": " << script.status().ToString();
    EXPECT_TRUE(script->empty()) << sql;
  }
}

TEST(Parser, ReservedWordsQuoted) {
  EXPECT_EQ(P("SELECT \"order\", \"Limit\" AS \"from\" FROM \"select\" WHERE \"null\" IS NULL"),
            "select order, Limit as from from select where (is-null null)");
  // Non-reserved keywords are ordinary names.
  EXPECT_EQ(P("SELECT year, copy, show, metric FROM funnel WHERE exact = keep"),
            "select year, copy, show, metric from funnel where (= exact keep)");
}

TEST(Parser, SingleStatementWithTrailingSemicolonsAndComments) {
  const Statement s = ParseOrDie("  /* c */ SHOW ALL ; ; -- done\n");
  EXPECT_EQ(s.text, "SHOW ALL");
  EXPECT_EQ(s.pos.column, 11u);
  EXPECT_EQ(Dump(s), "show all");
}

TEST(Parser, NegativeLiteralStartsAtItsMinus) {
  const Statement s = ParseOrDie("UPDATE t SET a = - 5");
  const Expr& value = *std::get<Update>(s.node).set[0].value;
  EXPECT_EQ(Dump(value), "-5");
  EXPECT_EQ(value.pos.column, 18u);
}

TEST(Parser, LargeVectorsParseExactly) {
  // 200 rows of 768 dims: values come back exactly as written (doubles, no rounding to float).
  std::string sql = "INSERT INTO docs VALUES ";
  for (int r = 0; r < 200; ++r) {
    sql += r ? ", ('" : "('";
    sql += std::to_string(r) + "', [";
    for (int d = 0; d < 768; ++d) sql += (d ? ", " : "") + std::to_string(r * 1000 + d) + "e-3";
    sql += "])";
  }
  const Statement s = ParseOrDie(sql);
  const auto& rows = std::get<Insert>(s.node).rows;
  ASSERT_EQ(rows.size(), 200u);
  const auto& v = std::get<VectorLiteral>(rows[199][1]->node).values;
  ASSERT_EQ(v.size(), 768u);
  EXPECT_EQ(v[767], 199767e-3);
}

TEST(Parser, NestingDepthIsLimited) {
  const auto nested = [](int depth) {
    return std::string(depth, '(') + "a = 1" + std::string(depth, ')');
  };
  EXPECT_EQ(Where(nested(200)), "(= a 1)");
  auto deep = ParseStatement("SELECT * FROM t WHERE " + nested(100000));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().message(),
            "expression nested too deeply at or near \"(\": more than 256 levels of parentheses "
            "and NOT");
  EXPECT_EQ(deep.status().column(), 23u + 256u);
  std::string nots;
  for (int i = 0; i < 300; ++i) nots += "NOT ";
  EXPECT_FALSE(ParseStatement("SELECT * FROM t WHERE " + nots + "a").ok());
}

// Every ```sql block of docs/sql.md parses: the examples stay in sync with the parser.
TEST(Parser, DocumentationExamplesParse) {
  std::ifstream in(std::string(MRLDB_SOURCE_DIR) + "/docs/sql.md");
  ASSERT_TRUE(in) << "docs/sql.md not found";
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string doc = buffer.str();
  size_t blocks = 0, statements = 0;
  for (size_t at = doc.find("```sql\n"); at != std::string::npos; at = doc.find("```sql\n", at)) {
    at += 7;
    const size_t end = doc.find("```", at);
    ASSERT_NE(end, std::string::npos);
    const std::string block = doc.substr(at, end - at);
    auto script = ParseScript(block);
    EXPECT_TRUE(script.ok()) << script.status().ToString() << " at " << script.status().line()
                             << ":" << script.status().column() << " in\n"
                             << block;
    if (script.ok()) statements += script->size();
    ++blocks;
    at = end + 3;
  }
  EXPECT_GE(blocks, 10u);
  EXPECT_GE(statements, 20u);
}

// Every prefix of the documentation's examples, cut at any byte, parses or fails with a
// position inside the text (or just after it): no crash, no error without a place.
TEST(Parser, EveryPrefixOfTheExamplesParsesOrFailsWithAPosition) {
  std::ifstream in(std::string(MRLDB_SOURCE_DIR) + "/docs/sql.md");
  ASSERT_TRUE(in);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string doc = buffer.str();
  const size_t start = doc.find("```sql\n");
  const size_t end = doc.find("## Notes");
  ASSERT_NE(start, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  std::string examples;  // the example blocks' text, fences removed
  for (size_t at = start; at < end && at != std::string::npos; at = doc.find("```sql\n", at)) {
    at += 7;
    const size_t close = doc.find("```", at);
    examples += doc.substr(at, close - at);
    at = close + 3;
  }
  const uint32_t lines = static_cast<uint32_t>(std::count(examples.begin(), examples.end(), '\n'));
  size_t failures = 0;
  for (size_t cut = 0; cut <= examples.size(); ++cut) {
    auto script = ParseScript(std::string_view(examples).substr(0, cut));
    if (script.ok()) continue;
    ++failures;
    ASSERT_TRUE(script.status().IsInvalidArgument()) << cut;
    ASSERT_GE(script.status().line(), 1u) << cut;
    ASSERT_LE(script.status().line(), lines + 1) << cut;
    ASSERT_GE(script.status().column(), 1u) << cut;
  }
  EXPECT_GT(failures, examples.size() / 2);
}

}  // namespace
}  // namespace mrldb::query
