// Parser errors: every class with its exact message and the line and column of the offending
// token; the first error in the text wins.
#include <string>

#include <gtest/gtest.h>

#include "query/parser.h"

namespace mrldb::query {
namespace {

constexpr std::string_view kStatements =
    "a statement (SELECT, INSERT, UPSERT, UPDATE, DELETE, CREATE, DROP, ALTER, COPY, SHOW, "
    "DESCRIBE, SET, RESET, TUNE, WAIT, BACKUP, VACUUM, PREDICT, ANALYZE or EXPLAIN)";

struct ErrorCase {
  std::string_view sql;
  std::string message;
  uint32_t line, column;
};

void ExpectError(const Status& status, const ErrorCase& c) {
  EXPECT_TRUE(status.IsInvalidArgument()) << c.sql << ": " << status.ToString();
  EXPECT_EQ(status.message(), c.message) << c.sql;
  EXPECT_EQ(status.line(), c.line) << c.sql;
  EXPECT_EQ(status.column(), c.column) << c.sql;
}

// ParseStatement and ParseScript both fail on `c.sql` with `c.message` at c.line:c.column.
void ExpectError(const ErrorCase& c) {
  auto statement = ParseStatement(c.sql);
  ASSERT_FALSE(statement.ok()) << c.sql;
  ExpectError(statement.status(), c);
  auto script = ParseScript(c.sql);
  ASSERT_FALSE(script.ok()) << c.sql;
  ExpectError(script.status(), c);
}

TEST(ParserErrors, UnterminatedString) {
  ExpectError({"SELECT * FROM docs WHERE title = 'abc",
               "unterminated string literal: missing closing '", 1, 34});
  ExpectError({"INSERT INTO docs VALUES\n  ('a', [1]),\n  ('it''s",
               "unterminated string literal: missing closing '", 3, 4});
  ExpectError(
      {"SELECT * FROM \"docs", "unterminated quoted identifier: missing closing \"", 1, 15});
  ExpectError({"SELECT * FROM docs /* comment", "unterminated comment: /* without */", 1, 20});
}

TEST(ParserErrors, BadNumber) {
  ExpectError({"SELECT * FROM docs LIMIT 10x", "invalid number \"10x\"", 1, 26});
  ExpectError({"INSERT INTO t VALUES ([1.5e])", "invalid number \"1.5e\"", 1, 24});
  ExpectError({"INSERT INTO t VALUES (99999999999999999999)",
               "integer 99999999999999999999 is out of range for a 64-bit integer", 1, 23});
  // 2^63 is only valid as -2^63.
  ExpectError({"INSERT INTO t VALUES (9223372036854775808)",
               "integer 9223372036854775808 is out of range for a 64-bit integer", 1, 23});
  ExpectError({"CREATE COLLECTION c (v VECTOR(4294967296))",
               "syntax error at or near \"4294967296\": expected the vector dimension (at most "
               "4294967295)",
               1, 31});
  ExpectError({"SELECT * FROM docs LIMIT -1", "syntax error at or near \"-\": expected a row count",
               1, 26});
  ExpectError({"SELECT * FROM docs LIMIT 2.5",
               "syntax error at or near \"2.5\": expected a row count", 1, 26});
  ExpectError({"SELECT * FROM t WHERE a = -x",
               "syntax error at or near \"x\": expected a number after '-'", 1, 28});
}

TEST(ParserErrors, UnexpectedToken) {
  ExpectError({"SELECT * FROM FROM",
               "syntax error at or near \"FROM\": expected a collection name (FROM is a reserved "
               "word: double-quote it to use it as a name)",
               1, 15});
  ExpectError(
      {"SELECT * FROM 42", "syntax error at or near \"42\": expected a collection name", 1, 15});
  ExpectError({"SELECT * FROM", "syntax error at end of input: expected a collection name", 1, 14});
  ExpectError({"DELETE docs", "syntax error at or near \"docs\": expected FROM", 1, 8});
  ExpectError({"SELECT id title FROM docs",
               "syntax error at or near \"title\": expected AS, ',' or FROM", 1, 11});
  ExpectError({"SELECT FROM docs",
               "syntax error at or near \"FROM\": expected a select item (*, a column, distance, "
               "query_index, column[:n], PREFIX(column, n) or an aggregate) (FROM is a reserved word: "
               "double-quote it to use it as a name)",
               1, 8});
  ExpectError({"SELECT * FROM docs ORDER BY embedding = [1]",
               "syntax error at or near \"=\": expected a distance operator (<=>, <-> or <#>), ASC, "
               "DESC, NULLS, ',', LIMIT, OFFSET, ';' or end of input", 1,
               39});
  ExpectError({"SELECT * FROM docs ORDER BY embedding <=> 'x'",
               "syntax error at or near \"'x'\": expected a query vector ([...]), a matrix "
               "([[...], ...]), a parameter or (SELECT column FROM collection WHERE id = ...)",
               1, 43});
  ExpectError({"SELECT * FROM docs USING FAST",
               "syntax error at or near \"FAST\": expected a plan (FUNNEL, EXACT, PREFIX or "
               "DEFAULT)",
               1, 26});
  ExpectError({"SELECT * FROM docs USING FUNNEL (64 400)",
               "syntax error at or near \"400\": expected KEEP, ',' or ')'", 1, 37});
  ExpectError({"EXPLAIN (VERBOSE) SELECT * FROM docs",
               "syntax error at or near \"VERBOSE\": expected ANALYZE or RECALL", 1, 10});
  ExpectError({"EXPLAIN EXPLAIN SELECT * FROM docs",
               "syntax error at or near \"EXPLAIN\": expected a statement to explain (EXPLAIN "
               "does not nest)",
               1, 9});
  ExpectError({"CREATE COLLECTION c (v BLOB)",
               "syntax error at or near \"BLOB\": expected a column type (TEXT, BIGINT, INT, "
               "FLOAT, BOOL or VECTOR(n))",
               1, 24});
  ExpectError({"CREATE COLLECTION c (v VECTOR(4) METRIC hamming)",
               "syntax error at or near \"hamming\": expected a metric (COSINE, IP or L2)", 1, 41});
  ExpectError(
      {"CREATE TABLE c (id TEXT)", "syntax error at or near \"TABLE\": expected COLLECTION", 1, 8});
  ExpectError({"SELECT * FROM t WHERE a NOT GLOB 'x'",
               "syntax error at or near \"GLOB\": expected IN, BETWEEN, LIKE or ILIKE after NOT", 1,
               29});
  ExpectError({"SELECT * FROM t WHERE a IS 5",
               "syntax error at or near \"5\": expected NULL or NOT NULL", 1, 28});
  ExpectError({"SELECT * FROM t WHERE a BETWEEN 1 OR 2",
               "syntax error at or near \"OR\": expected AND", 1, 35});
  ExpectError({"SELECT * FROM t WHERE AND",
               "syntax error at or near \"AND\": expected an operand (a column, a value, a "
               "parameter or '(') (AND is a reserved word: double-quote it to use it as a name)",
               1, 23});
  ExpectError({"INSERT INTO docs VALUES (1) ON CONFLICT IGNORE",
               "syntax error at or near \"IGNORE\": expected REPLACE or DO UPDATE", 1, 41});
  ExpectError({"INSERT INTO docs SELECT",
               "syntax error at or near \"SELECT\": expected '(' or VALUES", 1, 18});
  ExpectError({"COPY docs FROM vectors.npy",
               "syntax error at or near \"vectors\": expected a file path ('...') or STDIN", 1, 16});
  ExpectError({"COPY docs TO STDIN",
               "syntax error at or near \"STDIN\": expected a file path ('...') or STDOUT", 1, 14});
  ExpectError({"SET ef_search 5", "syntax error at or near \"5\": expected '=' or TO", 1, 15});
  ExpectError({"TUNE docs FOR RECALL high",
               "syntax error at or near \"high\": expected a target recall (such as 0.95)", 1, 22});
  ExpectError({"WAIT FOR docs", "syntax error at or near \"docs\": expected INDEX", 1, 10});
  ExpectError({"WAIT FOR INDEX a b",
               "syntax error at or near \"b\": expected ';' or end of input", 1, 18});
  ExpectError({"WAIT FOR INDEX 7",
               "syntax error at or near \"7\": expected a collection name, ';' or end of input",
               1, 16});
  ExpectError(
      {"ALTER COLLECTION d SET (m 16)", "syntax error at or near \"16\": expected '='", 1, 27});
  ExpectError({"COPY d TO 'x' WITH (format)",
               "syntax error at or near \")\": expected a value for option \"format\"", 1, 27});
  ExpectError({"INSERT INTO t VALUES ([1, 'a'])",
               "syntax error at or near \"'a'\": expected a number", 1, 27});
  // A long token is cut in the message.
  ExpectError({"SELECT * FROM 'a string literal much longer than forty characters'",
               "syntax error at or near \"'a string literal much longer than fo...\": "
               "expected a collection name",
               1, 15});
}

TEST(ParserErrors, MissingParenthesis) {
  ExpectError({"INSERT INTO docs VALUES ('a', 1",
               "syntax error at end of input: expected ',' or ')'", 1, 32});
  ExpectError({"SELECT * FROM t WHERE (a = 1 OR b = 2 LIMIT 3",
               "syntax error at or near \"LIMIT\": expected ')'", 1, 39});
  ExpectError({"CREATE COLLECTION c (id TEXT, v VECTOR(4)",
               "syntax error at end of input: expected MATRYOSHKA, METRIC, PRIMARY KEY, ',' or "
               "')'",
               1, 42});
  ExpectError({"CREATE COLLECTION c (id TEXT PRIMARY KEY;",
               "syntax error at or near \";\": expected ',' or ')'", 1, 41});
  ExpectError({"SELECT * FROM docs ORDER BY embedding <=> [1, 2",
               "syntax error at end of input: expected ',' or ']'", 1, 48});
}

TEST(ParserErrors, RaggedMatrixAndEmptyVector) {
  ExpectError({"SELECT id FROM docs ORDER BY embedding <=> [[1, 2],\n [3]]",
               "ragged matrix: row 2 has 1 element but row 1 has 2", 2, 2});
  ExpectError({"SELECT id FROM docs ORDER BY e <=> [[1], [2], [3, 4, 5]]",
               "ragged matrix: row 3 has 3 elements but row 1 has 1", 1, 47});
  ExpectError({"INSERT INTO docs VALUES ('a', [])",
               "syntax error at or near \"]\": expected a number (a vector cannot be empty)", 1,
               32});
  ExpectError({"SELECT id FROM docs ORDER BY e <=> [[1], []]",
               "syntax error at or near \"]\": expected a number (a vector cannot be empty)", 1,
               43});
  ExpectError({"SELECT id FROM docs ORDER BY e <=> [[1], 2]",
               "syntax error at or near \"2\": expected '[' (a matrix row)", 1, 42});
}

TEST(ParserErrors, UnknownStatement) {
  ExpectError({"SELEKT * FROM docs",
               "syntax error at or near \"SELEKT\": expected " + std::string(kStatements) +
                   "; did you mean SELECT?", 1, 1});
  auto script = ParseScript("SHOW COLLECTIONS;\n  GRANT ALL");
  ASSERT_FALSE(script.ok());
  ExpectError(
      script.status(),
      {"", "syntax error at or near \"GRANT\": expected " + std::string(kStatements), 2, 3});
  auto empty = ParseStatement("  -- nothing");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(),
            "syntax error at end of input: expected " + std::string(kStatements));
}

TEST(ParserErrors, TrailingGarbage) {
  ExpectError({"SELECT * FROM docs LIMIT 10 garbage",
               "syntax error at or near \"garbage\": expected OFFSET, USING, ';' or end of input", 1, 29});
  ExpectError({"SELECT * FROM docs WHERE a = 1 b",
               "syntax error at or near \"b\": expected AND, OR, GROUP BY, ORDER BY, LIMIT, OFFSET, "
               "USING, ';' or end of input",
               1, 32});
  ExpectError({"SELECT * FROM docs x",
               "syntax error at or near \"x\": expected WHERE, GROUP BY, ORDER BY, LIMIT, OFFSET, "
               "USING, ';' or end of input",
               1, 20});
  ExpectError({"SELECT * FROM d USING FUNNEL (64, 768) x",
               "syntax error at or near \"x\": expected EF, ';' or end of input", 1, 40});
  ExpectError({"DROP COLLECTION docs extra",
               "syntax error at or near \"extra\": expected ';' or end of input", 1, 22});
  ExpectError({"INSERT INTO d VALUES (1) (2)",
               "syntax error at or near \"(\": expected ',', ON CONFLICT, RETURNING, ';' or end of input", 1,
               26});
  ExpectError({"TUNE d FOR RECALL 0.9 10",
               "syntax error at or near \"10\": expected AT, USING, ';' or end of input", 1, 23});
  ExpectError({"TUNE d FOR RECALL 0.9 AT 10 x",
               "syntax error at or near \"x\": expected USING, ';' or end of input", 1, 29});
  ExpectError({"TUNE d FOR RECALL 0.9 USING QUERIES FROM q",
               "syntax error at or near \"q\": expected a file path ('...')", 1, 42});
  ExpectError({"TUNE d FOR RECALL 0.9 USING QUERIES FROM 'q.npy' AT 10",
               "syntax error at or near \"AT\": expected ';' or end of input", 1, 50});
  ExpectError({"TUNE d FOR RECALL 0.9 USING FUNNEL",
               "syntax error at or near \"FUNNEL\": expected QUERIES", 1, 29});
  // ParseStatement takes exactly one statement; ParseScript takes both.
  auto two = ParseStatement("SHOW ALL; SHOW COLLECTIONS;");
  ASSERT_FALSE(two.ok());
  ExpectError(two.status(), {"",
                             "syntax error at or near \"SHOW\": expected end of input (one "
                             "statement only)",
                             1, 11});
  EXPECT_TRUE(ParseScript("SHOW ALL; SHOW COLLECTIONS;").ok());
}

TEST(ParserErrors, FirstErrorWins) {
  // A syntax error before a tokenizer error is reported, and the other way round.
  ExpectError({"SELEKT 'unterminated",
               "syntax error at or near \"SELEKT\": expected " + std::string(kStatements) +
                   "; did you mean SELECT?", 1, 1});
  ExpectError({"SELECT * FROM ; 'unterminated",
               "syntax error at or near \";\": expected a collection name", 1, 15});
  ExpectError({"SELECT * FROM docs 'unterminated", "unterminated string literal: missing closing '",
               1, 20});
  auto script = ParseScript("SHOW ALL;\nSHOW COLLECTIONS; @");
  ASSERT_FALSE(script.ok());
  ExpectError(script.status(), {"", "unexpected character \"@\"", 2, 19});
  // A statement that ends where the tokenizer failed is not accepted either.
  script = ParseScript("DROP COLLECTION docs $0");
  ASSERT_FALSE(script.ok());
  ExpectError(script.status(),
              {"", "invalid parameter \"$0\": parameters are numbered from $1", 1, 22});
}

}  // namespace
}  // namespace mrldb::query
