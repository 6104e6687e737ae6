// A compact, unambiguous text form of query ASTs, so that parser tests can state the expected
// tree in one line. Expressions print as S-expressions: (and (= year 2020) (not (is-null t))).
// Names print as written, strings quoted, vectors as [1, -2.5].
#pragma once

#include <string>
#include <type_traits>
#include <variant>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "query/ast.h"

namespace mrldb::query::testing {

inline std::string Join(const auto& items, auto&& print, std::string_view sep = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += print(item);
  }
  return out;
}

inline std::string Numbers(const std::vector<double>& values) {
  return "[" + Join(values, [](double v) { return fmt::format("{}", v); }) + "]";
}

inline std::string Dump(const Expr& expr);
inline std::string DumpClauses(const PredictClauses& c) {
  std::string out = c.label + " from " + c.collection;
  if (c.k) out += fmt::format(" k {}", *c.k);
  if (!c.cascade.empty()) out += fmt::format(" cascade ({})", fmt::join(c.cascade, ", "));
  if (c.confidence) out += fmt::format(" confidence {}", *c.confidence);
  if (c.vote) out += " vote " + *c.vote;
  if (c.shortlist) out += fmt::format(" shortlist {}", *c.shortlist);
  return out;
}

inline std::string Dump(const ExprPtr& expr) { return expr ? Dump(*expr) : "null"; }

inline std::string Dump(const Expr& expr) {
  return std::visit(
      [](const auto& n) -> std::string {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, Literal>) {
          return ValueToString(n.value);
        } else if constexpr (std::is_same_v<T, VectorLiteral>) {
          return Numbers(n.values);
        } else if constexpr (std::is_same_v<T, MatrixLiteral>) {
          return "[" + Join(n.rows, Numbers) + "]";
        } else if constexpr (std::is_same_v<T, Parameter>) {
          return fmt::format("${}", n.index);
        } else if constexpr (std::is_same_v<T, ColumnRef>) {
          return n.name;
        } else if constexpr (std::is_same_v<T, Comparison>) {
          static constexpr const char* kOps[] = {"=", "!=", "<", "<=", ">", ">="};
          return fmt::format("({} {} {})", kOps[static_cast<int>(n.op)], Dump(n.left),
                             Dump(n.right));
        } else if constexpr (std::is_same_v<T, InList>) {
          return fmt::format("({} {} {})", n.negated ? "not-in" : "in", Dump(n.operand),
                             Join(
                                 n.items, [](const ExprPtr& e) { return Dump(e); }, " "));
        } else if constexpr (std::is_same_v<T, IsNull>) {
          return fmt::format("({} {})", n.negated ? "is-not-null" : "is-null", Dump(n.operand));
        } else if constexpr (std::is_same_v<T, Between>) {
          return fmt::format("({} {} {} {})", n.negated ? "not-between" : "between",
                             Dump(n.operand), Dump(n.low), Dump(n.high));
        } else if constexpr (std::is_same_v<T, Logical>) {
          return fmt::format("({} {})", n.op == LogicOp::kAnd ? "and" : "or",
                             Join(
                                 n.operands, [](const ExprPtr& e) { return Dump(e); }, " "));
        } else if constexpr (std::is_same_v<T, Not>) {
          return fmt::format("(not {})", Dump(n.operand));
        } else if constexpr (std::is_same_v<T, Like>) {
          return fmt::format("({}{} {} {})", n.negated ? "not-" : "",
                             n.case_insensitive ? "ilike" : "like", Dump(n.operand),
                             Dump(n.pattern));
        } else {
          static_assert(std::is_same_v<T, Distance>);
          static constexpr const char* kOps[] = {"<=>", "<->", "<#>"};
          if (n.stored) {
            return fmt::format("({} {} (select {} from {} where {} = {}))",
                               kOps[static_cast<int>(n.op)], Dump(n.column), n.stored->column,
                               n.stored->collection, n.stored->id_column, Dump(n.stored->id));
          }
          return fmt::format("({} {} {})", kOps[static_cast<int>(n.op)], Dump(n.column),
                             Dump(n.vector));
        }
      },
      expr.node);
}

inline std::string DumpStage(const FunnelStageSpec& s) {
  return s.keep ? fmt::format("{} keep {}", s.dims, *s.keep) : fmt::format("{}", s.dims);
}

// funnel(64 keep 400, 768) ef 100 | exact at 64 | prefix 64 ef 10 | default
inline std::string Dump(const PlanSpec& plan) {
  std::string out;
  switch (plan.kind) {
    case PlanSpec::Kind::kDefault: return "default";
    case PlanSpec::Kind::kFunnel: out = "funnel(" + Join(plan.stages, DumpStage) + ")"; break;
    case PlanSpec::Kind::kExact: out = "exact"; break;
    case PlanSpec::Kind::kPrefix: out = "prefix"; break;
  }
  if (plan.dims) {
    out += fmt::format("{}{}", plan.kind == PlanSpec::Kind::kExact ? " at " : " ", *plan.dims);
  }
  if (plan.ef) out += fmt::format(" ef {}", *plan.ef);
  return out;
}

inline std::string DumpOption(const Option& option) {
  if (const auto* plan = std::get_if<PlanSpec>(&option.value)) {
    return option.key + "=" + Dump(*plan);
  }
  return option.key + "=" + ValueToString(std::get<Value>(option.value));
}

inline std::string Dump(const std::vector<Option>& options) {
  return "(" + Join(options, DumpOption) + ")";
}

inline std::string DumpColumn(const ColumnSpec& c) {
  std::string out = c.name + " " + c.type;
  if (c.type == "VECTOR") out += fmt::format("({})", c.vector_dim);
  if (!c.matryoshka.empty()) out += fmt::format(" matryoshka({})", fmt::join(c.matryoshka, ","));
  if (c.metric) out += " metric " + *c.metric;
  if (c.primary_key) out += " pk";
  return out;
}

inline std::string DumpSelectItem(const SelectItem& i) {
  std::string out;
  switch (i.kind) {
    case SelectItem::Kind::kStar: out = "*"; break;
    case SelectItem::Kind::kColumn: out = i.column; break;
    case SelectItem::Kind::kDistance: out = "<distance>"; break;
    case SelectItem::Kind::kVectorPrefix:
      out = fmt::format("{}[:{}]", i.column, i.prefix_dims);
      break;
    case SelectItem::Kind::kQueryIndex: out = "<query_index>"; break;
    case SelectItem::Kind::kAggregate: {
      static constexpr const char* kNames[] = {"count", "count", "min", "max", "sum", "avg"};
      out = fmt::format("{}({})", kNames[static_cast<int>(i.aggregate)],
                        i.aggregate == Aggregate::kCountStar ? "*" : i.column);
      break;
    }
  }
  return i.alias ? out + " as " + *i.alias : out;
}

inline std::string Returning(const std::vector<SelectItem>& items) {
  return items.empty() ? "" : " returning " + Join(items, DumpSelectItem);
}

inline std::string Dump(const Statement& statement) {
  return std::visit(
      [](const auto& n) -> std::string {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, CreateCollection>) {
          std::string out = "create " + n.name + (n.if_not_exists ? " if-not-exists" : "");
          out += " (" + Join(n.columns, DumpColumn) + ")";
          if (!n.options.empty()) out += " with " + Dump(n.options);
          return out;
        } else if constexpr (std::is_same_v<T, DropCollection>) {
          return "drop " + n.name + (n.if_exists ? " if-exists" : "");
        } else if constexpr (std::is_same_v<T, ShowCollections>) {
          return "show-collections";
        } else if constexpr (std::is_same_v<T, ShowStats>) {
          return std::string(n.placement ? "show-placement" : "show-stats") +
                 (n.collection ? " " + *n.collection : std::string());
        } else if constexpr (std::is_same_v<T, Describe>) {
          return "describe " + n.name;
        } else if constexpr (std::is_same_v<T, Insert>) {
          std::string out = (n.upsert ? "upsert " : "insert ") + n.collection;
          if (!n.columns.empty()) out += " (" + fmt::format("{}", fmt::join(n.columns, ", ")) + ")";
          out += " values";
          for (const auto& row : n.rows) {
            out += " (" + Join(row, [](const ExprPtr& e) { return Dump(e); }) + ")";
          }
          return out + Returning(n.returning);
        } else if constexpr (std::is_same_v<T, Delete>) {
          return "delete " + n.collection + (n.where ? " where " + Dump(n.where) : "") +
                 Returning(n.returning);
        } else if constexpr (std::is_same_v<T, Update>) {
          return "update " + n.collection + " set " +
                 Join(n.set, [](const Assignment& a) { return a.column + "=" + Dump(a.value); }) +
                 (n.where ? " where " + Dump(n.where) : "") + Returning(n.returning);
        } else if constexpr (std::is_same_v<T, Select>) {
          std::string out = "select " + Join(n.items, DumpSelectItem);
          out += " from " + n.collection;
          if (n.where) out += " where " + Dump(n.where);
          if (!n.group_by.empty()) {
            out += " group-by " + Join(n.group_by, [](const NamePos& g) { return g.name; });
          }
          if (n.order_by) out += " order-by " + Dump(n.order_by);
          if (!n.sort_keys.empty()) {
            out += " order-by " + Join(n.sort_keys, [](const SortKey& k) {
                     return k.column + (k.descending ? " desc" : "") +
                            (k.nulls_first ? (*k.nulls_first ? " nulls-first" : " nulls-last")
                                           : "");
                   });
          }
          if (n.limit) out += fmt::format(" limit {}", *n.limit);
          if (n.offset) out += fmt::format(" offset {}", *n.offset);
          if (n.plan) out += " using " + Dump(*n.plan);
          return out;
        } else if constexpr (std::is_same_v<T, Explain>) {
          return std::string("explain") + (n.analyze ? " analyze" : "") +
                 (n.recall ? " recall" : "") + ": " + Dump(*n.statement);
        } else if constexpr (std::is_same_v<T, Copy>) {
          const std::string where = n.stdio ? (n.from ? " from stdin" : " to stdout")
                                            : (n.from ? " from '" : " to '") + n.path + "'";
          return "copy " + n.collection + where + (n.options.empty() ? "" : " with " + Dump(n.options));
        } else if constexpr (std::is_same_v<T, AlterCollection>) {
          if (n.add_column) return "alter " + n.name + " add " + DumpColumn(*n.add_column);
          if (n.drop_column) return "alter " + n.name + " drop " + n.drop_column->name;
          return "alter " + n.name + " set " + Dump(n.options);
        } else if constexpr (std::is_same_v<T, SetVariable>) {
          return n.reset ? "reset " + n.name : "set " + n.name + " = " + ValueToString(n.value);
        } else if constexpr (std::is_same_v<T, ShowVariable>) {
          return "show " + n.name;
        } else if constexpr (std::is_same_v<T, WaitForIndex>) {
          return "wait for index" + (n.collection ? " " + *n.collection : std::string());
        } else if constexpr (std::is_same_v<T, Backup>) {
          return "backup to '" + n.path + "'";
        } else if constexpr (std::is_same_v<T, Vacuum>) {
          return "vacuum " + n.collection;
        } else if constexpr (std::is_same_v<T, Predict>) {
          return "predict " + DumpClauses(n.clauses) + " for " + Dump(n.query) +
                 (n.neighbours ? " with-neighbours" : "") + (n.where ? " where " + Dump(n.where) : "");
        } else if constexpr (std::is_same_v<T, TunePredict>) {
          return fmt::format("tune-predict {} within {}{}", DumpClauses(n.clauses), n.margin,
                             n.sample ? fmt::format(" sample {}", *n.sample) : "");
        } else if constexpr (std::is_same_v<T, Analyze>) {
          return "analyze " + n.collection + (n.label ? " label " + *n.label : "") +
                 (n.sample ? fmt::format(" sample {}", *n.sample) : "") +
                 (n.disagreement ? " disagreement" : "") + (n.k ? fmt::format(" k {}", *n.k) : "") +
                 (n.limit ? fmt::format(" limit {}", *n.limit) : "");
        } else {
          static_assert(std::is_same_v<T, Tune>);
          return fmt::format("tune {} recall {}{}{}", n.collection, n.recall,
                             n.k ? fmt::format(" at {}", *n.k) : "",
                             n.queries_path ? fmt::format(" queries '{}'", *n.queries_path) : "");
        }
      },
      statement.node);
}

}  // namespace mrldb::query::testing
