// The parser's internals, shared by parser.cc (token stream, errors, names, values, predicates,
// plans, options) and parser_statements.cc (one Parse* function per statement). Only parser.h is
// the public interface. Each Parse* function follows one rule of the EBNF in docs/sql.md: it
// starts at the rule's first token and consumes exactly the rule's tokens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "mrldb/status.h"
#include "query/ast.h"
#include "query/tokenizer.h"

namespace mrldb::query::internal {

class Parser {
 public:
  // Reads tokens of `sql` lazily, a few ahead of the parser, so that memory holds the AST and not
  // every token of a large script. A tokenizer error is reported when the parser reaches the
  // place where it occurred (so an earlier syntax error wins). `sql` must outlive the parser.
  explicit Parser(std::string_view sql) : sql_(sql), tokenizer_(sql) {}

  Result<std::vector<Statement>> ParseScript();
  Result<Statement> ParseOne();

 private:
  // ---- Token stream (parser.cc) ----
  // The token `ahead` tokens after the next one; past the end, the final kEnd. The reference is
  // valid until the next Advance().
  const Token& Peek(size_t ahead = 0);
  Token Advance();  // consumes and returns the next token (kEnd stays)
  bool Is(TokenKind kind, size_t ahead = 0) { return Peek(ahead).kind == kind; }
  bool AtKeyword(std::string_view keyword, size_t ahead = 0) {
    return IsKeyword(Peek(ahead), keyword);
  }
  bool Accept(TokenKind kind);
  bool AcceptKeyword(std::string_view keyword);
  // Consumes the token or returns a syntax error expecting `expected` ("')'", "FROM").
  Status Expect(TokenKind kind, std::string_view expected);
  Status ExpectKeyword(std::string_view keyword);

  // `syntax error at or near "<token>": expected <expected>` (or "at end of input") at the
  // token's position; the tokenizer's error instead when `at` is where the tokenizer failed.
  Status SyntaxError(const Token& at, std::string_view expected) const;
  // A message of its own at the token's position (same rule for the tokenizer's error).
  Status ErrorAt(const Token& at, std::string message) const;
  // At the end of a statement: ';' or end of input, else a syntax error listing `clauses` (the
  // clauses that could still have come, "WHERE, LIMIT") before "';' or end of input".
  Status ExpectStatementEnd(std::string_view clauses);

  // ---- Names, numbers, literals (parser.cc) ----
  static bool IsReserved(const Token& token);
  // A name: an identifier that is not a reserved word, or a quoted identifier. `what` names it
  // in errors ("a collection name").
  Result<std::string> ParseName(std::string_view what);
  // Any bare word, reserved or not, as written (option keys, setting names, metric, types).
  Result<std::string> ParseWord(std::string_view what);
  // variable = word { "." word }, lower-cased; `what` names it in errors.
  Result<std::string> ParseVariableName(std::string_view what);
  // An unsigned integer that fits `max`.
  Result<uint64_t> ParseUnsigned(std::string_view what, uint64_t max);
  Result<uint32_t> ParseUint32(std::string_view what);
  // [ "-" ] number: the value as a double (vector elements, TUNE's recall).
  Result<double> ParseSignedNumber(std::string_view what);
  // literal = NULL | TRUE | FALSE | [ "-" ] number | string.
  Result<Value> ParseLiteral(std::string_view what);
  bool AtLiteral();

  // ---- Expressions (parser.cc) ----
  Result<ExprPtr> ParsePredicate();  // disjunction
  Result<ExprPtr> ParseConjunction();
  Result<ExprPtr> ParseNegation();  // counts the nesting depth (parentheses and NOT)
  Result<ExprPtr> ParseNegationAtDepth();
  Result<ExprPtr> ParseComparison();
  Result<ExprPtr> ParseOperand();
  // value = literal | vector | matrix | parameter.
  Result<ExprPtr> ParseValue(std::string_view what);
  // vector | matrix, at '['.
  Result<ExprPtr> ParseVectorOrMatrix();
  Result<std::vector<double>> ParseVectorBody();  // at '[': the elements through ']'

  // ---- Plans and options (parser.cc) ----
  static bool AtPlanKeyword(const Token& token);
  Result<PlanSpec> ParsePlan();  // at FUNNEL, EXACT, PREFIX or DEFAULT
  // "(" option { "," option } ")"; with `copy_style` the "=" between key and value is optional.
  Result<std::vector<Option>> ParseOptions(bool copy_style);

  // ---- Statements (parser_statements.cc) ----
  // A whole statement from its first token up to, not including, its ';'; sets pos and text.
  Result<Statement> ParseStatementHere();
  Result<CreateCollection> ParseCreate();
  // `in_list`: inside CREATE's parentheses (',' or ')' follows), else ALTER ... ADD (the end).
  Result<ColumnSpec> ParseColumnDef(bool in_list = true);
  Result<DropCollection> ParseDrop();
  Result<AlterCollection> ParseAlter();
  Status ParseShow(Statement& out);  // SHOW COLLECTIONS | SHOW ALL | SHOW name
  Result<Describe> ParseDescribe();
  Result<Insert> ParseInsert();
  Result<Update> ParseUpdate();
  Result<Delete> ParseDelete();
  // ---- Queries (parser_select.cc) ----
  Result<Select> ParseSelect();
  Result<SelectItem> ParseSelectItem();
  // ORDER BY: a Distance into select->order_by, or sort keys into select->sort_keys.
  Status ParseOrderBy(Select* select);
  // "(" SELECT column FROM name WHERE column "=" value ")", at '('.
  Result<StoredVector> ParseStoredVector();
  // [ RETURNING select_item { "," select_item } ], then the statement's end; `more` are the
  // clauses that could still have come before RETURNING.
  Status ParseReturning(std::vector<SelectItem>* out, std::string_view more);
  Result<Explain> ParseExplain();
  Result<Copy> ParseCopy();
  Result<SetVariable> ParseSet();
  Result<SetVariable> ParseReset();
  Result<Tune> ParseTune();
  Result<WaitForIndex> ParseWait();
  Result<Backup> ParseBackup();
  Result<Vacuum> ParseVacuum();
  // PREDICT, TUNE PREDICT and ANALYZE (parser_predict.cc).
  Result<Predict> ParsePredict();
  Result<TunePredict> ParseTunePredict();
  Result<Analyze> ParseAnalyze();
  // "label FROM c".
  Status ParsePredictTarget(PredictClauses* out);
  // The optional clauses K, CASCADE, CONFIDENCE, VOTE, SHORTLIST, in any order, each once.
  Status ParsePredictClauses(PredictClauses* out);

  // Parentheses and NOTs nested deeper than this are an error, not a stack overflow.
  static constexpr int kMaxDepth = 256;

  std::string_view sql_;
  Tokenizer tokenizer_;
  // Tokens read but not consumed. Once the tokenizer has returned kEnd, or failed (then a kEnd
  // stands in at the error's position), that kEnd is the last element and is never consumed.
  std::deque<Token> lookahead_;
  Status lex_error_;         // the tokenizer's error, or OK
  size_t consumed_end_ = 0;  // byte offset just after the last consumed token
  int depth_ = 0;            // current nesting depth of ParseNegation
  std::vector<uint32_t> parameters_;  // every $n parsed so far, in the order met
};

}  // namespace mrldb::query::internal
