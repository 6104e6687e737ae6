// The tokenizer of mrldb's SQL-like language (lexical grammar: docs/sql.md, "Tokens").
//
// Bare words (keywords and names alike) are kIdentifier tokens spelled as written; the parser
// compares keywords case-insensitively (IsKeyword) and leaves name matching to the binder.
// Whitespace and comments (-- to the end of the line, /* ... */ not nested) separate tokens and
// produce none.
//
// Positions: 1-based line and column plus byte offset of a token's first character. A column
// counts characters (UTF-8 code points), a tab is one column; lines end at '\n' ("\r\n" works).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mrldb/status.h"
#include "query/ast.h"

namespace mrldb::query {

enum class TokenKind : uint8_t {
  kEnd,               // end of input; text is empty
  kIdentifier,        // [A-Za-z_][A-Za-z0-9_]*: a keyword or a name
  kQuotedIdentifier,  // "name": `value` holds the name, "" unescaped to "
  kString,            // 'text': `value` holds the text, '' unescaped to '
  kInteger,           // digits: magnitude in `integer` (<= 2^63, so that -2^63 parses)
  kFloat,             // digits with '.' and/or an exponent: `number`
  kParameter,         // $n, n >= 1: n in `integer`
  kEq,                // =
  kNe,                // != or <>
  kLt,                // <
  kLe,                // <=
  kGt,                // >
  kGe,                // >=
  kCosineDistance,    // <=>
  kL2Distance,        // <->
  kInnerProduct,      // <#>
  kComma,             // ,
  kSemicolon,         // ;
  kLParen,            // (
  kRParen,            // )
  kLBracket,          // [
  kRBracket,          // ]
  kColon,             // :
  kStar,              // *
  kDot,               // .
  kMinus,             // -
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  // The token's source spelling (a view into the tokenizer's input), quotes included.
  std::string_view text;
  // First character of the token. For kEnd: just after the last token (1:1 with no tokens).
  Position pos;
  // kString and kQuotedIdentifier: the unescaped contents.
  std::string value;
  // kInteger: the magnitude, 0..2^63 (2^63 is only valid after a unary minus; the parser checks).
  // kParameter: the parameter number, 1..2^32-1.
  uint64_t integer = 0;
  // kFloat: the value (finite); kInteger: the magnitude as a double.
  double number = 0;
};

// True when `token` is a bare word equal to `keyword` ignoring case. REQUIRES: `keyword` is
// upper-case ASCII. A quoted identifier is never a keyword.
bool IsKeyword(const Token& token, std::string_view keyword);

// ASCII upper- and lower-case copies of `s` (other bytes unchanged).
std::string ToUpper(std::string_view s);
std::string ToLower(std::string_view s);

// Splits `input` into tokens, one at a time. The input must outlive the tokenizer and its tokens
// (Token::text points into it).
class Tokenizer {
 public:
  explicit Tokenizer(std::string_view input) : input_(input) {}

  // The next token; kEnd at the end of the input (and on every call after). Errors are
  // InvalidArgument with the line and column of the offending character (for an unterminated
  // string, quoted identifier or comment: of its opening quote or "/*"): an unterminated one of
  // those, a zero-length quoted identifier, a character that starts no token, a malformed
  // number ("12abc", "1e", "1.2.3") or parameter ("$", "$x", "$0"), an integer above 2^63, a
  // float outside the range of double, a parameter number above 2^32-1. After an error the
  // tokenizer must not be used again.
  Result<Token> Next();

 private:
  bool AtEnd() const { return offset_ >= input_.size(); }
  char Peek(size_t ahead = 0) const {
    return offset_ + ahead < input_.size() ? input_[offset_ + ahead] : '\0';
  }
  void Advance();  // one byte, keeping line and column
  Position Here() const { return Position{line_, column_, static_cast<uint32_t>(offset_)}; }
  Status ErrorAt(const Position& pos, std::string message) const;

  Status SkipSpaceAndComments();
  Result<Token> Scan(Token token);  // REQUIRES: !AtEnd()
  Result<Token> ScanNumber(Token token);
  Result<Token> ScanParameter(Token token);
  Result<Token> ScanQuoted(Token token, char quote);
  Result<Token> ScanOperator(Token token);

  std::string_view input_;
  size_t offset_ = 0;
  uint32_t line_ = 1;
  uint32_t column_ = 1;
  Position last_end_;  // just after the last token returned
};

// All tokens of `input`, the last one kEnd; or the first error (see Tokenizer::Next).
Result<std::vector<Token>> Tokenize(std::string_view input);

}  // namespace mrldb::query
