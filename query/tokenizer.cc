#include "query/tokenizer.h"

#include <charconv>
#include <limits>
#include <system_error>

#include <fmt/format.h>

namespace mrldb::query {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsWordStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsWordChar(char c) { return IsWordStart(c) || IsDigit(c); }
char Upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// The character at the start of `rest` as it should appear in a message: printable ASCII and
// whole UTF-8 sequences as they are, anything else as \xNN.
std::string DescribeChar(std::string_view rest) {
  const auto lead = static_cast<unsigned char>(rest[0]);
  if (lead >= 0x20 && lead < 0x7f) return fmt::format("\"{}\"", rest[0]);
  size_t len = lead >= 0xf0 && lead < 0xf8 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 0;
  if (len > 1 && len <= rest.size()) {
    bool valid = true;
    for (size_t i = 1; i < len; ++i) {
      valid = valid && (static_cast<unsigned char>(rest[i]) & 0xc0) == 0x80;
    }
    if (valid) return fmt::format("\"{}\"", rest.substr(0, len));
  }
  return fmt::format("\\x{:02X}", lead);
}

}  // namespace

bool IsKeyword(const Token& token, std::string_view keyword) {
  if (token.kind != TokenKind::kIdentifier || token.text.size() != keyword.size()) return false;
  for (size_t i = 0; i < keyword.size(); ++i) {
    if (Upper(token.text[i]) != keyword[i]) return false;
  }
  return true;
}

std::string ToUpper(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = Upper(c);
  return r;
}

std::string ToLower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = Lower(c);
  return r;
}

void Tokenizer::Advance() {
  const char c = input_[offset_++];
  if (c == '\n') {
    ++line_;
    column_ = 1;
  } else if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) {  // not a UTF-8 continuation
    ++column_;
  }
}

Status Tokenizer::ErrorAt(const Position& pos, std::string message) const {
  return Status::InvalidArgument(std::move(message)).WithPosition(pos.line, pos.column);
}

Status Tokenizer::SkipSpaceAndComments() {
  while (!AtEnd()) {
    const char c = Peek();
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      Advance();
    } else if (c == '-' && Peek(1) == '-') {
      while (!AtEnd() && Peek() != '\n') Advance();
    } else if (c == '/' && Peek(1) == '*') {
      const Position start = Here();
      Advance();
      Advance();
      while (!(Peek() == '*' && Peek(1) == '/')) {
        if (AtEnd()) return ErrorAt(start, "unterminated comment: /* without */");
        Advance();
      }
      Advance();
      Advance();
    } else {
      break;
    }
  }
  return Status::Ok();
}

Result<Token> Tokenizer::Next() {
  MRLDB_RETURN_IF_ERROR(SkipSpaceAndComments());
  Token token;
  token.pos = Here();
  if (AtEnd()) {
    token.pos = last_end_;
    return token;
  }
  Result<Token> result = Scan(std::move(token));
  if (!result.ok()) return result;
  result->text = input_.substr(result->pos.offset, offset_ - result->pos.offset);
  last_end_ = Here();
  return result;
}

Result<Token> Tokenizer::Scan(Token token) {
  const char c = Peek();
  if (IsWordStart(c)) {
    token.kind = TokenKind::kIdentifier;
    while (IsWordChar(Peek())) Advance();
    return token;
  }
  if (IsDigit(c) || (c == '.' && IsDigit(Peek(1)))) return ScanNumber(std::move(token));
  if (c == '$') return ScanParameter(std::move(token));
  if (c == '\'' || c == '"') return ScanQuoted(std::move(token), c);
  return ScanOperator(std::move(token));
}

Result<Token> Tokenizer::ScanNumber(Token token) {
  bool is_float = false;
  while (IsDigit(Peek())) Advance();
  if (Peek() == '.') {
    is_float = true;
    Advance();
    while (IsDigit(Peek())) Advance();
  }
  bool bad = false;
  if (Peek() == 'e' || Peek() == 'E') {
    is_float = true;
    Advance();
    if (Peek() == '+' || Peek() == '-') Advance();
    bad = !IsDigit(Peek());
    while (IsDigit(Peek())) Advance();
  }
  // "12abc", "1.2.3": the number runs into a word or another '.'.
  if (IsWordChar(Peek()) || Peek() == '.') {
    bad = true;
    while (IsWordChar(Peek()) || Peek() == '.') Advance();
  }
  const std::string_view text = input_.substr(token.pos.offset, offset_ - token.pos.offset);
  if (bad) return ErrorAt(token.pos, fmt::format("invalid number \"{}\"", text));
  if (is_float) {
    token.kind = TokenKind::kFloat;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), token.number);
    if (ec == std::errc::result_out_of_range) {
      return ErrorAt(token.pos, fmt::format("number {} is out of range for a double", text));
    }
    if (ec != std::errc() || end != text.data() + text.size()) {
      return ErrorAt(token.pos, fmt::format("invalid number \"{}\"", text));
    }
    return token;
  }
  token.kind = TokenKind::kInteger;
  constexpr uint64_t kMaxMagnitude = uint64_t{1} << 63;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), token.integer);
  if (ec == std::errc::result_out_of_range ||
      (ec == std::errc() && token.integer > kMaxMagnitude)) {
    return ErrorAt(token.pos, fmt::format("integer {} is out of range for a 64-bit integer", text));
  }
  if (ec != std::errc() || end != text.data() + text.size()) {
    return ErrorAt(token.pos, fmt::format("invalid number \"{}\"", text));
  }
  token.number = static_cast<double>(token.integer);
  return token;
}

Result<Token> Tokenizer::ScanParameter(Token token) {
  Advance();  // $
  const size_t digits = offset_;
  while (IsWordChar(Peek())) Advance();
  const std::string_view text = input_.substr(token.pos.offset, offset_ - token.pos.offset);
  const std::string_view number = input_.substr(digits, offset_ - digits);
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), token.integer);
  if (number.empty() || ec == std::errc::invalid_argument || end != number.data() + number.size()) {
    return ErrorAt(token.pos, fmt::format("invalid parameter \"{}\": expected $1, $2, ...", text));
  }
  if (ec == std::errc::result_out_of_range ||
      token.integer > std::numeric_limits<uint32_t>::max()) {
    return ErrorAt(token.pos, fmt::format("parameter number {} is out of range", text));
  }
  if (token.integer == 0) {
    return ErrorAt(token.pos, "invalid parameter \"$0\": parameters are numbered from $1");
  }
  token.kind = TokenKind::kParameter;
  return token;
}

Result<Token> Tokenizer::ScanQuoted(Token token, char quote) {
  const bool is_string = quote == '\'';
  token.kind = is_string ? TokenKind::kString : TokenKind::kQuotedIdentifier;
  Advance();  // the opening quote
  while (true) {
    if (AtEnd()) {
      return ErrorAt(token.pos, is_string ? "unterminated string literal: missing closing '"
                                          : "unterminated quoted identifier: missing closing \"");
    }
    const char c = Peek();
    Advance();
    if (c == quote) {
      if (Peek() != quote) break;
      Advance();  // a doubled quote stands for one
    }
    token.value.push_back(c);
  }
  if (!is_string && token.value.empty()) {
    return ErrorAt(token.pos, "zero-length quoted identifier \"\"");
  }
  return token;
}

Result<Token> Tokenizer::ScanOperator(Token token) {
  struct Op {
    std::string_view text;
    TokenKind kind;
  };
  // Longest first, so that "<=>" is not read as "<=" then ">".
  static constexpr Op kOps[] = {
      {"<=>", TokenKind::kCosineDistance},
      {"<->", TokenKind::kL2Distance},
      {"<#>", TokenKind::kInnerProduct},
      {"<=", TokenKind::kLe},
      {">=", TokenKind::kGe},
      {"<>", TokenKind::kNe},
      {"!=", TokenKind::kNe},
      {"=", TokenKind::kEq},
      {"<", TokenKind::kLt},
      {">", TokenKind::kGt},
      {",", TokenKind::kComma},
      {";", TokenKind::kSemicolon},
      {"(", TokenKind::kLParen},
      {")", TokenKind::kRParen},
      {"[", TokenKind::kLBracket},
      {"]", TokenKind::kRBracket},
      {":", TokenKind::kColon},
      {"*", TokenKind::kStar},
      {".", TokenKind::kDot},
      {"-", TokenKind::kMinus},
  };
  const std::string_view rest = input_.substr(offset_);
  for (const Op& op : kOps) {
    if (rest.substr(0, op.text.size()) == op.text) {
      for (size_t i = 0; i < op.text.size(); ++i) Advance();
      token.kind = op.kind;
      return token;
    }
  }
  return ErrorAt(token.pos, fmt::format("unexpected character {}", DescribeChar(rest)));
}

Result<std::vector<Token>> Tokenize(std::string_view input) {
  Tokenizer tokenizer(input);
  std::vector<Token> tokens;
  while (true) {
    MRLDB_ASSIGN_OR_RETURN(Token token, tokenizer.Next());
    const bool end = token.kind == TokenKind::kEnd;
    tokens.push_back(std::move(token));
    if (end) return tokens;
  }
}

}  // namespace mrldb::query
