// The recursive-descent parser of mrldb's SQL-like language: text in, the AST of query/ast.h out.
//
// The grammar is written once, in EBNF, at the top of docs/sql.md ("Grammar"); the parser follows
// it rule by rule (one Parse* function per rule) and the two are kept in sync. The parser checks
// syntax only: names, types, dimensions, plans and option keys are checked by the binder, which
// matches collection and column names case-insensitively. Reserved words (docs/sql.md) must be
// double-quoted to be used as names.
//
// Errors: Status::InvalidArgument with the 1-based line and column of the offending token
// (Status::line(), Status::column()) and a message naming what was found and what was expected:
//   syntax error at or near "FROM": expected a collection name
//   syntax error at end of input: expected ')'
// Tokenizer errors (unterminated string, invalid number, unexpected character ...) come back
// as the tokenizer reports them (query/tokenizer.h). The first error in the text is reported.
//
// Thread safety: the functions are pure; call them from any thread.
#pragma once

#include <string_view>
#include <vector>

#include "mrldb/status.h"
#include "query/ast.h"

namespace mrldb::query {

// A script: statements separated by ';'. Empty statements (";;", a script of only comments) are
// skipped; the last statement may omit its ';'. Each Statement's `pos` is its first token and
// `text` its source text from that token to the end of its last token (comments inside kept,
// the ';' not). An empty script gives an empty vector.
Result<std::vector<Statement>> ParseScript(std::string_view sql);

// A statement's source text in a script (a view into it) and the position of its first token.
struct ScriptStatement {
  std::string_view text;
  Position pos;
};

// Cuts a script into its statements' texts without parsing them, so that a front-end can parse
// and run each before it looks at the next (as psql does: the first statement runs even when
// the second is wrong). Cuts at each ';' outside strings, quoted identifiers and comments; each
// text runs from a statement's first token to its last (the ';' not included); empty statements
// are skipped. Where the tokenizer fails (an unterminated string, a stray character), the rest
// of the script from the start of that statement is the last text: parsing it reports the error.
std::vector<ScriptStatement> SplitScript(std::string_view sql);

// Exactly one statement, optionally followed by ';'. Errors also when the text holds no
// statement or more than one.
Result<Statement> ParseStatement(std::string_view sql);

}  // namespace mrldb::query
