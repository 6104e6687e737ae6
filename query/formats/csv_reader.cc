// csv (RFC 4180): fields separated by the delimiter, records by "\n" or "\r\n"; a field may be
// quoted with '"' (a quote inside doubled), and may then hold delimiters and line breaks. Empty
// lines are skipped; a UTF-8 byte order mark at the start is ignored.
#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "query/formats/convert.h"
#include "query/formats/internal.h"

namespace mrldb::formats {
namespace {

struct CsvField {
  std::string text;
  bool quoted = false;
};

// Splits the input into records of fields.
class CsvParser {
 public:
  CsvParser(InputFile* file, char delimiter) : file_(file), delimiter_(delimiter) {}

  // The line on which the record last returned by Next starts (1-based).
  uint64_t record_line() const { return record_line_; }

  // Reads the next record into (*fields)[0, *count), reusing the strings; false at the end.
  Result<bool> Next(std::vector<CsvField>* fields, size_t* count) {
    *count = 0;
    while (true) {  // skip empty lines
      const int c = file_->Peek();
      if (c == -1) {
        MRLDB_RETURN_IF_ERROR(file_->status());
        return false;
      }
      if (c != '\n' && c != '\r') break;
      file_->Get();
      if (c == '\r' && file_->Peek() == '\n') file_->Get();
      ++line_;
    }
    record_line_ = line_;
    while (true) {
      if (*count == fields->size()) fields->emplace_back();
      CsvField& f = (*fields)[(*count)++];
      f.text.clear();
      f.quoted = false;
      int c = file_->Get();
      if (c == '"') {
        f.quoted = true;
        const uint64_t quote_line = line_;
        while (true) {
          c = file_->Get();
          if (c == -1) {
            MRLDB_RETURN_IF_ERROR(file_->status());
            line_ = quote_line;
            return Error("unterminated quoted field (the file ends inside it)");
          }
          if (c == '"') {
            if (file_->Peek() != '"') break;
            file_->Get();
          } else if (c == '\n') {
            ++line_;
          }
          f.text.push_back(static_cast<char>(c));
        }
        c = file_->Get();
        if (c != delimiter_ && c != '\n' && c != '\r' && c != -1) {
          return Error("unexpected character after a closing quote (a quote inside a quoted field "
                       "must be doubled)");
        }
      } else {
        while (c != delimiter_ && c != '\n' && c != '\r' && c != -1) {
          if (c == '"') {
            return Error("quote inside an unquoted field (quote the whole field, doubling the "
                         "quotes inside)");
          }
          f.text.push_back(static_cast<char>(c));
          c = file_->Get();
        }
      }
      if (c == delimiter_) continue;
      if (c == '\r' && file_->Peek() == '\n') file_->Get();
      if (c != -1) ++line_;
      MRLDB_RETURN_IF_ERROR(file_->status());
      return true;
    }
  }

 private:
  Status Error(std::string_view what) {
    return DataError(file_->path(), fmt::format("line {}: {}", line_, what));
  }

  InputFile* file_;
  char delimiter_;
  uint64_t line_ = 1, record_line_ = 1;
};

enum class Role : uint8_t { kId, kVector, kElement, kAttribute, kSkip };

struct Column {
  std::string name;
  Role role = Role::kSkip;
  uint32_t index = 0;  // kElement: the vector element; kAttribute: the attribute
};

// The element index k of a spread vector column "<vector>_k" (decimal, no leading zeros), or -1.
int64_t ElementIndex(std::string_view name, std::string_view vector_field) {
  if (!name.starts_with(vector_field) || name.size() <= vector_field.size() + 1 ||
      name[vector_field.size()] != '_') {
    return -1;
  }
  const std::string_view digits = name.substr(vector_field.size() + 1);
  if (digits.size() > 6 || (digits.size() > 1 && digits[0] == '0')) return -1;
  int64_t k = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    k = k * 10 + (c - '0');
  }
  return k;
}

class CsvReader final : public LookaheadReader {
 public:
  CsvReader(std::unique_ptr<InputFile> file, const ReadOptions& options)
      : LookaheadReader(file->path(), Format::kCsv),
        file_(std::move(file)),
        options_(options),
        parser_(file_.get(), options.delimiter) {
    dim_ = options.dim;
    has_ids_ = !options.id_field.empty();
    for (const ColumnDef& c : options.attributes) attribute_names_.push_back(c.name);
  }

  Status Init() {
    file_->Skip("\xEF\xBB\xBF");  // a UTF-8 byte order mark
    std::vector<std::string> names = options_.columns;
    if (options_.header) {
      MRLDB_ASSIGN_OR_RETURN(bool any, parser_.Next(&fields_, &count_));
      if (!any) return DataError(path(), "empty file: no header row");
      std::vector<std::string> header;
      for (size_t i = 0; i < count_; ++i) header.emplace_back(Trim(fields_[i].text));
      if (!names.empty()) MRLDB_RETURN_IF_ERROR(MatchColumnList(header, names));
      names = std::move(header);
    }
    MRLDB_RETURN_IF_ERROR(MapColumns(names));
    // Read the first row, so that dim() is known.
    return ReadFirstRow();
  }

 private:
  Status MatchColumnList(const std::vector<std::string>& header,
                         const std::vector<std::string>& list) const {
    for (size_t i = 0; i < std::max(header.size(), list.size()); ++i) {
      if (i >= header.size() || i >= list.size() || header[i] != list[i]) {
        return DataError(path(), fmt::format(
            "line 1: the header does not match the column list: column {} is {}, the list says {}",
            i + 1, i < header.size() ? "'" + header[i] + "'" : "missing",
            i < list.size() ? "'" + list[i] + "'" : "nothing (it has " +
                std::to_string(list.size()) + " columns)"));
      }
    }
    return Status::Ok();
  }

  Status MapColumns(const std::vector<std::string>& names) {
    const std::string& vf = options_.vector_field;
    const std::string where = options_.header ? "the header" : "the column list";
    std::unordered_map<std::string, uint32_t> attrs;
    for (size_t i = 0; i < options_.attributes.size(); ++i) {
      attrs.emplace(options_.attributes[i].name, static_cast<uint32_t>(i));
    }
    std::unordered_map<std::string_view, size_t> seen;
    bool has_id = false, has_array = false;
    std::vector<bool> elements;
    for (const std::string& name : names) {
      if (!seen.emplace(name, columns_.size()).second) {
        return DataError(path(), fmt::format("{} names column '{}' twice", where, name));
      }
      Column c{name, Role::kSkip, 0};
      if (!options_.id_field.empty() && name == options_.id_field) {
        c.role = Role::kId;
        has_id = true;
      } else if (name == vf) {
        c.role = Role::kVector;
        has_array = true;
      } else if (auto it = attrs.find(name); it != attrs.end()) {
        c.role = Role::kAttribute;
        c.index = it->second;
      } else if (int64_t k = ElementIndex(name, vf); k >= 0 && k < kMaxDim) {
        c.role = Role::kElement;
        c.index = static_cast<uint32_t>(k);
        if (elements.size() <= c.index) elements.resize(c.index + 1, false);
        elements[c.index] = true;
      } else if (!options_.ignore_unknown_fields) {
        std::vector<std::string> known;
        if (!options_.id_field.empty()) known.push_back(options_.id_field);
        known.push_back(vf);
        for (const ColumnDef& a : options_.attributes) known.push_back(a.name);
        return DataError(path(), fmt::format(
            "{} names unknown column '{}' (known: {}; or {}_0..{}_<D-1> for a vector spread over "
            "columns)", where, name, fmt::join(known, ", "), vf, vf));
      }
      columns_.push_back(std::move(c));
    }
    if (has_array && !elements.empty()) {
      return DataError(path(), fmt::format("{} has both a '{}' column and '{}_<k>' columns", where,
                                           vf, vf));
    }
    if (!has_array && elements.empty()) {
      return DataError(path(), fmt::format("{} has no vector column '{}' (nor {}_0..{}_<D-1>)",
                                           where, vf, vf, vf));
    }
    if (!options_.id_field.empty() && !has_id) {
      return DataError(path(), fmt::format("{} has no id column '{}'", where, options_.id_field));
    }
    if (!elements.empty()) {
      const auto missing = std::find(elements.begin(), elements.end(), false);
      if (missing != elements.end()) {
        return DataError(path(), fmt::format("{} has column '{}_{}' but not '{}_{}': a spread "
                                             "vector needs columns {}_0..{}_<D-1>", where, vf,
                                             elements.size() - 1, vf, missing - elements.begin(),
                                             vf, vf));
      }
      const uint32_t d = static_cast<uint32_t>(elements.size());
      if (dim_ != 0 && d != dim_) {
        return DataError(path(), fmt::format("{} spreads the vector over {} columns, expected {}",
                                             where, d, dim_));
      }
      dim_ = d;
      spread_ = true;
    }
    return Status::Ok();
  }

  Status RowError(const Column& c, std::string_view what) const {
    return DataError(path(), fmt::format("line {}, column '{}': {}", parser_.record_line(), c.name,
                                         what));
  }

  // Appends the elements of an array field "[0.1, 0.2]" to *out.
  Status ParseArray(const Column& c, std::string_view text, std::vector<float>* out) const {
    text = Trim(text);
    if (text.empty()) return RowError(c, "the vector is empty (a vector cannot be NULL)");
    if (text.front() != '[' || text.back() != ']') {
      return RowError(c, "expected a vector as an array \"[x0, x1, ...]\"");
    }
    text = Trim(text.substr(1, text.size() - 2));
    if (text.empty()) return RowError(c, "the vector is empty ([])");
    for (size_t k = 0;; ++k) {
      const size_t comma = std::min(text.find(','), text.size());
      auto v = ParseFloat32(Trim(text.substr(0, comma)));
      if (!v.ok()) return RowError(c, fmt::format("element {}: {}", k, v.status().message()));
      out->push_back(*v);
      if (comma == text.size()) return Status::Ok();
      text.remove_prefix(comma + 1);
    }
  }

  // Appends up to max_rows rows to *out; returns how many.
  Result<size_t> ParseRows(Batch* out, size_t max_rows) override {
    const size_t n_attrs = options_.attributes.size();
    size_t n = 0;
    while (n < max_rows) {
      MRLDB_ASSIGN_OR_RETURN(bool any, parser_.Next(&fields_, &count_));
      if (!any) break;
      if (count_ != columns_.size()) {
        return DataError(path(), fmt::format("line {}: {} fields, expected {} (as {})",
                                             parser_.record_line(), count_, columns_.size(),
                                             options_.header ? "in the header" : "columns listed"));
      }
      const size_t first = out->vectors.size();
      if (spread_) out->vectors.resize(first + dim_);
      std::vector<Value>& attrs = out->attributes.emplace_back(n_attrs);
      for (size_t i = 0; i < count_; ++i) {
        const Column& c = columns_[i];
        const CsvField& f = fields_[i];
        switch (c.role) {
          case Role::kId: {
            auto key = KeyFromText(f.text, options_.id_type);
            if (!key.ok()) return RowError(c, key.status().message());
            out->ids.push_back(std::move(key).value());
            break;
          }
          case Role::kVector: {
            MRLDB_RETURN_IF_ERROR(ParseArray(c, f.text, &out->vectors));
            const size_t got = out->vectors.size() - first;
            if (dim_ == 0) {
              if (got > kMaxDim) {
                return RowError(c, fmt::format("{} values, more than {}", got, kMaxDim));
              }
              dim_ = static_cast<uint32_t>(got);
            }
            if (got != dim_) {
              return RowError(c, fmt::format("{} values, expected {}{}", got, dim_,
                                             options_.dim ? "" : " (as in the first row)"));
            }
            break;
          }
          case Role::kElement: {
            const std::string_view t = Trim(f.text);
            if (t.empty()) return RowError(c, "empty (a vector element cannot be NULL)");
            auto v = ParseFloat32(t);
            if (!v.ok()) return RowError(c, v.status().message());
            out->vectors[first + c.index] = *v;
            break;
          }
          case Role::kAttribute: {
            const AttrType type = options_.attributes[c.index].type;
            // Unquoted empty: NULL. Quoted empty ("") : the empty TEXT value, NULL otherwise.
            if (f.text.empty() && !(f.quoted && type == AttrType::kText)) break;
            auto v = ValueFromText(f.text, type);
            if (!v.ok()) return RowError(c, v.status().message());
            attrs[c.index] = std::move(v).value();
            break;
          }
          case Role::kSkip:
            break;
        }
      }
      ++n;
    }
    return n;
  }

  std::unique_ptr<InputFile> file_;
  const ReadOptions options_;
  CsvParser parser_;
  std::vector<Column> columns_;
  bool spread_ = false;
  std::vector<CsvField> fields_;
  size_t count_ = 0;
};

}  // namespace

Result<std::unique_ptr<VectorReader>> OpenCsvReader(std::unique_ptr<InputFile> file,
                                                    const ReadOptions& options) {
  auto reader = std::make_unique<CsvReader>(std::move(file), options);
  MRLDB_RETURN_IF_ERROR(reader->Init());
  return std::unique_ptr<VectorReader>(std::move(reader));
}

}  // namespace mrldb::formats
