// The abstract syntax tree of mrldb's SQL-like language (grammar: docs/sql.md). The parser
// produces it; the binder/executor consumes it. Every node carries the position of its first
// token so errors can point at it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mrldb/types.h"

namespace mrldb::query {

// 1-based line and column of a token in the statement text, and its byte offset.
struct Position {
  uint32_t line = 1;
  uint32_t column = 1;
  uint32_t offset = 0;
};

// ---- Expressions (literals, parameters, vectors, predicates) ----

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Literal {  // NULL, TRUE/FALSE, integer, float, 'string'
  Value value;
};
struct VectorLiteral {  // [0.1, -2, 3e-4]
  std::vector<double> values;  // parsed exactly; the binder converts and checks finiteness
};
struct MatrixLiteral {  // [[...], [...]]: a batch of query vectors
  std::vector<std::vector<double>> rows;
};
struct Parameter {  // $1, $2 ... (1-based)
  uint32_t index = 0;
};
struct ColumnRef {  // name (unquoted names are case-insensitive; "quoted" keep case)
  std::string name;
};
enum class CompareOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe };
struct Comparison {
  CompareOp op;
  ExprPtr left, right;
};
struct InList {  // expr [NOT] IN (a, b, ...)
  ExprPtr operand;
  std::vector<ExprPtr> items;
  bool negated = false;
};
struct IsNull {  // expr IS [NOT] NULL
  ExprPtr operand;
  bool negated = false;
};
struct Between {  // expr [NOT] BETWEEN lo AND hi
  ExprPtr operand, low, high;
  bool negated = false;
};
struct Like {  // expr [NOT] LIKE pattern | expr [NOT] ILIKE pattern (ASCII case folded)
  ExprPtr operand, pattern;
  bool negated = false;
  bool case_insensitive = false;
};
enum class LogicOp : uint8_t { kAnd, kOr };
struct Logical {  // a flat chain a AND b AND c ...: two or more operands, never nested for one op
  LogicOp op;
  std::vector<ExprPtr> operands;
};
struct Not {
  ExprPtr operand;
};
// column <=> vector (cosine/ip/l2 per collection metric; <-> and <#> accepted as synonyms that
// must match the collection's metric: <-> l2, <#> ip, <=> cosine).
enum class DistanceOp : uint8_t { kCosine, kL2, kInnerProduct };
// (SELECT embedding FROM c WHERE id = value): the query is a stored row's vector.
struct StoredVector {
  std::string column, collection;
  Position column_pos, collection_pos;
  std::string id_column;
  Position id_column_pos;
  ExprPtr id;  // a Literal or Parameter
};
struct Distance {
  DistanceOp op;
  ExprPtr column;  // ColumnRef of the vector column
  ExprPtr vector;  // VectorLiteral, MatrixLiteral or Parameter; null when `stored` is set
  std::optional<StoredVector> stored;
};

struct Expr {
  Position pos;
  std::variant<Literal, VectorLiteral, MatrixLiteral, Parameter, ColumnRef, Comparison, InList,
               IsNull, Between, Logical, Not, Distance, Like>
      node;
};

// ---- Statements ----

struct ColumnSpec {  // in CREATE COLLECTION
  Position pos;
  std::string name;
  std::string type;  // upper-cased: TEXT, BIGINT, INT, INTEGER, FLOAT, DOUBLE, REAL, BOOL, BOOLEAN, VECTOR
  bool primary_key = false;
  uint32_t vector_dim = 0;                 // VECTOR(D)
  std::vector<uint32_t> matryoshka;        // MATRYOSHKA (g1, g2, ...)
  std::optional<std::string> metric;       // METRIC COSINE | IP | L2 (lower-cased)
};

// WITH (key = value, ...) options: values are literals (numbers, strings, booleans) or a plan.
struct OptionValue;
struct FunnelStageSpec {
  Position pos;
  uint32_t dims = 0;
  std::optional<uint32_t> keep;  // absent on the last stage
};
struct PlanSpec {  // USING FUNNEL (...) [EF n] | USING EXACT [AT d] | USING PREFIX d [EF n] | USING DEFAULT
  Position pos;
  enum class Kind : uint8_t { kDefault, kFunnel, kExact, kPrefix } kind = Kind::kDefault;
  std::vector<FunnelStageSpec> stages;
  std::optional<uint32_t> ef;
  std::optional<uint32_t> dims;
  Position ef_pos, dims_pos;  // of the EF and AT / PREFIX numbers (for the binder's errors)
};
struct Option {
  Position pos;
  std::string key;  // lower-cased
  std::variant<Value, PlanSpec> value;
};

struct CreateCollection {
  std::string name;
  Position name_pos;
  bool if_not_exists = false;
  std::vector<ColumnSpec> columns;
  std::vector<Option> options;  // WITH (index_dim = 64, m = 16, ef_construction = 200, ef_search = 64)
};
struct DropCollection {
  std::string name;
  Position name_pos;
  bool if_exists = false;
};
struct ShowCollections {};
struct ShowStats {  // SHOW STATS [name], SHOW PLACEMENT [name] (placement)
  std::optional<std::string> collection;
  Position collection_pos;
  bool placement = false;
};
struct Describe {
  std::string name;
  Position name_pos;
};
enum class Aggregate : uint8_t { kCountStar, kCount, kMin, kMax, kSum, kAvg };
struct SelectItem {
  Position pos;
  enum class Kind : uint8_t { kStar, kColumn, kDistance, kVectorPrefix, kQueryIndex, kAggregate } kind;
  std::string column;            // kColumn, kVectorPrefix, kAggregate (but COUNT(*)): the column
  Aggregate aggregate = Aggregate::kCountStar;  // kAggregate
  uint32_t prefix_dims = 0;      // kVectorPrefix: embedding[:64] (or PREFIX(embedding, 64))
  std::optional<std::string> alias;
};
struct Insert {
  std::string collection;
  Position collection_pos;  // of the name: errors about the collection point there
  std::vector<std::string> columns;              // optional explicit column list
  std::vector<std::vector<ExprPtr>> rows;        // VALUES (...), (...)
  bool upsert = false;  // UPSERT INTO ... or INSERT ... ON CONFLICT REPLACE / DO UPDATE
  std::vector<SelectItem> returning;  // RETURNING ...: empty when absent
};
struct Delete {
  std::string collection;
  Position collection_pos;
  ExprPtr where;  // may be null: delete all rows
  std::vector<SelectItem> returning;
};
struct Assignment {
  Position pos;
  std::string column;
  ExprPtr value;
};
struct Update {
  std::string collection;
  Position collection_pos;
  std::vector<Assignment> set;
  ExprPtr where;  // may be null
  std::vector<SelectItem> returning;
};
struct NamePos {
  Position pos;
  std::string name;
};
struct SortKey {  // ORDER BY column [ASC | DESC] [NULLS FIRST | LAST]
  Position pos;
  std::string column;
  bool descending = false;
  std::optional<bool> nulls_first;  // unset: NULLs last ascending, first descending (as SQL)
};
struct Select {
  std::vector<SelectItem> items;
  std::string collection;
  Position collection_pos;
  ExprPtr where;              // may be null
  std::vector<NamePos> group_by;
  ExprPtr order_by;           // a Distance, or null (rows in insertion order, or by sort_keys)
  std::vector<SortKey> sort_keys;  // ORDER BY columns (never with a Distance)
  std::optional<uint64_t> limit;
  std::optional<uint64_t> offset;
  Position limit_pos, offset_pos;  // of the numbers
  std::optional<PlanSpec> plan;  // USING ...
};
struct Explain {
  bool analyze = false;
  bool recall = false;  // EXPLAIN (ANALYZE, RECALL)
  std::unique_ptr<struct Statement> statement;
};
struct Copy {
  std::string collection;
  Position collection_pos;
  bool from = true;  // COPY c FROM 'file' | COPY c TO 'file'
  std::string path;
  bool stdio = false;  // FROM STDIN | TO STDOUT: the client sends or receives the data (path empty)
  std::vector<Option> options;  // format, ids, id_column, batch_size, header, delimiter ...
};
struct AlterCollection {
  std::string name;
  Position name_pos;
  std::vector<Option> options;  // SET (index_dim = 128, m = 32, ef_construction = 200, plan = FUNNEL (...))
  std::optional<ColumnSpec> add_column;  // ADD [COLUMN] name type
  std::optional<NamePos> drop_column;    // DROP [COLUMN] name
};
struct SetVariable {
  std::string name;  // lower-cased
  Value value;       // SET ef = 100; SET device = 'cpu'; RESET name -> NULL value
  bool reset = false;
};
struct ShowVariable {
  std::string name;  // lower-cased; "all" for SHOW ALL
};
struct Tune {
  std::string collection;
  Position collection_pos;
  double recall = 0.95;
  std::optional<uint32_t> k;  // TUNE c FOR RECALL 0.95 [AT 10]
  std::optional<std::string> queries_path;  // [USING QUERIES FROM 'q.npy']
  Position queries_pos;                     // of the file name
};

struct WaitForIndex {
  std::optional<std::string> collection;  // WAIT FOR INDEX [c]; absent: every collection
  Position collection_pos;
};

struct Backup {
  std::string path;  // BACKUP TO 'dir'
  Position path_pos;
};

struct Vacuum {
  std::string collection;  // VACUUM c
  Position collection_pos;
};

// The clauses PREDICT and TUNE PREDICT share (docs/sql.md, "PREDICT").
struct PredictClauses {
  std::string label;
  Position label_pos;
  std::string collection;
  Position collection_pos;
  std::optional<uint32_t> k;
  std::vector<uint32_t> cascade;  // empty: not given
  std::optional<double> confidence;
  std::optional<std::string> vote;  // upper-cased: UNIFORM or DISTANCE
  std::optional<uint32_t> shortlist;
  Position confidence_pos, vote_pos;
};
struct Predict {  // PREDICT label FROM c FOR <vector | matrix> [clauses] [WITH NEIGHBOURS] [WHERE p]
  PredictClauses clauses;
  ExprPtr query;
  bool neighbours = false;
  ExprPtr where;  // may be null
};
struct TunePredict {  // TUNE PREDICT label FROM c [clauses] FOR ACCURACY WITHIN m [SAMPLE n]
  PredictClauses clauses;
  double margin = 0.005;
  Position margin_pos;
  std::optional<uint32_t> sample;
};
struct Analyze {  // ANALYZE c [LABEL col] [SAMPLE n] [DISAGREEMENT [K n] [LIMIT n]]
  std::string collection;
  Position collection_pos;
  std::optional<std::string> label;
  Position label_pos;
  std::optional<uint32_t> sample;
  bool disagreement = false;
  std::optional<uint32_t> k;
  std::optional<uint32_t> limit;
};

struct Statement {
  Position pos;
  std::string text;  // the statement's source text (without the trailing ';')
  // The parameter numbers ($n) the statement uses (an EXPLAIN's include its statement's), in
  // ascending order, each once.
  std::vector<uint32_t> parameters;
  std::variant<CreateCollection, DropCollection, ShowCollections, Describe, Insert, Delete, Update,
               Select, Explain, Copy, AlterCollection, SetVariable, ShowVariable, Tune,
               WaitForIndex, Backup, Vacuum, Predict, TunePredict, Analyze, ShowStats>
      node;
};

}  // namespace mrldb::query
