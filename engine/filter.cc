#include <cctype>

#include <fmt/format.h>

#include "engine/filter_eval.h"
#include "mrldb/filter.h"

namespace mrldb {

Filter Filter::Compare(Op op, std::string column, Value v) {
  Filter f;
  f.op_ = op;
  f.column_ = std::move(column);
  f.values_.push_back(std::move(v));
  return f;
}
Filter Filter::In(std::string column, std::vector<Value> values) {
  Filter f;
  f.op_ = Op::kIn;
  f.column_ = std::move(column);
  f.values_ = std::move(values);
  return f;
}
Filter Filter::Like(std::string column, std::string pattern) {
  Filter f = Compare(Op::kLike, std::move(column), Value{std::move(pattern)});
  return f;
}
Filter Filter::ILike(std::string column, std::string pattern) {
  Filter f = Compare(Op::kILike, std::move(column), Value{std::move(pattern)});
  return f;
}
Filter Filter::IsNull(std::string column) {
  Filter f;
  f.op_ = Op::kIsNull;
  f.column_ = std::move(column);
  return f;
}
Filter Filter::IsNotNull(std::string column) {
  Filter f = IsNull(std::move(column));
  f.op_ = Op::kIsNotNull;
  return f;
}
Filter Filter::And(std::vector<Filter> children) {
  Filter f;
  f.op_ = Op::kAnd;
  f.children_ = std::move(children);
  return f;
}
Filter Filter::Or(std::vector<Filter> children) {
  Filter f = And(std::move(children));
  f.op_ = Op::kOr;
  return f;
}
Filter Filter::Not(Filter child) {
  Filter f;
  f.op_ = Op::kNot;
  f.children_.push_back(std::move(child));
  return f;
}

std::string Filter::ToString() const {
  static constexpr const char* kOps[] = {"=", "!=", "<", "<=", ">", ">="};
  switch (op_) {
    case Op::kIn: {
      std::string s = column_ + " IN (";
      for (size_t i = 0; i < values_.size(); ++i) s += (i ? ", " : "") + ValueToString(values_[i]);
      return s + ")";
    }
    case Op::kIsNull: return column_ + " IS NULL";
    case Op::kIsNotNull: return column_ + " IS NOT NULL";
    case Op::kAnd:
    case Op::kOr: {
      if (children_.empty()) return op_ == Op::kAnd ? "TRUE" : "FALSE";
      std::string s = "(";
      for (size_t i = 0; i < children_.size(); ++i) {
        s += (i ? (op_ == Op::kAnd ? " AND " : " OR ") : "") + children_[i].ToString();
      }
      return s + ")";
    }
    case Op::kNot: return "NOT " + children_[0].ToString();
    case Op::kLike:
    case Op::kILike:
      return fmt::format("{} {} {}", column_, op_ == Op::kLike ? "LIKE" : "ILIKE",
                         ValueToString(values_[0]));
    default:
      return fmt::format("{} {} {}", column_, kOps[static_cast<int>(op_)], ValueToString(values_[0]));
  }
}

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// Converts literal `v` to the type of column `col`, or explains why it cannot be compared.
Result<Value> Coerce(const Value& v, const ColumnDef& col) {
  if (std::holds_alternative<std::monostate>(v)) return v;
  switch (col.type) {
    case AttrType::kInt:
      if (std::holds_alternative<int64_t>(v) || std::holds_alternative<double>(v)) return v;
      break;
    case AttrType::kFloat:
      if (const auto* i = std::get_if<int64_t>(&v)) return Value{static_cast<double>(*i)};
      if (std::holds_alternative<double>(v)) return v;
      break;
    case AttrType::kBool:
      if (std::holds_alternative<bool>(v)) return v;
      break;
    case AttrType::kText:
      if (std::holds_alternative<std::string>(v)) return v;
      break;
  }
  return Status::InvalidArgument(fmt::format("filter: column '{}' is {} and cannot be compared with {}",
                                             col.name, AttrTypeName(col.type), ValueToString(v)));
}

unsigned char FoldAscii(unsigned char c, bool fold) {
  return fold && c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c - 'A' + 'a') : c;
}

// The length of the UTF-8 character at text[i] (1 for ASCII and for invalid bytes, which the
// write path never stores).
size_t CharLength(std::string_view text, size_t i) {
  if (static_cast<unsigned char>(text[i]) < 0x80) return 1;
  const size_t n = Utf8SequenceLength(text, i);
  return n ? n : 1;
}

// SQL LIKE: '%' any run, '_' one character, '\' escapes the next. Greedy matching with one
// backtrack point (the last '%'), so linear in practice and never exponential.
bool LikeMatch(std::string_view text, std::string_view pattern, bool fold) {
  size_t t = 0, p = 0;
  size_t star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '%') {
      star_p = ++p;
      star_t = t;
      continue;
    }
    if (p < pattern.size() && pattern[p] == '_') {
      t += CharLength(text, t);
      ++p;
      continue;
    }
    if (p < pattern.size()) {
      const size_t lit = pattern[p] == '\\' && p + 1 < pattern.size() ? p + 1 : p;
      if (FoldAscii(pattern[lit], fold) == FoldAscii(text[t], fold)) {
        t += 1;
        p = lit + 1;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    star_t += CharLength(text, star_t);  // let the last '%' take one more character
    t = star_t;
    p = star_p;
  }
  while (p < pattern.size() && pattern[p] == '%') ++p;
  return p == pattern.size();
}

// -1, 0, 1; REQUIRES both non-NULL and of comparable types (Bind checked).
int Compare(const Value& a, const Value& b) {
  if (a.index() == 1 && b.index() == 1) {
    int64_t x = std::get<int64_t>(a), y = std::get<int64_t>(b);
    return x < y ? -1 : x > y;
  }
  if ((a.index() == 1 || a.index() == 2) && (b.index() == 1 || b.index() == 2)) {
    double x = a.index() == 1 ? double(std::get<int64_t>(a)) : std::get<double>(a);
    double y = b.index() == 1 ? double(std::get<int64_t>(b)) : std::get<double>(b);
    return x < y ? -1 : x > y;
  }
  if (a.index() == 3) return int(std::get<bool>(a)) - int(std::get<bool>(b));
  const auto& x = std::get<std::string>(a);
  const auto& y = std::get<std::string>(b);
  return x < y ? -1 : x > y;
}

}  // namespace

Result<BoundFilter::Node> BoundFilter::BindNode(const Filter& f, const CollectionSpec& spec,
                                                int depth) {
  Node n;
  n.op = f.op();
  if (f.op() == Filter::Op::kAnd || f.op() == Filter::Op::kOr || f.op() == Filter::Op::kNot) {
    if (f.op() == Filter::Op::kNot && f.children().size() != 1) {
      return Status::InvalidArgument("filter: NOT takes exactly one operand");
    }
    if (depth >= kMaxDepth) {
      return Status::InvalidArgument(fmt::format(
          "filter nested too deeply: more than {} levels of AND, OR and NOT", kMaxDepth));
    }
    for (const Filter& c : f.children()) {
      MRLDB_ASSIGN_OR_RETURN(Node child, BindNode(c, spec, depth + 1));
      n.children.push_back(std::move(child));
    }
    return n;
  }
  n.column = spec.AttributeIndex(f.column());
  ColumnDef id_col;
  if (n.column < 0 && EqualsIgnoreCase(f.column(), spec.id_column)) {
    n.column = kIdColumn;
    id_col = {spec.id_column, spec.id_type == IdType::kBigint ? AttrType::kInt : AttrType::kText};
  } else if (n.column < 0) {
    return Status::InvalidArgument(fmt::format("filter: collection '{}' has no attribute column '{}'",
                                               spec.name, f.column()));
  }
  const ColumnDef& col = n.column == kIdColumn ? id_col : spec.attributes[n.column];
  n.type = col.type;
  if (f.op() != Filter::Op::kIsNull && f.op() != Filter::Op::kIsNotNull && f.values().empty()) {
    return Status::InvalidArgument(fmt::format("filter on '{}' has no value", col.name));
  }
  if ((f.op() == Filter::Op::kLike || f.op() == Filter::Op::kILike) &&
      (col.type != AttrType::kText || std::holds_alternative<int64_t>(f.values()[0]) ||
       f.values()[0].index() == 2 || f.values()[0].index() == 3)) {
    return Status::InvalidArgument(fmt::format(
        "filter: {} needs a TEXT column and a text pattern; column '{}' is {}, the pattern {}",
        f.op() == Filter::Op::kLike ? "LIKE" : "ILIKE", col.name, AttrTypeName(col.type),
        ValueToString(f.values()[0])));
  }
  for (const Value& v : f.values()) {
    MRLDB_ASSIGN_OR_RETURN(Value c, Coerce(v, col));
    n.values.push_back(std::move(c));
  }
  return n;
}

Status Filter::Check(const CollectionSpec& spec) const {
  return BoundFilter::Bind(*this, spec).status();
}

Result<BoundFilter> BoundFilter::Bind(const Filter& filter, const CollectionSpec& spec) {
  BoundFilter b;
  MRLDB_ASSIGN_OR_RETURN(b.root_, BindNode(filter, spec, 0));
  return b;
}

BoundFilter::Tri BoundFilter::Eval(const Node& n, const std::vector<std::vector<Value>>& columns,
                                   const RowKeys& keys, uint64_t row) {
  using Op = Filter::Op;
  switch (n.op) {
    case Op::kAnd: {
      Tri r = Tri::kTrue;
      for (const Node& c : n.children) {
        Tri t = Eval(c, columns, keys, row);
        if (t == Tri::kFalse) return Tri::kFalse;
        if (t == Tri::kUnknown) r = Tri::kUnknown;
      }
      return r;
    }
    case Op::kOr: {
      Tri r = Tri::kFalse;
      for (const Node& c : n.children) {
        Tri t = Eval(c, columns, keys, row);
        if (t == Tri::kTrue) return Tri::kTrue;
        if (t == Tri::kUnknown) r = Tri::kUnknown;
      }
      return r;
    }
    case Op::kNot: {
      Tri t = Eval(n.children[0], columns, keys, row);
      return t == Tri::kUnknown ? t : (t == Tri::kTrue ? Tri::kFalse : Tri::kTrue);
    }
    default: break;
  }
  Value id_value;
  if (n.column == kIdColumn) id_value = keys.GetValue(row);
  const Value& v = n.column == kIdColumn ? id_value : columns[n.column][row];
  const bool null = std::holds_alternative<std::monostate>(v);
  if (n.op == Op::kIsNull) return null ? Tri::kTrue : Tri::kFalse;
  if (n.op == Op::kIsNotNull) return null ? Tri::kFalse : Tri::kTrue;
  if (null) return Tri::kUnknown;
  if (n.op == Op::kIn) {
    bool saw_null = false;
    for (const Value& lit : n.values) {
      if (std::holds_alternative<std::monostate>(lit)) {
        saw_null = true;
      } else if (Compare(v, lit) == 0) {
        return Tri::kTrue;
      }
    }
    return saw_null ? Tri::kUnknown : Tri::kFalse;
  }
  const Value& lit = n.values[0];
  if (std::holds_alternative<std::monostate>(lit)) return Tri::kUnknown;
  if (n.op == Op::kLike || n.op == Op::kILike) {
    return LikeMatch(std::get<std::string>(v), std::get<std::string>(lit), n.op == Op::kILike)
               ? Tri::kTrue
               : Tri::kFalse;
  }
  const int c = Compare(v, lit);
  bool r = false;
  switch (n.op) {
    case Op::kEq: r = c == 0; break;
    case Op::kNe: r = c != 0; break;
    case Op::kLt: r = c < 0; break;
    case Op::kLe: r = c <= 0; break;
    case Op::kGt: r = c > 0; break;
    case Op::kGe: r = c >= 0; break;
    default: break;
  }
  return r ? Tri::kTrue : Tri::kFalse;
}

}  // namespace mrldb
