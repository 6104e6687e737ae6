#include "query/binder.h"

#include "query/suggest.h"

#include <cctype>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace mrldb::query {

Status ErrorAt(const Position& pos, std::string message) {
  return Status::InvalidArgument(std::move(message)).WithPosition(pos.line, pos.column);
}

bool SameName(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

namespace {

Result<const Param*> ParamAt(const Parameter& p, std::span<const Param> params, const Position& pos) {
  if (p.index == 0 || p.index > params.size()) {
    return ErrorAt(pos, fmt::format("parameter ${} is not bound ({} parameter{} given)", p.index,
                                    params.size(), params.size() == 1 ? "" : "s"));
  }
  return &params[p.index - 1];
}

Result<float> ToFloat(double v, const Position& pos, size_t index) {
  if (!std::isfinite(v)) {
    return ErrorAt(pos, fmt::format("vector value at dimension {} is not finite", index));
  }
  if (std::fabs(v) > std::numeric_limits<float>::max()) {
    return ErrorAt(pos, fmt::format("vector value {} at dimension {} is out of float32 range", v, index));
  }
  return static_cast<float>(v);
}

Result<std::vector<float>> CheckVector(std::vector<float> v, uint32_t dim, const Position& pos) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      return ErrorAt(pos, fmt::format("vector value at dimension {} is not finite", i));
    }
  }
  if (dim && v.size() != dim) {
    return ErrorAt(pos, fmt::format("vector has {} dimensions, expected {}", v.size(), dim));
  }
  return v;
}

}  // namespace

Result<Value> BindValue(const Expr& e, std::span<const Param> params) {
  if (const auto* lit = std::get_if<Literal>(&e.node)) return lit->value;
  if (const auto* p = std::get_if<Parameter>(&e.node)) {
    MRLDB_ASSIGN_OR_RETURN(const Param* v, ParamAt(*p, params, e.pos));
    switch (v->index()) {
      case 0: return Value{};
      case 1: return Value{std::get<int64_t>(*v)};
      case 2: return Value{std::get<double>(*v)};
      case 3: return Value{std::get<bool>(*v)};
      case 4: return Value{std::get<std::string>(*v)};
      default:
        return ErrorAt(e.pos, fmt::format("parameter ${} is a vector where a scalar value is expected",
                                          p->index));
    }
  }
  if (std::holds_alternative<VectorLiteral>(e.node) || std::holds_alternative<MatrixLiteral>(e.node)) {
    return ErrorAt(e.pos, "a vector where a scalar value is expected");
  }
  if (const auto* c = std::get_if<ColumnRef>(&e.node)) {
    return ErrorAt(e.pos, fmt::format("column \"{}\" where a value is expected", c->name));
  }
  return ErrorAt(e.pos, "an expression where a value is expected");
}

Result<std::vector<float>> BindVector(const Expr& e, std::span<const Param> params, uint32_t dim) {
  if (const auto* v = std::get_if<VectorLiteral>(&e.node)) {
    std::vector<float> out;
    out.reserve(v->values.size());
    for (size_t i = 0; i < v->values.size(); ++i) {
      MRLDB_ASSIGN_OR_RETURN(float f, ToFloat(v->values[i], e.pos, i));
      out.push_back(f);
    }
    return CheckVector(std::move(out), dim, e.pos);
  }
  if (const auto* p = std::get_if<Parameter>(&e.node)) {
    MRLDB_ASSIGN_OR_RETURN(const Param* v, ParamAt(*p, params, e.pos));
    if (const auto* vec = std::get_if<std::vector<float>>(v)) return CheckVector(*vec, dim, e.pos);
    return ErrorAt(e.pos, fmt::format("parameter ${} is not a vector", p->index));
  }
  if (std::holds_alternative<Literal>(e.node) &&
      std::holds_alternative<std::monostate>(std::get<Literal>(e.node).value)) {
    return ErrorAt(e.pos, "the vector column cannot be NULL");
  }
  return ErrorAt(e.pos, "expected a vector such as [0.1, 0.2, ...]");
}

bool IsMatrix(const Expr& e, std::span<const Param> params) {
  if (std::holds_alternative<MatrixLiteral>(e.node)) return true;
  if (const auto* p = std::get_if<Parameter>(&e.node)) {
    return p->index >= 1 && p->index <= params.size() &&
           std::holds_alternative<QueryMatrix>(params[p->index - 1]);
  }
  return false;
}

Result<QueryMatrix> BindMatrix(const Expr& e, std::span<const Param> params, uint32_t dim) {
  QueryMatrix m;
  if (const auto* lit = std::get_if<MatrixLiteral>(&e.node)) {
    m.rows = lit->rows.size();
    m.dim = lit->rows.empty() ? 0 : static_cast<uint32_t>(lit->rows[0].size());
    for (const auto& row : lit->rows) {
      for (size_t i = 0; i < row.size(); ++i) {
        MRLDB_ASSIGN_OR_RETURN(float f, ToFloat(row[i], e.pos, i));
        m.values.push_back(f);
      }
    }
  } else {
    const auto& p = std::get<Parameter>(e.node);
    MRLDB_ASSIGN_OR_RETURN(const Param* v, ParamAt(p, params, e.pos));
    m = std::get<QueryMatrix>(*v);
    if (m.values.size() != m.rows * size_t{m.dim}) {
      return ErrorAt(e.pos, fmt::format("matrix parameter ${} has {} values, not {} x {}", p.index,
                                        m.values.size(), m.rows, m.dim));
    }
  }
  if (m.rows == 0) return ErrorAt(e.pos, "the query matrix has no rows");
  if (m.dim != dim) {
    return ErrorAt(e.pos, fmt::format("query matrix rows have {} dimensions, expected {}", m.dim, dim));
  }
  for (size_t i = 0; i < m.values.size(); ++i) {
    if (!std::isfinite(m.values[i])) {
      return ErrorAt(e.pos, fmt::format("query matrix row {} has a non-finite value at dimension {}",
                                        i / dim + 1, i % dim));
    }
  }
  return m;
}

namespace {

Result<std::string> ColumnName(const Expr& e, const CollectionSpec& spec) {
  const auto* c = std::get_if<ColumnRef>(&e.node);
  if (!c) return ErrorAt(e.pos, "expected a column name");
  if (SameName(c->name, spec.vector_column)) {
    return ErrorAt(e.pos, fmt::format("the vector column \"{}\" cannot be compared in WHERE; use "
                                      "ORDER BY {} <=> [...]", c->name, c->name));
  }
  if (!SameName(c->name, spec.id_column) && spec.AttributeIndex(c->name) < 0) {
    return NoSuchColumn(e.pos, spec, c->name);
  }
  return c->name;
}

Filter::Op Flip(CompareOp op) {  // 3 < x  ==  x > 3
  switch (op) {
    case CompareOp::kLt: return Filter::Op::kGt;
    case CompareOp::kLe: return Filter::Op::kGe;
    case CompareOp::kGt: return Filter::Op::kLt;
    case CompareOp::kGe: return Filter::Op::kLe;
    case CompareOp::kEq: return Filter::Op::kEq;
    case CompareOp::kNe: return Filter::Op::kNe;
  }
  return Filter::Op::kEq;
}

Filter Make(Filter::Op op, std::string column, Value v) {
  switch (op) {
    case Filter::Op::kEq: return Filter::Eq(std::move(column), std::move(v));
    case Filter::Op::kNe: return Filter::Ne(std::move(column), std::move(v));
    case Filter::Op::kLt: return Filter::Lt(std::move(column), std::move(v));
    case Filter::Op::kLe: return Filter::Le(std::move(column), std::move(v));
    case Filter::Op::kGt: return Filter::Gt(std::move(column), std::move(v));
    default: return Filter::Ge(std::move(column), std::move(v));
  }
}

Filter::Op Direct(CompareOp op) {
  switch (op) {
    case CompareOp::kEq: return Filter::Op::kEq;
    case CompareOp::kNe: return Filter::Op::kNe;
    case CompareOp::kLt: return Filter::Op::kLt;
    case CompareOp::kLe: return Filter::Op::kLe;
    case CompareOp::kGt: return Filter::Op::kGt;
    case CompareOp::kGe: return Filter::Op::kGe;
  }
  return Filter::Op::kEq;
}

// The value `e` compared with column `column`: bound, and checked against the column's type
// here (the engine checks it too, but without a position) so that a mismatch points at `e`.
Result<Value> BindCompared(const Expr& e, std::span<const Param> params, const std::string& column,
                           const CollectionSpec& spec) {
  MRLDB_ASSIGN_OR_RETURN(Value v, BindValue(e, params));
  if (Status st = Filter::Eq(column, v).Check(spec); !st.ok()) {
    return st.WithPosition(e.pos.line, e.pos.column);
  }
  return v;
}

}  // namespace

Result<Filter> BindFilter(const Expr& e, std::span<const Param> params, const CollectionSpec& spec) {
  if (const auto* c = std::get_if<Comparison>(&e.node)) {
    const bool left_col = std::holds_alternative<ColumnRef>(c->left->node);
    const Expr& col = left_col ? *c->left : *c->right;
    const Expr& val = left_col ? *c->right : *c->left;
    MRLDB_ASSIGN_OR_RETURN(std::string name, ColumnName(col, spec));
    MRLDB_ASSIGN_OR_RETURN(Value v, BindCompared(val, params, name, spec));
    return Make(left_col ? Direct(c->op) : Flip(c->op), std::move(name), std::move(v));
  }
  if (const auto* in = std::get_if<InList>(&e.node)) {
    MRLDB_ASSIGN_OR_RETURN(std::string name, ColumnName(*in->operand, spec));
    std::vector<Value> values;
    for (const auto& item : in->items) {
      MRLDB_ASSIGN_OR_RETURN(Value v, BindCompared(*item, params, name, spec));
      values.push_back(std::move(v));
    }
    Filter f = Filter::In(std::move(name), std::move(values));
    return in->negated ? Filter::Not(std::move(f)) : f;
  }
  if (const auto* is = std::get_if<IsNull>(&e.node)) {
    MRLDB_ASSIGN_OR_RETURN(std::string name, ColumnName(*is->operand, spec));
    return is->negated ? Filter::IsNotNull(std::move(name)) : Filter::IsNull(std::move(name));
  }
  if (const auto* b = std::get_if<Between>(&e.node)) {
    MRLDB_ASSIGN_OR_RETURN(std::string name, ColumnName(*b->operand, spec));
    MRLDB_ASSIGN_OR_RETURN(Value lo, BindCompared(*b->low, params, name, spec));
    MRLDB_ASSIGN_OR_RETURN(Value hi, BindCompared(*b->high, params, name, spec));
    Filter f = Filter::And({Filter::Ge(name, std::move(lo)), Filter::Le(name, std::move(hi))});
    return b->negated ? Filter::Not(std::move(f)) : f;
  }
  if (const auto* like = std::get_if<Like>(&e.node)) {
    MRLDB_ASSIGN_OR_RETURN(std::string name, ColumnName(*like->operand, spec));
    const int attr = spec.AttributeIndex(name);
    const bool text = attr >= 0 ? spec.attributes[attr].type == AttrType::kText
                                : spec.id_type == IdType::kText;
    const char* op = like->case_insensitive ? "ILIKE" : "LIKE";
    if (!text) {
      return ErrorAt(like->operand->pos, fmt::format("{} needs a TEXT column; \"{}\" is {}", op,
                                                     name, attr >= 0
                                                         ? AttrTypeName(spec.attributes[attr].type)
                                                         : IdTypeName(spec.id_type)));
    }
    MRLDB_ASSIGN_OR_RETURN(Value pattern, BindValue(*like->pattern, params));
    if (std::holds_alternative<std::monostate>(pattern)) {
      return ErrorAt(like->pattern->pos, fmt::format("the {} pattern is NULL", op));
    }
    const auto* text_pattern = std::get_if<std::string>(&pattern);
    if (!text_pattern) {
      return ErrorAt(like->pattern->pos, fmt::format("{} takes a text pattern such as 'a%', not {}",
                                                     op, ValueToString(pattern)));
    }
    Filter f = like->case_insensitive ? Filter::ILike(std::move(name), *text_pattern)
                                      : Filter::Like(std::move(name), *text_pattern);
    return like->negated ? Filter::Not(std::move(f)) : f;
  }
  if (const auto* l = std::get_if<Logical>(&e.node)) {
    std::vector<Filter> children;
    children.reserve(l->operands.size());
    for (const ExprPtr& operand : l->operands) {
      MRLDB_ASSIGN_OR_RETURN(Filter f, BindFilter(*operand, params, spec));
      children.push_back(std::move(f));
    }
    return l->op == LogicOp::kAnd ? Filter::And(std::move(children))
                                  : Filter::Or(std::move(children));
  }
  if (const auto* n = std::get_if<Not>(&e.node)) {
    MRLDB_ASSIGN_OR_RETURN(Filter a, BindFilter(*n->operand, params, spec));
    return Filter::Not(std::move(a));
  }
  if (const auto* lit = std::get_if<Literal>(&e.node)) {
    if (const auto* b = std::get_if<bool>(&lit->value)) {
      return *b ? Filter::And({}) : Filter::Or({});
    }
  }
  return ErrorAt(e.pos, "expected a condition such as year >= 2020");
}

Result<SearchPlan> BindPlan(const PlanSpec& p) {
  // The grammar takes any 32-bit number; the plan's numbers are checked here, pointing at them.
  constexpr uint32_t kMaxDims = 65536;
  if (p.dims && (*p.dims < 1 || *p.dims > kMaxDims)) {
    return ErrorAt(p.dims_pos, fmt::format("{} {}: a prefix dimension must be in 1..{}",
                                           p.kind == PlanSpec::Kind::kExact ? "EXACT AT" : "PREFIX",
                                           *p.dims, kMaxDims));
  }
  if (p.ef && (*p.ef < 1 || *p.ef > kMaxSearchEf)) {
    return ErrorAt(p.ef_pos, fmt::format("EF {} is outside 1..{}", *p.ef, kMaxSearchEf));
  }
  for (size_t i = 0; i < p.stages.size(); ++i) {
    const FunnelStageSpec& s = p.stages[i];
    if (s.dims < 1 || s.dims > kMaxDims) {
      return ErrorAt(s.pos, fmt::format("funnel stage {} at {} dims: dimensions must be in 1..{}",
                                        i + 1, s.dims, kMaxDims));
    }
    if (s.keep && (*s.keep < 1 || *s.keep > kMaxSearchEf)) {
      return ErrorAt(s.pos, fmt::format("funnel stage {} keeps {}: KEEP must be in 1..{}", i + 1,
                                        *s.keep, kMaxSearchEf));
    }
  }
  switch (p.kind) {
    case PlanSpec::Kind::kDefault: return SearchPlan::Default();
    case PlanSpec::Kind::kExact: return SearchPlan::Exact(p.dims.value_or(0));
    case PlanSpec::Kind::kPrefix: return SearchPlan::Prefix(p.dims.value_or(0), p.ef.value_or(0));
    case PlanSpec::Kind::kFunnel: break;
  }
  std::vector<FunnelStage> stages;
  for (size_t i = 0; i < p.stages.size(); ++i) {
    const FunnelStageSpec& s = p.stages[i];
    if (!s.keep && i + 1 < p.stages.size()) {
      return ErrorAt(s.pos, fmt::format("funnel stage {} at {} dims needs KEEP n (only the last "
                                        "stage keeps LIMIT rows implicitly)", i + 1, s.dims));
    }
    stages.push_back({s.dims, s.keep.value_or(0)});
  }
  return SearchPlan::Funnel(std::move(stages), p.ef.value_or(0));
}

std::optional<std::vector<Key>> PointKeys(const Expr& e, std::span<const Param> params,
                                          const CollectionSpec& spec) {
  auto is_id = [&](const Expr& x) {
    const auto* c = std::get_if<ColumnRef>(&x.node);
    return c && SameName(c->name, spec.id_column);
  };
  // False when the value is no key of the id's type (1.0 for a BIGINT id): the scan decides.
  auto add = [&](const Expr& x, std::vector<Key>* keys) {
    auto v = BindValue(x, params);
    if (!v.ok()) return false;
    if (std::holds_alternative<std::monostate>(*v)) return true;
    auto k = ValueToKey(*v, spec, x.pos);
    if (!k.ok()) return false;
    keys->push_back(std::move(k).value());
    return true;
  };
  std::vector<Key> keys;
  if (const auto* c = std::get_if<Comparison>(&e.node); c && c->op == CompareOp::kEq) {
    const bool ok = is_id(*c->left) ? add(*c->right, &keys) : is_id(*c->right) && add(*c->left, &keys);
    if (!ok) return std::nullopt;
    return keys;
  }
  if (const auto* in = std::get_if<InList>(&e.node); in && !in->negated && is_id(*in->operand)) {
    for (const ExprPtr& item : in->items) {
      if (!add(*item, &keys)) return std::nullopt;
    }
    return keys;
  }
  if (const auto* l = std::get_if<Logical>(&e.node); l && l->op == LogicOp::kAnd) {
    for (const ExprPtr& operand : l->operands) {
      if (auto k = PointKeys(*operand, params, spec)) return k;
    }
  }
  return std::nullopt;
}

Result<Key> ValueToKey(const Value& v, const CollectionSpec& spec, const Position& pos) {
  if (spec.id_type == IdType::kBigint) {
    if (const auto* i = std::get_if<int64_t>(&v)) return Key{*i};
  } else if (const auto* s = std::get_if<std::string>(&v)) {
    return Key{*s};
  }
  return ErrorAt(pos, fmt::format("column \"{}\" is {}, got {}", spec.id_column,
                                  IdTypeName(spec.id_type), ValueToString(v)));
}

Status NoSuchColumn(const Position& pos, const CollectionSpec& spec, std::string_view column) {
  std::vector<std::string> names{spec.id_column, spec.vector_column};
  for (const ColumnDef& a : spec.attributes) names.push_back(a.name);
  return ErrorAt(pos, fmt::format("collection \"{}\" has no column \"{}\"{}", spec.name, column,
                                  DidYouMean(column, names)));
}

}  // namespace mrldb::query
