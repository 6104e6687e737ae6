#include "shell/format.h"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

namespace mrldb::shell {

bool ParseOutputFormat(std::string_view name, OutputFormat* out) {
  if (name == "table") *out = OutputFormat::kTable;
  else if (name == "csv") *out = OutputFormat::kCsv;
  else if (name == "json") *out = OutputFormat::kJson;
  else if (name == "jsonl") *out = OutputFormat::kJsonl;
  else return false;
  return true;
}

std::string CellText(const Cell& c, size_t max_values) {
  switch (c.index()) {
    case 0: return "NULL";
    case 1: return std::to_string(std::get<int64_t>(c));
    case 2: {
      // Distances are float32 widened to double: print them in float's shortest form.
      const double d = std::get<double>(c);
      const float f = static_cast<float>(d);
      return static_cast<double>(f) == d ? fmt::format("{}", f) : fmt::format("{}", d);
    }
    case 3: return std::get<bool>(c) ? "true" : "false";
    case 4: return std::get<std::string>(c);
    default: {
      const auto& v = std::get<std::vector<float>>(c);
      const size_t shown = max_values ? std::min(v.size(), max_values) : v.size();
      std::string s = "[";
      for (size_t i = 0; i < shown; ++i) s += fmt::format("{}{}", i ? ", " : "", v[i]);
      if (shown < v.size()) s += fmt::format(", ... {} values", v.size());
      return s + "]";
    }
  }
}

namespace {

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20) out += fmt::format("\\u{:04x}", ch);
        else out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

std::string JsonCell(const Cell& c) {
  if (c.index() == 0) return "null";
  if (c.index() == 4) return JsonString(std::get<std::string>(c));
  return CellText(c, 0);
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}

std::string JsonRow(const ResultSet& r, const std::vector<Cell>& row) {
  std::string s = "{";
  for (size_t i = 0; i < row.size(); ++i) {
    s += fmt::format("{}{}: {}", i ? ", " : "", JsonString(r.columns[i].name), JsonCell(row[i]));
  }
  return s + "}";
}

// \x: one block per row; vectors abbreviated as in the aligned table.
void PrintExpanded(const ResultSet& r, FILE* out) {
  size_t name_w = 0, value_w = 0;
  std::vector<std::vector<std::string>> text;
  for (const auto& c : r.columns) name_w = std::max(name_w, c.name.size());
  for (const auto& row : r.rows) {
    text.emplace_back();
    for (const Cell& c : row) {
      std::string t = CellText(c, 8);
      std::replace(t.begin(), t.end(), '\n', ' ');
      value_w = std::max(value_w, t.size());
      text.back().push_back(std::move(t));
    }
  }
  for (size_t i = 0; i < text.size(); ++i) {
    const std::string head = fmt::format("-[ RECORD {} ]", i + 1);
    const size_t line = std::max(head.size() + 1, name_w + 3 + value_w);
    fmt::print(out, "{}{}\n", head, std::string(line - head.size(), '-'));
    for (size_t j = 0; j < text[i].size(); ++j) {
      fmt::print(out, "{:<{}} | {}\n", r.columns[j].name, name_w, text[i][j]);
    }
  }
  if (r.rows.empty()) fmt::print(out, "(0 rows)\n");
}

}  // namespace

std::string FormatResult(const ResultSet& r, OutputFormat format, bool expanded) {
  char* buf = nullptr;
  size_t size = 0;
  FILE* f = open_memstream(&buf, &size);
  if (f == nullptr) return "";
  PrintResult(r, format, f, expanded);
  std::fclose(f);
  std::string text(buf, size);
  std::free(buf);
  return text;
}

void PrintResult(const ResultSet& r, OutputFormat format, FILE* out, bool expanded) {
  if (r.columns.empty()) {
    if (format == OutputFormat::kTable) fmt::print(out, "{}\n", r.tag);
    return;
  }
  switch (format) {
    case OutputFormat::kCsv: {
      for (size_t i = 0; i < r.columns.size(); ++i) fmt::print(out, "{}{}", i ? "," : "", CsvField(r.columns[i].name));
      fmt::print(out, "\n");
      for (const auto& row : r.rows) {
        for (size_t i = 0; i < row.size(); ++i) {
          fmt::print(out, "{}{}", i ? "," : "", row[i].index() == 0 ? "" : CsvField(CellText(row[i], 0)));
        }
        fmt::print(out, "\n");
      }
      return;
    }
    case OutputFormat::kJson: {
      fmt::print(out, "[");
      for (size_t i = 0; i < r.rows.size(); ++i) fmt::print(out, "{}\n  {}", i ? "," : "", JsonRow(r, r.rows[i]));
      fmt::print(out, "{}]\n", r.rows.empty() ? "" : "\n");
      return;
    }
    case OutputFormat::kJsonl:
      for (const auto& row : r.rows) fmt::print(out, "{}\n", JsonRow(r, row));
      return;
    case OutputFormat::kTable: break;
  }
  if (expanded) return PrintExpanded(r, out);
  // Aligned table; numbers right-aligned, vectors abbreviated to 8 values.
  std::vector<std::vector<std::string>> text;
  std::vector<size_t> width;
  for (const auto& c : r.columns) width.push_back(c.name.size());
  for (const auto& row : r.rows) {
    text.emplace_back();
    for (size_t i = 0; i < row.size(); ++i) {
      std::string t = CellText(row[i], 8);
      std::replace(t.begin(), t.end(), '\n', ' ');
      width[i] = std::max(width[i], t.size());
      text.back().push_back(std::move(t));
    }
  }
  auto numeric = [&](size_t i) {
    return r.columns[i].type == CellType::kBigint || r.columns[i].type == CellType::kFloat;
  };
  for (size_t i = 0; i < r.columns.size(); ++i) {
    fmt::print(out, "{}{:^{}}", i ? " | " : " ", r.columns[i].name, width[i]);
  }
  fmt::print(out, "\n");
  for (size_t i = 0; i < r.columns.size(); ++i) fmt::print(out, "{}{}", i ? "-+-" : "-", std::string(width[i], '-'));
  fmt::print(out, "-\n");
  for (const auto& row : text) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (numeric(i)) {
        fmt::print(out, "{}{:>{}}", i ? " | " : " ", row[i], width[i]);
      } else {
        fmt::print(out, "{}{:<{}}", i ? " | " : " ", row[i], width[i]);
      }
    }
    fmt::print(out, "\n");
  }
  fmt::print(out, "({} row{})\n", r.rows.size(), r.rows.size() == 1 ? "" : "s");
}

}  // namespace mrldb::shell
