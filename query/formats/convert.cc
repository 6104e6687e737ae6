#include "query/formats/convert.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>

#include <fmt/format.h>

namespace mrldb::formats {
namespace {

// At most 40 characters of `s`, for error messages.
std::string Excerpt(std::string_view s) {
  return s.size() <= 40 ? std::string(s) : std::string(s.substr(0, 37)) + "...";
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Whether decimal text that std::from_chars found out of range is tiny (underflow) rather than
// huge: the decimal exponent of its leading digit is negative.
bool Underflows(std::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  const size_t e = text.find_first_of("eE");
  int64_t exponent = 0;
  if (e != text.npos) {
    std::string_view exp = text.substr(e + 1);
    if (!exp.empty() && exp[0] == '+') exp.remove_prefix(1);
    if (std::from_chars(exp.data(), exp.data() + exp.size(), exponent).ec != std::errc()) {
      exponent = exp.starts_with('-') ? -(int64_t{1} << 40) : int64_t{1} << 40;
    }
    text = text.substr(0, e);
  }
  const size_t dot = std::min(text.find('.'), text.size());
  const size_t lead = text.find_first_not_of("0.");
  if (lead == text.npos) return true;  // all zeros
  const int64_t magnitude = lead < dot ? static_cast<int64_t>(dot - lead) - 1
                                       : -static_cast<int64_t>(lead - dot);
  return exponent + magnitude < 0;
}

template <typename T>
Result<T> ParseFloating(std::string_view text, std::string_view type_name) {
  T v = 0;
  // from_chars does not take a leading '+' (nor does JSON, whose syntax is checked before).
  std::string_view digits = text;
  if (digits.size() > 1 && digits[0] == '+' && digits[1] != '-') digits.remove_prefix(1);
  const char* end = digits.data() + digits.size();
  auto [p, ec] = std::from_chars(digits.data(), end, v, std::chars_format::general);
  if (ec == std::errc::result_out_of_range && p == end) {
    // Too small for the type rounds to zero (as a double like 1e-50 read into a float32 should);
    // too large is an error.
    if (Underflows(digits)) return digits[0] == '-' ? -T(0) : T(0);
    return Status::InvalidArgument(
        fmt::format("'{}' is outside the {} range", Excerpt(text), type_name));
  }
  if (ec != std::errc() || p != end || digits.empty()) {
    return Status::InvalidArgument(fmt::format("'{}' is not a number", Excerpt(text)));
  }
  if (!std::isfinite(v)) {
    return Status::InvalidArgument(
        fmt::format("'{}': NaN and Inf are not allowed", Excerpt(text)));
  }
  return v;
}

}  // namespace

std::string_view Trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

Result<float> ParseFloat32(std::string_view text) { return ParseFloating<float>(text, "float32"); }

Result<double> ParseFloat64(std::string_view text) { return ParseFloating<double>(text, "FLOAT"); }

Result<int64_t> ParseInt64(std::string_view text) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec == std::errc::result_out_of_range) {
    return Status::InvalidArgument(
        fmt::format("'{}' is outside the 64-bit integer range", Excerpt(text)));
  }
  if (ec != std::errc() || p != end || text.empty()) {
    return Status::InvalidArgument(fmt::format("'{}' is not an integer", Excerpt(text)));
  }
  return v;
}

Result<bool> ParseBool(std::string_view text) {
  for (std::string_view t : {"true", "t", "1"}) {
    if (EqualsIgnoreCase(text, t)) return true;
  }
  for (std::string_view f : {"false", "f", "0"}) {
    if (EqualsIgnoreCase(text, f)) return false;
  }
  return Status::InvalidArgument(fmt::format(
      "'{}' is not a boolean (true/false/t/f/1/0)", Excerpt(text)));
}

Result<Value> ValueFromText(std::string_view text, AttrType type) {
  switch (type) {
    case AttrType::kText:
      if (std::string bad = DescribeInvalidUtf8(text); !bad.empty()) {
        return Status::InvalidArgument("the TEXT value " + bad);
      }
      return Value{std::string(text)};
    case AttrType::kInt: {
      auto v = ParseInt64(Trim(text));
      if (!v.ok()) return Status::InvalidArgument("expected INT: " + v.status().message());
      return Value{*v};
    }
    case AttrType::kFloat: {
      auto v = ParseFloat64(Trim(text));
      if (!v.ok()) return Status::InvalidArgument("expected FLOAT: " + v.status().message());
      return Value{*v};
    }
    case AttrType::kBool: {
      auto v = ParseBool(Trim(text));
      if (!v.ok()) return Status::InvalidArgument("expected BOOL: " + v.status().message());
      return Value{*v};
    }
  }
  return Status::Internal("unknown attribute type");
}

Result<Key> KeyFromText(std::string_view text, IdType type) {
  if (type == IdType::kText) {
    if (text.empty()) return Status::InvalidArgument("the id is empty");
    if (std::string bad = DescribeInvalidUtf8(text); !bad.empty()) {
      return Status::InvalidArgument("the TEXT id " + bad);
    }
    return Key{std::string(text)};
  }
  const std::string_view t = Trim(text);
  if (t.empty()) return Status::InvalidArgument("the id is empty");
  auto v = ParseInt64(t);
  if (!v.ok()) return Status::InvalidArgument("BIGINT id: " + v.status().message());
  return Key{*v};
}

bool ValueHasType(const Value& value, AttrType type) {
  switch (type) {
    case AttrType::kText: return std::holds_alternative<std::string>(value);
    case AttrType::kInt: return std::holds_alternative<int64_t>(value);
    case AttrType::kFloat: return std::holds_alternative<double>(value);
    case AttrType::kBool: return std::holds_alternative<bool>(value);
  }
  return false;
}

std::string DescribeValue(const Value& value) {
  static constexpr std::string_view kNames[] = {"", "INT ", "FLOAT ", "BOOL ", "TEXT "};
  return std::string(kNames[value.index()]) + ValueToString(value);
}

namespace {
// std::to_chars straight into the string's tail: no format string, no iterator adaptor (fmt's
// back_inserter path cost 3/4 of a csv export's time). `max_chars` bounds the text of one value.
template <typename T>
void AppendNumber(std::string* out, T value, size_t max_chars) {
  const size_t old = out->size();
  out->resize(old + max_chars);
  char* begin = out->data() + old;
  const auto r = std::to_chars(begin, begin + max_chars, value);
  out->resize(old + static_cast<size_t>(r.ptr - begin));
}
}  // namespace

// Shortest round-trip forms are at most 15 (float: "-1.17549435e-38") and 24 (double) chars.
void AppendFloat(std::string* out, float f) { AppendNumber(out, f, 16); }
void AppendDouble(std::string* out, double d) { AppendNumber(out, d, 32); }
void AppendInt(std::string* out, int64_t v) { AppendNumber(out, v, 20); }

void AppendFloats(std::string* out, std::span<const float> v) {
  // One resize for the whole vector, then each value written in place.
  const size_t old = out->size();
  out->resize(old + 2 + v.size() * 17);
  char* p = out->data() + old;
  char* const end = out->data() + out->size();
  *p++ = '[';
  for (size_t j = 0; j < v.size(); ++j) {
    if (j > 0) *p++ = ',';
    p = std::to_chars(p, end, v[j]).ptr;
  }
  *p++ = ']';
  out->resize(static_cast<size_t>(p - out->data()));
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(*out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void AppendCsvField(std::string* out, std::string_view s, char delimiter, bool quote_empty) {
  bool quote = quote_empty && s.empty();
  for (size_t i = 0; i < s.size() && !quote; ++i) {
    quote = s[i] == delimiter || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
  }
  if (!quote) {
    out->append(s);
    return;
  }
  out->push_back('"');
  for (char c : s) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

}  // namespace mrldb::formats
