// One Parse* function per statement of docs/sql.md's grammar. Each starts at the statement's
// first keyword and ends with ExpectStatementEnd, naming the clauses that could still follow.
#include <algorithm>
#include <cstddef>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "query/parser_internal.h"

namespace mrldb::query::internal {
namespace {

constexpr std::string_view kStatementExpected =
    "a statement (SELECT, INSERT, UPSERT, UPDATE, DELETE, CREATE, DROP, ALTER, COPY, SHOW, "
    "DESCRIBE, SET, RESET, TUNE, WAIT, BACKUP, VACUUM, PREDICT, ANALYZE or EXPLAIN)";

// Column types of CREATE COLLECTION (ColumnSpec::type), upper-case.
constexpr std::string_view kColumnTypes[] = {"TEXT",   "BIGINT", "INT",  "INTEGER", "FLOAT",
                                             "DOUBLE", "REAL",   "BOOL", "BOOLEAN", "VECTOR"};

template <typename T>
Status Store(Result<T> result, Statement& out) {
  if (!result.ok()) return result.status();
  out.node = std::move(result).value();
  return Status::Ok();
}

}  // namespace

Result<Statement> Parser::ParseStatementHere() {
  Statement statement;
  statement.pos = Peek().pos;
  const size_t first_parameter = parameters_.size();
  Status status;
  if (AtKeyword("SELECT")) {
    status = Store(ParseSelect(), statement);
  } else if (AtKeyword("INSERT") || AtKeyword("UPSERT")) {
    status = Store(ParseInsert(), statement);
  } else if (AtKeyword("UPDATE")) {
    status = Store(ParseUpdate(), statement);
  } else if (AtKeyword("DELETE")) {
    status = Store(ParseDelete(), statement);
  } else if (AtKeyword("CREATE")) {
    status = Store(ParseCreate(), statement);
  } else if (AtKeyword("DROP")) {
    status = Store(ParseDrop(), statement);
  } else if (AtKeyword("ALTER")) {
    status = Store(ParseAlter(), statement);
  } else if (AtKeyword("COPY")) {
    status = Store(ParseCopy(), statement);
  } else if (AtKeyword("SHOW")) {
    status = ParseShow(statement);
  } else if (AtKeyword("DESCRIBE")) {
    status = Store(ParseDescribe(), statement);
  } else if (AtKeyword("SET")) {
    status = Store(ParseSet(), statement);
  } else if (AtKeyword("RESET")) {
    status = Store(ParseReset(), statement);
  } else if (AtKeyword("TUNE") && AtKeyword("PREDICT", 1)) {
    status = Store(ParseTunePredict(), statement);
  } else if (AtKeyword("TUNE")) {
    status = Store(ParseTune(), statement);
  } else if (AtKeyword("PREDICT")) {
    status = Store(ParsePredict(), statement);
  } else if (AtKeyword("ANALYZE")) {
    status = Store(ParseAnalyze(), statement);
  } else if (AtKeyword("WAIT")) {
    status = Store(ParseWait(), statement);
  } else if (AtKeyword("EXPLAIN")) {
    status = Store(ParseExplain(), statement);
  } else if (AtKeyword("BACKUP")) {
    status = Store(ParseBackup(), statement);
  } else if (AtKeyword("VACUUM")) {
    status = Store(ParseVacuum(), statement);
  } else {
    return SyntaxError(Peek(), kStatementExpected);
  }
  MRLDB_RETURN_IF_ERROR(status);
  statement.text =
      std::string(sql_.substr(statement.pos.offset, consumed_end_ - statement.pos.offset));
  statement.parameters.assign(parameters_.begin() + static_cast<ptrdiff_t>(first_parameter),
                              parameters_.end());
  std::sort(statement.parameters.begin(), statement.parameters.end());
  statement.parameters.erase(
      std::unique(statement.parameters.begin(), statement.parameters.end()),
      statement.parameters.end());
  return statement;
}

// ---- Data definition ----

Result<CreateCollection> Parser::ParseCreate() {
  Advance();  // CREATE
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("COLLECTION"));
  CreateCollection create;
  if (AtKeyword("IF") && !Is(TokenKind::kLParen, 1)) {  // else a collection named "if"
    Advance();
    MRLDB_RETURN_IF_ERROR(ExpectKeyword("NOT"));
    MRLDB_RETURN_IF_ERROR(ExpectKeyword("EXISTS"));
    create.if_not_exists = true;
  }
  create.name_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(create.name, ParseName("a collection name"));
  MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kLParen, "'(' and the column definitions"));
  do {
    MRLDB_ASSIGN_OR_RETURN(ColumnSpec column, ParseColumnDef());
    create.columns.push_back(std::move(column));
  } while (Accept(TokenKind::kComma));
  MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRParen, "',' or ')'"));
  if (AcceptKeyword("WITH")) {
    MRLDB_ASSIGN_OR_RETURN(create.options, ParseOptions(/*copy_style=*/false));
    MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(""));
  } else {
    MRLDB_RETURN_IF_ERROR(ExpectStatementEnd("WITH"));
  }
  return create;
}

Result<ColumnSpec> Parser::ParseColumnDef(bool in_list) {
  ColumnSpec column;
  column.pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(column.name, ParseName("a column name"));
  const Token type_token = Peek();  // copies: kept for errors after the token is consumed
  constexpr std::string_view kTypeExpected =
      "a column type (TEXT, BIGINT, INT, FLOAT, BOOL or VECTOR(n))";
  MRLDB_ASSIGN_OR_RETURN(std::string type, ParseWord(kTypeExpected));
  column.type = ToUpper(type);
  bool known = false;
  for (std::string_view t : kColumnTypes) known = known || column.type == t;
  if (!known) return SyntaxError(type_token, kTypeExpected);
  std::string more;  // what may still follow, for the error below
  if (column.type == "VECTOR") {
    MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kLParen, "'(' and the dimension: VECTOR(n)"));
    MRLDB_ASSIGN_OR_RETURN(column.vector_dim, ParseUint32("the vector dimension"));
    MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRParen, "')'"));
    more = "MATRYOSHKA, METRIC, ";
    if (AcceptKeyword("MATRYOSHKA")) {
      MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kLParen, "'(' and the granularities"));
      do {
        MRLDB_ASSIGN_OR_RETURN(uint32_t g, ParseUint32("a granularity"));
        column.matryoshka.push_back(g);
      } while (Accept(TokenKind::kComma));
      MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRParen, "',' or ')'"));
      more = "METRIC, ";
    }
    if (AcceptKeyword("METRIC")) {
      const Token metric = Peek();
      constexpr std::string_view kMetricExpected = "a metric (COSINE, IP or L2)";
      MRLDB_ASSIGN_OR_RETURN(std::string name, ParseWord(kMetricExpected));
      if (!ParseMetric(name).ok()) return SyntaxError(metric, kMetricExpected);
      column.metric = ToLower(name);
      more.clear();
    }
  }
  if (AcceptKeyword("PRIMARY")) {
    MRLDB_RETURN_IF_ERROR(ExpectKeyword("KEY"));
    column.primary_key = true;
  } else {
    more += "PRIMARY KEY, ";
  }
  if (in_list && !Is(TokenKind::kComma) && !Is(TokenKind::kRParen)) {
    return SyntaxError(Peek(), more + "',' or ')'");
  }
  if (!in_list && !Is(TokenKind::kSemicolon) && !Is(TokenKind::kEnd)) {
    return SyntaxError(Peek(), more + "';' or end of input");
  }
  return column;
}

Result<DropCollection> Parser::ParseDrop() {
  Advance();  // DROP
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("COLLECTION"));
  DropCollection drop;
  // IF at the end is a collection named "if".
  if (AtKeyword("IF") && !Is(TokenKind::kSemicolon, 1) && !Is(TokenKind::kEnd, 1)) {
    Advance();
    MRLDB_RETURN_IF_ERROR(ExpectKeyword("EXISTS"));
    drop.if_exists = true;
  }
  drop.name_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(drop.name, ParseName("a collection name"));
  MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(""));
  return drop;
}

Result<AlterCollection> Parser::ParseAlter() {
  Advance();  // ALTER
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("COLLECTION"));
  AlterCollection alter;
  alter.name_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(alter.name, ParseName("a collection name"));
  if (AcceptKeyword("ADD")) {
    AcceptKeyword("COLUMN");
    MRLDB_ASSIGN_OR_RETURN(alter.add_column, ParseColumnDef(/*in_list=*/false));
  } else if (AcceptKeyword("DROP")) {
    AcceptKeyword("COLUMN");
    NamePos column{Peek().pos, {}};
    MRLDB_ASSIGN_OR_RETURN(column.name, ParseName("a column name"));
    alter.drop_column = std::move(column);
  } else if (AcceptKeyword("SET")) {
    MRLDB_ASSIGN_OR_RETURN(alter.options, ParseOptions(/*copy_style=*/false));
  } else {
    return SyntaxError(Peek(), "SET, ADD COLUMN or DROP COLUMN");
  }
  MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(""));
  return alter;
}

Status Parser::ParseShow(Statement& out) {
  Advance();  // SHOW
  if (AcceptKeyword("COLLECTIONS")) {
    out.node = ShowCollections{};
  } else if (const bool placement = AcceptKeyword("PLACEMENT"); placement || AcceptKeyword("STATS")) {
    ShowStats stats;
    stats.placement = placement;
    if (!Is(TokenKind::kSemicolon) && !Is(TokenKind::kEnd)) {
      stats.collection_pos = Peek().pos;
      MRLDB_ASSIGN_OR_RETURN(stats.collection, ParseName("a collection name, ';' or end of input"));
    }
    out.node = std::move(stats);
  } else if (AcceptKeyword("ALL")) {
    out.node = ShowVariable{"all"};
  } else if (AcceptKeyword("MEMORY")) {
    out.node = ShowVariable{"memory"};
  } else {
    MRLDB_ASSIGN_OR_RETURN(std::string name, ParseVariableName("COLLECTIONS, STATS, PLACEMENT, MEMORY, ALL or a setting"));
    out.node = ShowVariable{std::move(name)};
  }
  return ExpectStatementEnd("");
}

Result<Describe> Parser::ParseDescribe() {
  Advance();  // DESCRIBE
  Describe describe;
  describe.name_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(describe.name, ParseName("a collection name"));
  MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(""));
  return describe;
}

// ---- Data manipulation ----

Result<Insert> Parser::ParseInsert() {
  Insert insert;
  insert.upsert = IsKeyword(Advance(), "UPSERT");  // INSERT or UPSERT
  const bool is_upsert = insert.upsert;
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("INTO"));
  insert.collection_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(insert.collection, ParseName("a collection name"));
  const bool column_list = Accept(TokenKind::kLParen);
  if (column_list) {
    do {
      MRLDB_ASSIGN_OR_RETURN(std::string column, ParseName("a column name"));
      insert.columns.push_back(std::move(column));
    } while (Accept(TokenKind::kComma));
    MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRParen, "',' or ')'"));
  }
  if (!AcceptKeyword("VALUES")) {
    return SyntaxError(Peek(), column_list ? "VALUES" : "'(' or VALUES");
  }
  do {
    MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kLParen, "'(' and a row of values"));
    std::vector<ExprPtr> row;
    do {
      MRLDB_ASSIGN_OR_RETURN(ExprPtr value, ParseValue("a value"));
      row.push_back(std::move(value));
    } while (Accept(TokenKind::kComma));
    MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRParen, "',' or ')'"));
    insert.rows.push_back(std::move(row));
  } while (Accept(TokenKind::kComma));
  std::string_view more = is_upsert ? "',', RETURNING" : "',', ON CONFLICT, RETURNING";
  if (!is_upsert && AcceptKeyword("ON")) {
    MRLDB_RETURN_IF_ERROR(ExpectKeyword("CONFLICT"));
    if (AcceptKeyword("DO")) {
      MRLDB_RETURN_IF_ERROR(ExpectKeyword("UPDATE"));
    } else if (!AcceptKeyword("REPLACE")) {
      return SyntaxError(Peek(), "REPLACE or DO UPDATE");
    }
    insert.upsert = true;
    more = "RETURNING";
  }
  MRLDB_RETURN_IF_ERROR(ParseReturning(&insert.returning, more));
  return insert;
}

Result<Update> Parser::ParseUpdate() {
  Advance();  // UPDATE
  Update update;
  update.collection_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(update.collection, ParseName("a collection name"));
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("SET"));
  do {
    Assignment assignment;
    assignment.pos = Peek().pos;
    MRLDB_ASSIGN_OR_RETURN(assignment.column, ParseName("a column name"));
    MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kEq, "'='"));
    MRLDB_ASSIGN_OR_RETURN(assignment.value, ParseValue("a value"));
    update.set.push_back(std::move(assignment));
  } while (Accept(TokenKind::kComma));
  std::string_view more = "',', WHERE, RETURNING";
  if (AcceptKeyword("WHERE")) {
    MRLDB_ASSIGN_OR_RETURN(update.where, ParsePredicate());
    more = "AND, OR, RETURNING";
  }
  MRLDB_RETURN_IF_ERROR(ParseReturning(&update.returning, more));
  return update;
}

Result<Delete> Parser::ParseDelete() {
  Advance();  // DELETE
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("FROM"));
  Delete del;
  del.collection_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(del.collection, ParseName("a collection name"));
  std::string_view more = "WHERE, RETURNING";
  if (AcceptKeyword("WHERE")) {
    MRLDB_ASSIGN_OR_RETURN(del.where, ParsePredicate());
    more = "AND, OR, RETURNING";
  }
  MRLDB_RETURN_IF_ERROR(ParseReturning(&del.returning, more));
  return del;
}

Result<Explain> Parser::ParseExplain() {
  Advance();  // EXPLAIN
  Explain explain;
  if (Accept(TokenKind::kLParen)) {
    do {
      if (AcceptKeyword("ANALYZE")) {
        explain.analyze = true;
      } else if (AcceptKeyword("RECALL")) {
        explain.analyze = true;  // measuring recall means running the query
        explain.recall = true;
      } else {
        return SyntaxError(Peek(), "ANALYZE or RECALL");
      }
    } while (Accept(TokenKind::kComma));
    MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRParen, "',' or ')'"));
  } else {
    explain.analyze = AcceptKeyword("ANALYZE");
  }
  if (AtKeyword("EXPLAIN")) {
    return SyntaxError(Peek(), "a statement to explain (EXPLAIN does not nest)");
  }
  MRLDB_ASSIGN_OR_RETURN(Statement statement, ParseStatementHere());
  explain.statement = std::make_unique<Statement>(std::move(statement));
  return explain;
}

// ---- Files, settings, tuning ----

Result<Copy> Parser::ParseCopy() {
  Advance();  // COPY
  Copy copy;
  copy.collection_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(copy.collection, ParseName("a collection name"));
  if (AcceptKeyword("TO")) {
    copy.from = false;
  } else if (!AcceptKeyword("FROM")) {
    return SyntaxError(Peek(), "FROM or TO");
  }
  if (AcceptKeyword(copy.from ? "STDIN" : "STDOUT")) {
    copy.stdio = true;
  } else if (Is(TokenKind::kString)) {
    copy.path = Advance().value;
  } else {
    return SyntaxError(Peek(), copy.from ? "a file path ('...') or STDIN"
                                         : "a file path ('...') or STDOUT");
  }
  if (AcceptKeyword("WITH")) {
    MRLDB_ASSIGN_OR_RETURN(copy.options, ParseOptions(/*copy_style=*/true));
    MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(""));
  } else {
    MRLDB_RETURN_IF_ERROR(ExpectStatementEnd("WITH"));
  }
  return copy;
}

Result<SetVariable> Parser::ParseSet() {
  Advance();  // SET
  SetVariable set;
  MRLDB_ASSIGN_OR_RETURN(set.name, ParseVariableName("a setting name"));
  if (!Accept(TokenKind::kEq) && !AcceptKeyword("TO")) return SyntaxError(Peek(), "'=' or TO");
  if (AcceptKeyword("DEFAULT")) {
    set.reset = true;
  } else if (AtLiteral()) {
    MRLDB_ASSIGN_OR_RETURN(set.value, ParseLiteral("a value"));
  } else if (Is(TokenKind::kIdentifier)) {
    set.value = Value{std::string(Advance().text)};
  } else {
    return SyntaxError(Peek(), "a value");
  }
  MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(""));
  return set;
}

Result<SetVariable> Parser::ParseReset() {
  Advance();  // RESET
  SetVariable reset;
  reset.reset = true;
  if (AcceptKeyword("ALL")) {
    reset.name = "all";
  } else {
    MRLDB_ASSIGN_OR_RETURN(reset.name, ParseVariableName("ALL or a setting name"));
  }
  MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(""));
  return reset;
}

Result<Tune> Parser::ParseTune() {
  Advance();  // TUNE
  Tune tune;
  tune.collection_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(tune.collection, ParseName("a collection name"));
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("FOR"));
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("RECALL"));
  MRLDB_ASSIGN_OR_RETURN(tune.recall, ParseSignedNumber("a target recall (such as 0.95)"));
  std::string clauses = "AT, USING";
  if (AcceptKeyword("AT")) {
    MRLDB_ASSIGN_OR_RETURN(tune.k, ParseUint32("a result count k after AT"));
    clauses = "USING";
  }
  if (AcceptKeyword("USING")) {
    MRLDB_RETURN_IF_ERROR(ExpectKeyword("QUERIES"));
    MRLDB_RETURN_IF_ERROR(ExpectKeyword("FROM"));
    if (!Is(TokenKind::kString)) return SyntaxError(Peek(), "a file path ('...')");
    tune.queries_pos = Peek().pos;
    tune.queries_path = Advance().value;
    clauses.clear();
  }
  MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(clauses));
  return tune;
}

Result<WaitForIndex> Parser::ParseWait() {
  Advance();  // WAIT
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("FOR"));
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("INDEX"));
  WaitForIndex wait;
  if (Is(TokenKind::kSemicolon) || Is(TokenKind::kEnd)) return wait;
  wait.collection_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(wait.collection, ParseName("a collection name, ';' or end of input"));
  MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(""));
  return wait;
}

Result<Backup> Parser::ParseBackup() {
  Advance();  // BACKUP
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("TO"));
  if (!Is(TokenKind::kString)) return SyntaxError(Peek(), "a directory ('...')");
  Backup backup;
  backup.path_pos = Peek().pos;
  backup.path = Advance().value;
  MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(""));
  return backup;
}

Result<Vacuum> Parser::ParseVacuum() {
  Advance();  // VACUUM
  Vacuum vacuum;
  vacuum.collection_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(vacuum.collection, ParseName("a collection name"));
  MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(""));
  return vacuum;
}

}  // namespace mrldb::query::internal
