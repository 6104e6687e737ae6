// The query rules of docs/sql.md's grammar: SELECT with its items (aggregates included), GROUP
// BY, ORDER BY (a vector search or sort keys), LIMIT / OFFSET and USING; and RETURNING, which
// takes select items.
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "query/parser_internal.h"

namespace mrldb::query::internal {
namespace {

// The clauses that may follow a plan, for the statement-end message.
std::string_view AfterPlan(const PlanSpec& plan) {
  if (plan.kind == PlanSpec::Kind::kExact && !plan.dims) return "AT";
  if ((plan.kind == PlanSpec::Kind::kFunnel || plan.kind == PlanSpec::Kind::kPrefix) && !plan.ef) {
    return "EF";
  }
  return "";
}

struct AggregateName {
  std::string_view word;
  Aggregate aggregate;
};
constexpr AggregateName kAggregates[] = {{"COUNT", Aggregate::kCount}, {"MIN", Aggregate::kMin},
                                         {"MAX", Aggregate::kMax},     {"SUM", Aggregate::kSum},
                                         {"AVG", Aggregate::kAvg}};

}  // namespace

Result<Select> Parser::ParseSelect() {
  Advance();  // SELECT
  Select select;
  while (true) {
    MRLDB_ASSIGN_OR_RETURN(SelectItem item, ParseSelectItem());
    const bool may_alias = item.kind != SelectItem::Kind::kStar && !item.alias;
    select.items.push_back(std::move(item));
    if (Accept(TokenKind::kComma)) continue;
    if (AcceptKeyword("FROM")) break;
    return SyntaxError(Peek(), may_alias ? "AS, ',' or FROM" : "',' or FROM");
  }
  select.collection_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(select.collection, ParseName("a collection name"));
  // The clauses that may still follow, for the statement-end message.
  std::string more = "WHERE, GROUP BY, ORDER BY, LIMIT, OFFSET, USING";
  if (AcceptKeyword("WHERE")) {
    MRLDB_ASSIGN_OR_RETURN(select.where, ParsePredicate());
    more = "AND, OR, GROUP BY, ORDER BY, LIMIT, OFFSET, USING";
  }
  if (AcceptKeyword("GROUP")) {
    MRLDB_RETURN_IF_ERROR(ExpectKeyword("BY"));
    do {
      NamePos key{Peek().pos, {}};
      MRLDB_ASSIGN_OR_RETURN(key.name, ParseName("a column to group by"));
      select.group_by.push_back(std::move(key));
    } while (Accept(TokenKind::kComma));
    more = "',', ORDER BY, LIMIT, OFFSET";
  }
  if (AtKeyword("ORDER")) {
    MRLDB_RETURN_IF_ERROR(ParseOrderBy(&select));
    const bool bare = select.sort_keys.size() == 1 && !select.sort_keys[0].descending &&
                      !select.sort_keys[0].nulls_first && Peek().kind != TokenKind::kEnd;
    more = select.order_by ? "LIMIT, OFFSET, USING"
           : bare          ? "a distance operator (<=>, <-> or <#>), ASC, DESC, NULLS, ',', LIMIT, OFFSET"
                           : "',', ASC, DESC, NULLS, LIMIT, OFFSET";
  }
  // LIMIT and OFFSET in either order, each at most once.
  for (int i = 0; i < 2; ++i) {
    if (!select.limit && AcceptKeyword("LIMIT")) {
      select.limit_pos = Peek().pos;
      MRLDB_ASSIGN_OR_RETURN(select.limit,
                             ParseUnsigned("a row count", std::numeric_limits<int64_t>::max()));
    } else if (!select.offset && AcceptKeyword("OFFSET")) {
      select.offset_pos = Peek().pos;
      MRLDB_ASSIGN_OR_RETURN(select.offset, ParseUnsigned("a number of rows to skip",
                                                          std::numeric_limits<int64_t>::max()));
    } else {
      break;
    }
    more = select.limit && select.offset ? "USING" : select.limit ? "OFFSET, USING" : "LIMIT, USING";
  }
  if (AcceptKeyword("USING")) {
    MRLDB_ASSIGN_OR_RETURN(select.plan, ParsePlan());
    more = AfterPlan(*select.plan);
  }
  MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(more));
  return select;
}

Result<SelectItem> Parser::ParseSelectItem() {
  SelectItem item;
  item.pos = Peek().pos;
  if (Accept(TokenKind::kStar)) {
    item.kind = SelectItem::Kind::kStar;
    return item;
  }
  const AggregateName* aggregate = nullptr;
  for (const AggregateName& a : kAggregates) {
    if (AtKeyword(a.word) && Is(TokenKind::kLParen, 1)) aggregate = &a;
  }
  if (aggregate) {
    Advance();
    Advance();
    item.kind = SelectItem::Kind::kAggregate;
    item.aggregate = aggregate->aggregate;
    if (aggregate->aggregate == Aggregate::kCount && Accept(TokenKind::kStar)) {
      item.aggregate = Aggregate::kCountStar;
    } else {
      MRLDB_ASSIGN_OR_RETURN(item.column,
                             ParseName(aggregate->aggregate == Aggregate::kCount
                                           ? "'*' or a column"
                                           : "a column"));
    }
    MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRParen, "')'"));
  } else if (AcceptKeyword("DISTANCE")) {
    item.kind = SelectItem::Kind::kDistance;
  } else if (AcceptKeyword("QUERY_INDEX")) {
    item.kind = SelectItem::Kind::kQueryIndex;
  } else if (AtKeyword("PREFIX") && Is(TokenKind::kLParen, 1)) {
    Advance();
    Advance();
    item.kind = SelectItem::Kind::kVectorPrefix;
    MRLDB_ASSIGN_OR_RETURN(item.column, ParseName("the vector column"));
    MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kComma, "','"));
    MRLDB_ASSIGN_OR_RETURN(item.prefix_dims, ParseUint32("a prefix dimension"));
    MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRParen, "')'"));
  } else {
    MRLDB_ASSIGN_OR_RETURN(item.column,
                           ParseName("a select item (*, a column, distance, query_index, "
                                     "column[:n], PREFIX(column, n) or an aggregate)"));
    item.kind = SelectItem::Kind::kColumn;
    if (Accept(TokenKind::kLBracket)) {
      item.kind = SelectItem::Kind::kVectorPrefix;
      MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kColon, "':' (column[:n] is a prefix)"));
      MRLDB_ASSIGN_OR_RETURN(item.prefix_dims, ParseUint32("a prefix dimension"));
      MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRBracket, "']'"));
    }
  }
  if (AcceptKeyword("AS")) {
    MRLDB_ASSIGN_OR_RETURN(item.alias, ParseName("an alias"));
  }
  return item;
}

Status Parser::ParseOrderBy(Select* select) {
  Advance();  // ORDER
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("BY"));
  const Position pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(std::string column, ParseName("a column to order by"));
  std::optional<DistanceOp> op;
  switch (Peek().kind) {
    case TokenKind::kCosineDistance: op = DistanceOp::kCosine; break;
    case TokenKind::kL2Distance: op = DistanceOp::kL2; break;
    case TokenKind::kInnerProduct: op = DistanceOp::kInnerProduct; break;
    default: break;
  }
  if (!op) {  // sort keys
    SortKey key;
    key.pos = pos;
    key.column = std::move(column);
    while (true) {
      if (AcceptKeyword("DESC")) {
        key.descending = true;
      } else {
        AcceptKeyword("ASC");
      }
      if (AcceptKeyword("NULLS")) {
        if (AcceptKeyword("FIRST")) {
          key.nulls_first = true;
        } else if (AcceptKeyword("LAST")) {
          key.nulls_first = false;
        } else {
          return SyntaxError(Peek(), "FIRST or LAST");
        }
      }
      select->sort_keys.push_back(std::move(key));
      if (!Accept(TokenKind::kComma)) return Status::Ok();
      key = SortKey();
      key.pos = Peek().pos;
      MRLDB_ASSIGN_OR_RETURN(key.column, ParseName("a column to order by"));
    }
  }
  Advance();  // the distance operator
  auto column_ref = std::make_unique<Expr>();
  column_ref->pos = pos;
  column_ref->node = ColumnRef{std::move(column)};
  Distance distance;
  distance.op = *op;
  distance.column = std::move(column_ref);
  if (Is(TokenKind::kLParen) && AtKeyword("SELECT", 1)) {
    MRLDB_ASSIGN_OR_RETURN(distance.stored, ParseStoredVector());
  } else if (Is(TokenKind::kLBracket) || Is(TokenKind::kParameter)) {
    MRLDB_ASSIGN_OR_RETURN(distance.vector, ParseValue("a query vector"));
  } else {
    return SyntaxError(Peek(), "a query vector ([...]), a matrix ([[...], ...]), a parameter or "
                               "(SELECT column FROM collection WHERE id = ...)");
  }
  auto expr = std::make_unique<Expr>();
  expr->pos = pos;
  expr->node = std::move(distance);
  select->order_by = std::move(expr);
  return Status::Ok();
}

Result<StoredVector> Parser::ParseStoredVector() {
  Advance();  // (
  Advance();  // SELECT
  StoredVector stored;
  stored.column_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(stored.column, ParseName("the vector column"));
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("FROM"));
  stored.collection_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(stored.collection, ParseName("a collection name"));
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("WHERE"));
  stored.id_column_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(stored.id_column, ParseName("the id column (WHERE id = ...)"));
  MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kEq, "'=' (the row is chosen by its id)"));
  MRLDB_ASSIGN_OR_RETURN(stored.id, ParseValue("an id value or a parameter"));
  MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRParen, "')'"));
  return stored;
}

Status Parser::ParseReturning(std::vector<SelectItem>* out, std::string_view more) {
  if (!AcceptKeyword("RETURNING")) return ExpectStatementEnd(more);
  do {
    MRLDB_ASSIGN_OR_RETURN(SelectItem item, ParseSelectItem());
    out->push_back(std::move(item));
  } while (Accept(TokenKind::kComma));
  const SelectItem& last = out->back();
  return ExpectStatementEnd(last.kind == SelectItem::Kind::kStar || last.alias ? "','"
                                                                                : "',', AS");
}

}  // namespace mrldb::query::internal
