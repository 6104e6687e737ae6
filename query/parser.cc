// The parser's core: the token stream and its errors, names and literals, predicates, vectors,
// plans and options; and the two entry points of parser.h. The statements themselves are in
// parser_statements.cc. Grammar: docs/sql.md.
#include "query/parser.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "query/parser_internal.h"
#include "query/suggest.h"

namespace mrldb::query {

Result<std::vector<Statement>> ParseScript(std::string_view sql) {
  return internal::Parser(sql).ParseScript();
}

Result<Statement> ParseStatement(std::string_view sql) { return internal::Parser(sql).ParseOne(); }

std::vector<ScriptStatement> SplitScript(std::string_view sql) {
  std::vector<ScriptStatement> out;
  Tokenizer tokenizer(sql);
  std::optional<Position> first;  // of the statement being read
  size_t end = 0;                 // just after its last token
  Position after_semicolon;       // where the next statement's text may start
  for (;;) {
    Result<Token> token = tokenizer.Next();
    if (!token.ok()) {
      const Position from = first.value_or(after_semicolon);
      out.push_back({sql.substr(from.offset), from});
      return out;
    }
    if (token->kind == TokenKind::kSemicolon || token->kind == TokenKind::kEnd) {
      if (first) out.push_back({sql.substr(first->offset, end - first->offset), *first});
      if (token->kind == TokenKind::kEnd) return out;
      first.reset();
      after_semicolon = token->pos;
      after_semicolon.offset += 1;
      after_semicolon.column += 1;
      continue;
    }
    if (!first) first = token->pos;
    end = token->pos.offset + token->text.size();
  }
}

namespace internal {
namespace {

constexpr uint64_t kMaxInt64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// Words that cannot be bare names (collections, columns, aliases); "quoted" they can.
constexpr std::string_view kReserved[] = {
    "AND",    "AS",    "BETWEEN", "BY",     "CREATE", "DELETE", "DROP",  "EXPLAIN",
    "FALSE",  "FROM",  "IN",      "INSERT", "INTO",   "IS",     "LIMIT", "NOT",
    "NULL",   "ON",    "OR",      "ORDER",  "SELECT", "SET",    "TRUE",  "UPDATE",
    "UPSERT", "USING", "VALUES",  "WHERE",  "WITH",
};

template <typename T>
ExprPtr MakeExpr(const Position& pos, T node) {
  auto expr = std::make_unique<Expr>();
  expr->pos = pos;
  expr->node = std::move(node);
  return expr;
}

// A token's spelling for a message, cut to a readable length.
std::string Quote(std::string_view text) {
  constexpr size_t kMax = 40;
  if (text.size() <= kMax) return fmt::format("\"{}\"", text);
  size_t cut = kMax - 3;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;  // UTF-8
  return fmt::format("\"{}...\"", text.substr(0, cut));
}

std::optional<CompareOp> CompareOpOf(TokenKind kind) {
  switch (kind) {
    case TokenKind::kEq: return CompareOp::kEq;
    case TokenKind::kNe: return CompareOp::kNe;
    case TokenKind::kLt: return CompareOp::kLt;
    case TokenKind::kLe: return CompareOp::kLe;
    case TokenKind::kGt: return CompareOp::kGt;
    case TokenKind::kGe: return CompareOp::kGe;
    default: return std::nullopt;
  }
}

}  // namespace

// ---- Token stream and errors ----

const Token& Parser::Peek(size_t ahead) {
  while (lookahead_.size() <= ahead) {
    if (!lookahead_.empty() && lookahead_.back().kind == TokenKind::kEnd) return lookahead_.back();
    Result<Token> token = tokenizer_.Next();
    if (token.ok()) {
      lookahead_.push_back(std::move(token).value());
    } else {
      lex_error_ = token.status();
      Token stand_in;  // kEnd where the tokenizer stopped
      stand_in.pos =
          Position{lex_error_.line(), lex_error_.column(), static_cast<uint32_t>(sql_.size())};
      lookahead_.push_back(std::move(stand_in));
    }
  }
  return lookahead_[ahead];
}

Token Parser::Advance() {
  if (Peek().kind == TokenKind::kEnd) return lookahead_.front();
  Token token = std::move(lookahead_.front());
  lookahead_.pop_front();
  consumed_end_ = token.pos.offset + token.text.size();
  return token;
}

bool Parser::Accept(TokenKind kind) {
  if (!Is(kind)) return false;
  Advance();
  return true;
}

bool Parser::AcceptKeyword(std::string_view keyword) {
  if (!AtKeyword(keyword)) return false;
  Advance();
  return true;
}

Status Parser::Expect(TokenKind kind, std::string_view expected) {
  if (Accept(kind)) return Status::Ok();
  return SyntaxError(Peek(), expected);
}

Status Parser::ExpectKeyword(std::string_view keyword) {
  if (AcceptKeyword(keyword)) return Status::Ok();
  return SyntaxError(Peek(), keyword);
}

Status Parser::ErrorAt(const Token& at, std::string message) const {
  if (at.kind == TokenKind::kEnd && !lex_error_.ok()) return lex_error_;
  return Status::InvalidArgument(std::move(message)).WithPosition(at.pos.line, at.pos.column);
}

Status Parser::SyntaxError(const Token& at, std::string_view expected) const {
  const std::string where = at.kind == TokenKind::kEnd
                                ? std::string("at end of input")
                                : fmt::format("at or near {}", Quote(at.text));
  // A bare word near one of the expected keywords ("SELCT", "FORM") is likely that keyword.
  std::string hint;
  if (at.kind == TokenKind::kIdentifier) {
    std::vector<std::string> keywords;
    for (size_t i = 0; i < expected.size();) {
      size_t j = i;
      while (j < expected.size() && ((expected[j] >= 'A' && expected[j] <= 'Z') || expected[j] == '_')) ++j;
      if (j - i >= 2) keywords.emplace_back(expected.substr(i, j - i));
      i = j == i ? i + 1 : j;
    }
    hint = DidYouMean(at.text, keywords, /*quote=*/false);
  }
  return ErrorAt(at, fmt::format("syntax error {}: expected {}{}", where, expected, hint));
}

Status Parser::ExpectStatementEnd(std::string_view clauses) {
  if (Is(TokenKind::kSemicolon) || Is(TokenKind::kEnd)) return Status::Ok();
  if (clauses.empty()) return SyntaxError(Peek(), "';' or end of input");
  return SyntaxError(Peek(), fmt::format("{}, ';' or end of input", clauses));
}

// ---- Entry points ----

Result<std::vector<Statement>> Parser::ParseScript() {
  std::vector<Statement> statements;
  while (true) {
    while (Accept(TokenKind::kSemicolon)) {
    }
    if (Is(TokenKind::kEnd)) break;
    MRLDB_ASSIGN_OR_RETURN(Statement statement, ParseStatementHere());
    statements.push_back(std::move(statement));
  }
  if (!lex_error_.ok()) return lex_error_;
  return statements;
}

Result<Statement> Parser::ParseOne() {
  MRLDB_ASSIGN_OR_RETURN(Statement statement, ParseStatementHere());
  while (Accept(TokenKind::kSemicolon)) {
  }
  if (!Is(TokenKind::kEnd)) return SyntaxError(Peek(), "end of input (one statement only)");
  if (!lex_error_.ok()) return lex_error_;
  return statement;
}

// ---- Names, numbers, literals ----

bool Parser::IsReserved(const Token& token) {
  for (std::string_view word : kReserved) {
    if (IsKeyword(token, word)) return true;
  }
  return false;
}

Result<std::string> Parser::ParseName(std::string_view what) {
  const Token& token = Peek();
  if (token.kind == TokenKind::kQuotedIdentifier) return Advance().value;
  if (token.kind != TokenKind::kIdentifier) return SyntaxError(token, what);
  if (IsReserved(token)) {
    return SyntaxError(token, fmt::format("{} ({} is a reserved word: double-quote it to use it "
                                          "as a name)",
                                          what, ToUpper(token.text)));
  }
  return std::string(Advance().text);
}

Result<std::string> Parser::ParseWord(std::string_view what) {
  if (!Is(TokenKind::kIdentifier)) return SyntaxError(Peek(), what);
  return std::string(Advance().text);
}

Result<std::string> Parser::ParseVariableName(std::string_view what) {
  MRLDB_ASSIGN_OR_RETURN(std::string name, ParseWord(what));
  while (Accept(TokenKind::kDot)) {
    MRLDB_ASSIGN_OR_RETURN(std::string part, ParseWord("a setting name after '.'"));
    name += '.';
    name += part;
  }
  return ToLower(name);
}

Result<uint64_t> Parser::ParseUnsigned(std::string_view what, uint64_t max) {
  const Token& token = Peek();
  if (token.kind != TokenKind::kInteger) return SyntaxError(token, what);
  if (token.integer > max) {
    return SyntaxError(token, fmt::format("{} (at most {})", what, max));
  }
  return Advance().integer;
}

Result<uint32_t> Parser::ParseUint32(std::string_view what) {
  MRLDB_ASSIGN_OR_RETURN(uint64_t value, ParseUnsigned(what, std::numeric_limits<uint32_t>::max()));
  return static_cast<uint32_t>(value);
}

Result<double> Parser::ParseSignedNumber(std::string_view what) {
  const bool negative = Accept(TokenKind::kMinus);
  if (!Is(TokenKind::kInteger) && !Is(TokenKind::kFloat)) {
    return SyntaxError(Peek(), negative ? "a number after '-'" : what);
  }
  const double number = Advance().number;
  return negative ? -number : number;
}

bool Parser::AtLiteral() {
  const TokenKind kind = Peek().kind;
  return kind == TokenKind::kString || kind == TokenKind::kInteger || kind == TokenKind::kFloat ||
         kind == TokenKind::kMinus || AtKeyword("NULL") || AtKeyword("TRUE") || AtKeyword("FALSE");
}

Result<Value> Parser::ParseLiteral(std::string_view what) {
  if (AcceptKeyword("NULL")) return Value{};
  if (AcceptKeyword("TRUE")) return Value{true};
  if (AcceptKeyword("FALSE")) return Value{false};
  if (Is(TokenKind::kString)) return Value{Advance().value};
  const bool negative = Accept(TokenKind::kMinus);
  if (Is(TokenKind::kFloat)) {
    const double number = Advance().number;
    return Value{negative ? -number : number};
  }
  if (!Is(TokenKind::kInteger)) return SyntaxError(Peek(), negative ? "a number after '-'" : what);
  if (Peek().integer > kMaxInt64 && !negative) {  // 2^63: only -2^63 fits
    return ErrorAt(Peek(),
                   fmt::format("integer {} is out of range for a 64-bit integer", Peek().text));
  }
  const uint64_t magnitude = Advance().integer;
  if (!negative) return Value{static_cast<int64_t>(magnitude)};
  // -(2^63) is INT64_MIN; computed in unsigned arithmetic to avoid overflow.
  return Value{static_cast<int64_t>(uint64_t{0} - magnitude)};
}

// ---- Expressions ----

// A chain of one operator is one flat node (a loop, never recursion), so a WHERE clause of
// thousands of ORs costs no stack in the parser, the binder or the tree's destructor.
Result<ExprPtr> Parser::ParsePredicate() {
  MRLDB_ASSIGN_OR_RETURN(ExprPtr first, ParseConjunction());
  if (!AtKeyword("OR")) return first;
  const Position pos = first->pos;
  std::vector<ExprPtr> operands;
  operands.push_back(std::move(first));
  while (AcceptKeyword("OR")) {
    MRLDB_ASSIGN_OR_RETURN(ExprPtr next, ParseConjunction());
    operands.push_back(std::move(next));
  }
  return MakeExpr(pos, Logical{LogicOp::kOr, std::move(operands)});
}

Result<ExprPtr> Parser::ParseConjunction() {
  MRLDB_ASSIGN_OR_RETURN(ExprPtr first, ParseNegation());
  if (!AtKeyword("AND")) return first;
  const Position pos = first->pos;
  std::vector<ExprPtr> operands;
  operands.push_back(std::move(first));
  while (AcceptKeyword("AND")) {
    MRLDB_ASSIGN_OR_RETURN(ExprPtr next, ParseNegation());
    operands.push_back(std::move(next));
  }
  return MakeExpr(pos, Logical{LogicOp::kAnd, std::move(operands)});
}

Result<ExprPtr> Parser::ParseNegation() {
  if (depth_ >= kMaxDepth) {
    return ErrorAt(Peek(),
                   fmt::format("expression nested too deeply at or near {}: more than {} "
                               "levels of parentheses and NOT",
                               Peek().kind == TokenKind::kEnd ? "end of input" : Quote(Peek().text),
                               kMaxDepth));
  }
  ++depth_;
  Result<ExprPtr> result = ParseNegationAtDepth();
  --depth_;
  return result;
}

Result<ExprPtr> Parser::ParseNegationAtDepth() {
  if (!AtKeyword("NOT")) return ParseComparison();
  const Position pos = Advance().pos;
  MRLDB_ASSIGN_OR_RETURN(ExprPtr operand, ParseNegation());
  return MakeExpr(pos, Not{std::move(operand)});
}

Result<ExprPtr> Parser::ParseComparison() {
  MRLDB_ASSIGN_OR_RETURN(ExprPtr left, ParseOperand());
  const Position pos = left->pos;
  if (std::optional<CompareOp> op = CompareOpOf(Peek().kind)) {
    Advance();
    MRLDB_ASSIGN_OR_RETURN(ExprPtr right, ParseOperand());
    return MakeExpr(pos, Comparison{*op, std::move(left), std::move(right)});
  }
  if (AcceptKeyword("IS")) {
    const bool negated = AcceptKeyword("NOT");
    if (!AcceptKeyword("NULL")) return SyntaxError(Peek(), negated ? "NULL" : "NULL or NOT NULL");
    return MakeExpr(pos, IsNull{std::move(left), negated});
  }
  const bool negated = AcceptKeyword("NOT");
  if (AcceptKeyword("IN")) {
    InList in{std::move(left), {}, negated};
    MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kLParen, "'('"));
    do {
      MRLDB_ASSIGN_OR_RETURN(ExprPtr item, ParseValue("a value"));
      in.items.push_back(std::move(item));
    } while (Accept(TokenKind::kComma));
    MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRParen, "',' or ')'"));
    return MakeExpr(pos, std::move(in));
  }
  if (AcceptKeyword("BETWEEN")) {
    MRLDB_ASSIGN_OR_RETURN(ExprPtr low, ParseOperand());
    MRLDB_RETURN_IF_ERROR(ExpectKeyword("AND"));
    MRLDB_ASSIGN_OR_RETURN(ExprPtr high, ParseOperand());
    return MakeExpr(pos, Between{std::move(left), std::move(low), std::move(high), negated});
  }
  if (AtKeyword("LIKE") || AtKeyword("ILIKE")) {
    const bool case_insensitive = IsKeyword(Advance(), "ILIKE");
    MRLDB_ASSIGN_OR_RETURN(ExprPtr pattern, ParseValue("a pattern ('...') or a parameter"));
    return MakeExpr(pos, Like{std::move(left), std::move(pattern), negated, case_insensitive});
  }
  if (negated) return SyntaxError(Peek(), "IN, BETWEEN, LIKE or ILIKE after NOT");
  return left;
}

Result<ExprPtr> Parser::ParseOperand() {
  if (Accept(TokenKind::kLParen)) {
    MRLDB_ASSIGN_OR_RETURN(ExprPtr inner, ParsePredicate());
    MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRParen, "')'"));
    return inner;
  }
  if (AtLiteral() || Is(TokenKind::kLBracket) || Is(TokenKind::kParameter)) {
    return ParseValue("a value");
  }
  const Position pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(std::string name,
                         ParseName("an operand (a column, a value, a parameter or '(')"));
  return MakeExpr(pos, ColumnRef{std::move(name)});
}

Result<ExprPtr> Parser::ParseValue(std::string_view what) {
  const Position pos = Peek().pos;
  if (Is(TokenKind::kLBracket)) return ParseVectorOrMatrix();
  if (Is(TokenKind::kParameter)) {
    const auto index = static_cast<uint32_t>(Advance().integer);
    parameters_.push_back(index);
    return MakeExpr(pos, Parameter{index});
  }
  if (!AtLiteral()) return SyntaxError(Peek(), what);
  MRLDB_ASSIGN_OR_RETURN(Value value, ParseLiteral(what));
  return MakeExpr(pos, Literal{std::move(value)});
}

Result<ExprPtr> Parser::ParseVectorOrMatrix() {
  const Position pos = Peek().pos;
  if (!Is(TokenKind::kLBracket, 1)) {
    MRLDB_ASSIGN_OR_RETURN(std::vector<double> values, ParseVectorBody());
    return MakeExpr(pos, VectorLiteral{std::move(values)});
  }
  Advance();  // the matrix's '['
  MatrixLiteral matrix;
  do {
    const Token row_open = Peek();  // a copy: it outlives the tokens that follow
    if (row_open.kind != TokenKind::kLBracket) return SyntaxError(row_open, "'[' (a matrix row)");
    MRLDB_ASSIGN_OR_RETURN(std::vector<double> row, ParseVectorBody());
    if (!matrix.rows.empty() && row.size() != matrix.rows[0].size()) {
      return ErrorAt(row_open,
                     fmt::format("ragged matrix: row {} has {} element{} but row 1 has {}",
                                 matrix.rows.size() + 1, row.size(), row.size() == 1 ? "" : "s",
                                 matrix.rows[0].size()));
    }
    matrix.rows.push_back(std::move(row));
  } while (Accept(TokenKind::kComma));
  MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRBracket, "',' or ']'"));
  return MakeExpr(pos, std::move(matrix));
}

Result<std::vector<double>> Parser::ParseVectorBody() {
  MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kLBracket, "'['"));
  if (Is(TokenKind::kRBracket)) return SyntaxError(Peek(), "a number (a vector cannot be empty)");
  std::vector<double> values;
  do {
    MRLDB_ASSIGN_OR_RETURN(double value, ParseSignedNumber("a number"));
    values.push_back(value);
  } while (Accept(TokenKind::kComma));
  MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRBracket, "',' or ']'"));
  return values;
}

// ---- Plans and options ----

bool Parser::AtPlanKeyword(const Token& token) {
  return IsKeyword(token, "FUNNEL") || IsKeyword(token, "EXACT") || IsKeyword(token, "PREFIX") ||
         IsKeyword(token, "DEFAULT");
}

Result<PlanSpec> Parser::ParsePlan() {
  PlanSpec plan;
  plan.pos = Peek().pos;
  if (AcceptKeyword("FUNNEL")) {
    plan.kind = PlanSpec::Kind::kFunnel;
    MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kLParen, "'('"));
    while (true) {
      FunnelStageSpec stage;
      stage.pos = Peek().pos;
      MRLDB_ASSIGN_OR_RETURN(stage.dims, ParseUint32("a stage's dimensions"));
      if (AcceptKeyword("KEEP")) {
        MRLDB_ASSIGN_OR_RETURN(stage.keep, ParseUint32("a candidate count after KEEP"));
      }
      const bool keep = stage.keep.has_value();
      plan.stages.push_back(std::move(stage));
      if (Accept(TokenKind::kComma)) continue;
      if (Accept(TokenKind::kRParen)) break;
      return SyntaxError(Peek(), keep ? "',' or ')'" : "KEEP, ',' or ')'");
    }
  } else if (AcceptKeyword("EXACT")) {
    plan.kind = PlanSpec::Kind::kExact;
    if (AcceptKeyword("AT")) {
      plan.dims_pos = Peek().pos;
      MRLDB_ASSIGN_OR_RETURN(plan.dims, ParseUint32("a prefix dimension after AT"));
    }
    return plan;
  } else if (AcceptKeyword("PREFIX")) {
    plan.kind = PlanSpec::Kind::kPrefix;
    plan.dims_pos = Peek().pos;
    MRLDB_ASSIGN_OR_RETURN(plan.dims, ParseUint32("a prefix dimension after PREFIX"));
  } else if (AcceptKeyword("DEFAULT")) {
    return plan;
  } else {
    return SyntaxError(Peek(), "a plan (FUNNEL, EXACT, PREFIX or DEFAULT)");
  }
  if (AcceptKeyword("EF")) {
    plan.ef_pos = Peek().pos;
    MRLDB_ASSIGN_OR_RETURN(plan.ef, ParseUint32("a candidate list size after EF"));
  }
  return plan;
}

Result<std::vector<Option>> Parser::ParseOptions(bool copy_style) {
  MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kLParen, "'('"));
  std::vector<Option> options;
  do {
    Option option;
    option.pos = Peek().pos;
    MRLDB_ASSIGN_OR_RETURN(std::string key, ParseWord("an option name"));
    option.key = ToLower(key);
    if (!Accept(TokenKind::kEq) && !copy_style) return SyntaxError(Peek(), "'='");
    if (AtPlanKeyword(Peek())) {
      MRLDB_ASSIGN_OR_RETURN(option.value, ParsePlan());
    } else if (AtLiteral()) {
      MRLDB_ASSIGN_OR_RETURN(option.value, ParseLiteral("a value"));
    } else if (Is(TokenKind::kIdentifier)) {
      option.value = Value{std::string(Advance().text)};
    } else {
      return SyntaxError(Peek(), fmt::format("a value for option {}", Quote(key)));
    }
    options.push_back(std::move(option));
  } while (Accept(TokenKind::kComma));
  MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRParen, "',' or ')'"));
  return options;
}

}  // namespace internal
}  // namespace mrldb::query
