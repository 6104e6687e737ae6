// The tokenizer: token kinds and spellings, escapes, numbers, comments, positions, and every
// lexical error with its message and position.
#include "query/tokenizer.h"

#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mrldb::query {
namespace {

std::vector<Token> Lex(std::string_view sql) {
  auto tokens = Tokenize(sql);
  EXPECT_TRUE(tokens.ok()) << sql << ": " << tokens.status().ToString();
  return tokens.ok() ? std::move(tokens).value() : std::vector<Token>{};
}

std::vector<std::string> Texts(const std::vector<Token>& tokens) {
  std::vector<std::string> texts;
  for (const Token& t : tokens) texts.emplace_back(t.text);
  return texts;
}

// Tokenizing `sql` fails with exactly `message` at line:column.
void ExpectLexError(std::string_view sql, std::string_view message, uint32_t line,
                    uint32_t column) {
  auto tokens = Tokenize(sql);
  ASSERT_FALSE(tokens.ok()) << sql;
  EXPECT_TRUE(tokens.status().IsInvalidArgument());
  EXPECT_EQ(tokens.status().message(), message) << sql;
  EXPECT_EQ(tokens.status().line(), line) << sql;
  EXPECT_EQ(tokens.status().column(), column) << sql;
}

TEST(Tokenizer, KindsAndSpellings) {
  const auto tokens = Lex("SELECT \"My Col\", 'it''s' 42 1.5 2e-3 .5 7. $3 x_1");
  using K = TokenKind;
  const std::vector<K> kinds = {K::kIdentifier, K::kQuotedIdentifier,
                                K::kComma,      K::kString,
                                K::kInteger,    K::kFloat,
                                K::kFloat,      K::kFloat,
                                K::kFloat,      K::kParameter,
                                K::kIdentifier, K::kEnd};
  ASSERT_EQ(tokens.size(), kinds.size());
  for (size_t i = 0; i < kinds.size(); ++i) EXPECT_EQ(tokens[i].kind, kinds[i]) << i;
  EXPECT_EQ(Texts(tokens), (std::vector<std::string>{"SELECT", "\"My Col\"", ",", "'it''s'", "42",
                                                     "1.5", "2e-3", ".5", "7.", "$3", "x_1", ""}));
  EXPECT_EQ(tokens[1].value, "My Col");
  EXPECT_EQ(tokens[3].value, "it's");
  EXPECT_EQ(tokens[4].integer, 42u);
  EXPECT_DOUBLE_EQ(tokens[5].number, 1.5);
  EXPECT_DOUBLE_EQ(tokens[6].number, 0.002);
  EXPECT_DOUBLE_EQ(tokens[7].number, 0.5);
  EXPECT_DOUBLE_EQ(tokens[8].number, 7.0);
  EXPECT_EQ(tokens[9].integer, 3u);
}

TEST(Tokenizer, Operators) {
  const auto tokens = Lex("= != <> < <= > >= <=> <-> <#> , ; ( ) [ ] : * . -");
  using K = TokenKind;
  const std::vector<K> kinds = {K::kEq,         K::kNe,           K::kNe,       K::kLt,
                                K::kLe,         K::kGt,           K::kGe,       K::kCosineDistance,
                                K::kL2Distance, K::kInnerProduct, K::kComma,    K::kSemicolon,
                                K::kLParen,     K::kRParen,       K::kLBracket, K::kRBracket,
                                K::kColon,      K::kStar,         K::kDot,      K::kMinus,
                                K::kEnd};
  ASSERT_EQ(tokens.size(), kinds.size());
  for (size_t i = 0; i < kinds.size(); ++i) EXPECT_EQ(tokens[i].kind, kinds[i]) << i;
  // Longest match, without spaces.
  EXPECT_EQ(Texts(Lex("a<=>b<-1<#>[1]<>2")),
            (std::vector<std::string>{"a", "<=>", "b", "<", "-", "1", "<#>", "[", "1", "]", "<>",
                                      "2", ""}));
}

TEST(Tokenizer, KeywordsAreCaseInsensitiveNamesKeepTheirCase) {
  const auto tokens = Lex("select SeLeCt Docs \"select\"");
  EXPECT_TRUE(IsKeyword(tokens[0], "SELECT"));
  EXPECT_TRUE(IsKeyword(tokens[1], "SELECT"));
  EXPECT_FALSE(IsKeyword(tokens[2], "SELECT"));
  EXPECT_EQ(tokens[2].text, "Docs");             // kept as written
  EXPECT_FALSE(IsKeyword(tokens[3], "SELECT"));  // quoted: never a keyword
  EXPECT_EQ(tokens[3].value, "select");
  EXPECT_EQ(Lex("\"a\"\"b\"")[0].value, "a\"b");
  EXPECT_EQ(Lex("''")[0].value, "");
  EXPECT_EQ(Lex("'multi\nline'")[0].value, "multi\nline");
}

TEST(Tokenizer, CommentsAndPositions) {
  const auto tokens = Lex("-- leading comment\n  SELECT /* a\nblock */ id--trailing\n\t,x");
  ASSERT_EQ(Texts(tokens), (std::vector<std::string>{"SELECT", "id", ",", "x", ""}));
  EXPECT_EQ(tokens[0].pos.line, 2u);
  EXPECT_EQ(tokens[0].pos.column, 3u);
  EXPECT_EQ(tokens[0].pos.offset, 21u);
  EXPECT_EQ(tokens[1].pos.line, 3u);
  EXPECT_EQ(tokens[1].pos.column, 10u);
  EXPECT_EQ(tokens[2].pos.line, 4u);
  EXPECT_EQ(tokens[2].pos.column, 2u);  // a tab is one column
  EXPECT_EQ(tokens[3].pos.column, 3u);
  // The end token sits just after the last token, not after trailing space or comments.
  EXPECT_EQ(tokens[4].pos.line, 4u);
  EXPECT_EQ(tokens[4].pos.column, 4u);
  EXPECT_EQ(Lex("")[0].pos.column, 1u);
  EXPECT_EQ(Lex("  -- only a comment").size(), 1u);
}

TEST(Tokenizer, ColumnsCountCharactersNotBytes) {
  const auto tokens = Lex("'héllo wörld' x\r\ny");
  EXPECT_EQ(tokens[1].pos.column, 15u);
  EXPECT_EQ(tokens[1].pos.offset, 16u);
  EXPECT_EQ(tokens[2].pos.line, 2u);
  EXPECT_EQ(tokens[2].pos.column, 1u);
}

TEST(Tokenizer, IntegerRange) {
  EXPECT_EQ(Lex("9223372036854775807")[0].integer,
            static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
  EXPECT_EQ(Lex("9223372036854775808")[0].integer, uint64_t{1} << 63);  // for -2^63
  ExpectLexError("SELECT 9223372036854775809",
                 "integer 9223372036854775809 is out of range for a "
                 "64-bit integer",
                 1, 8);
  ExpectLexError("x\n  123456789012345678901234",
                 "integer 123456789012345678901234 is out of "
                 "range for a 64-bit integer",
                 2, 3);
  ExpectLexError("1e999", "number 1e999 is out of range for a double", 1, 1);
}

TEST(Tokenizer, Errors) {
  ExpectLexError("SELECT 'abc", "unterminated string literal: missing closing '", 1, 8);
  ExpectLexError("x\n  'it''s", "unterminated string literal: missing closing '", 2, 3);
  ExpectLexError("SELECT \"abc", "unterminated quoted identifier: missing closing \"", 1, 8);
  ExpectLexError("SELECT \"\" FROM", "zero-length quoted identifier \"\"", 1, 8);
  ExpectLexError("SELECT 1 /* never\nclosed", "unterminated comment: /* without */", 1, 10);
  ExpectLexError("SELECT @", "unexpected character \"@\"", 1, 8);
  ExpectLexError("a ! b", "unexpected character \"!\"", 1, 3);
  ExpectLexError("é €", "unexpected character \"é\"", 1, 1);
  ExpectLexError("x\x01", "unexpected character \\x01", 1, 2);
  ExpectLexError("LIMIT 12abc", "invalid number \"12abc\"", 1, 7);
  ExpectLexError("1e", "invalid number \"1e\"", 1, 1);
  ExpectLexError("[1e+]", "invalid number \"1e+\"", 1, 2);
  ExpectLexError("1.2.3", "invalid number \"1.2.3\"", 1, 1);
  ExpectLexError("$", "invalid parameter \"$\": expected $1, $2, ...", 1, 1);
  ExpectLexError("$x", "invalid parameter \"$x\": expected $1, $2, ...", 1, 1);
  ExpectLexError("$1a", "invalid parameter \"$1a\": expected $1, $2, ...", 1, 1);
  ExpectLexError("$0", "invalid parameter \"$0\": parameters are numbered from $1", 1, 1);
  ExpectLexError("$4294967296", "parameter number $4294967296 is out of range", 1, 1);
  EXPECT_EQ(Lex("$4294967295")[0].integer, 4294967295u);
}

}  // namespace
}  // namespace mrldb::query
