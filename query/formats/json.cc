#include "query/formats/json.h"

#include <fmt/format.h>

#include "mrldb/types.h"

namespace mrldb::formats {
namespace {

constexpr int kMaxDepth = 64;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

std::string_view JsonKindName(JsonScalar::Kind kind) {
  switch (kind) {
    case JsonScalar::Kind::kNull: return "null";
    case JsonScalar::Kind::kBool: return "a boolean";
    case JsonScalar::Kind::kNumber: return "a number";
    case JsonScalar::Kind::kString: return "a string";
    case JsonScalar::Kind::kArray: return "an array";
    case JsonScalar::Kind::kObject: return "an object";
  }
  return "?";
}

Status JsonCursor::ErrorAt(size_t offset, std::string_view message) {
  error_offset_ = offset;
  return Status::InvalidArgument(std::string(message));
}

void JsonCursor::SkipSpace() {
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    ++pos_;
  }
}

bool JsonCursor::AtEnd() {
  SkipSpace();
  return pos_ == text_.size();
}

char JsonCursor::Peek() {
  SkipSpace();
  return pos_ < text_.size() ? text_[pos_] : '\0';
}

bool JsonCursor::Consume(char c) {
  if (Peek() != c || pos_ == text_.size()) return false;
  ++pos_;
  return true;
}

Status JsonCursor::Expect(char c, std::string_view what) {
  if (Consume(c)) return Status::Ok();
  if (pos_ == text_.size()) return Error(fmt::format("expected {}, found the end of the line", what));
  return Error(fmt::format("expected {}", what));
}

Status JsonCursor::ParseHex4(uint32_t* out) {
  if (pos_ + 4 > text_.size()) return Error("\\u needs 4 hex digits");
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = text_[pos_ + i];
    const int d = IsDigit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                      : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (d < 0) return Error("\\u needs 4 hex digits");
    v = v << 4 | static_cast<uint32_t>(d);
  }
  pos_ += 4;
  *out = v;
  return Status::Ok();
}

Status JsonCursor::ParseString(std::string* out) {
  out->clear();
  if (Peek() != '"') return Error("expected a string");
  const size_t start = pos_++;
  while (true) {
    size_t run = pos_;  // a run of plain characters, copied at once
    while (run < text_.size()) {
      const unsigned char c = static_cast<unsigned char>(text_[run]);
      if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
      ++run;
    }
    out->append(text_.data() + pos_, run - pos_);
    pos_ = run;
    if (pos_ == text_.size()) return ErrorAt(start, "unterminated string");
    const unsigned char c = static_cast<unsigned char>(text_[pos_]);
    if (c == '"') {
      ++pos_;
      return Status::Ok();
    }
    if (c < 0x20) return Error("control character in a string (write it as an escape)");
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(text_, pos_);
      if (n == 0) return Error("invalid UTF-8 in a string");
      out->append(text_.data() + pos_, n);
      pos_ += n;
      continue;
    }
    // An escape.
    if (++pos_ == text_.size()) return ErrorAt(start, "unterminated string");
    const char e = text_[pos_++];
    switch (e) {
      case '"': out->push_back('"'); break;
      case '\\': out->push_back('\\'); break;
      case '/': out->push_back('/'); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        const size_t at = pos_ - 2;
        uint32_t cp = 0;
        MRLDB_RETURN_IF_ERROR(ParseHex4(&cp));
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return ErrorAt(at, fmt::format("lone low surrogate \\u{:04x}", cp));
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo = 0;
          if (pos_ + 2 > text_.size() || text_[pos_] != '\\' || text_[pos_ + 1] != 'u') {
            return ErrorAt(at, fmt::format("high surrogate \\u{:04x} not followed by a low one",
                                           cp));
          }
          pos_ += 2;
          MRLDB_RETURN_IF_ERROR(ParseHex4(&lo));
          if (lo < 0xDC00 || lo > 0xDFFF) {
            return ErrorAt(at, fmt::format("high surrogate \\u{:04x} followed by \\u{:04x}, "
                                           "not a low surrogate", cp, lo));
          }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        AppendUtf8(out, cp);
        break;
      }
      default:
        return ErrorAt(pos_ - 2, fmt::format("invalid escape '\\{}'", e));
    }
  }
}

Status JsonCursor::ParseNumber(std::string_view* token, bool* integer) {
  SkipSpace();
  const size_t start = pos_;
  const auto digits = [&] {
    const size_t from = pos_;
    while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
    return pos_ - from;
  };
  if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
  if (pos_ < text_.size() && text_[pos_] == '0') {
    ++pos_;
    if (pos_ < text_.size() && IsDigit(text_[pos_])) {
      return ErrorAt(start, "invalid number: leading zero");
    }
  } else if (digits() == 0) {
    return ErrorAt(start, "expected a number");
  }
  *integer = true;
  if (pos_ < text_.size() && text_[pos_] == '.') {
    ++pos_;
    *integer = false;
    if (digits() == 0) return ErrorAt(start, "invalid number: no digits after '.'");
  }
  if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
    ++pos_;
    *integer = false;
    if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
    if (digits() == 0) return ErrorAt(start, "invalid number: no digits in the exponent");
  }
  *token = text_.substr(start, pos_ - start);
  return Status::Ok();
}

Status JsonCursor::ParseValue(JsonScalar* out) {
  using Kind = JsonScalar::Kind;
  const char c = Peek();
  out->text.clear();
  const auto literal = [&](std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  };
  switch (c) {
    case '"':
      out->kind = Kind::kString;
      return ParseString(&out->text);
    case '[':
      out->kind = Kind::kArray;
      return Skip(0);
    case '{':
      out->kind = Kind::kObject;
      return Skip(0);
    case 't':
    case 'f':
      out->kind = Kind::kBool;
      out->boolean = c == 't';
      if (literal(c == 't' ? "true" : "false")) return Status::Ok();
      break;
    case 'n':
      out->kind = Kind::kNull;
      if (literal("null")) return Status::Ok();
      break;
    default:
      if (c == '-' || IsDigit(c)) {
        out->kind = Kind::kNumber;
        std::string_view token;
        MRLDB_RETURN_IF_ERROR(ParseNumber(&token, &out->integer));
        out->text.assign(token);
        return Status::Ok();
      }
  }
  if (pos_ == text_.size()) return Error("expected a value, found the end of the line");
  return Error("expected a value (a string, number, object, array, true, false or null)");
}

Status JsonCursor::Skip(int depth) {
  const char c = Peek();
  if (c != '[' && c != '{') {
    JsonScalar scalar;
    return ParseValue(&scalar);
  }
  if (depth >= kMaxDepth) return Error(fmt::format("nested deeper than {} levels", kMaxDepth));
  ++pos_;
  const char close = c == '[' ? ']' : '}';
  if (Consume(close)) return Status::Ok();
  std::string key;
  while (true) {
    if (close == '}') {
      MRLDB_RETURN_IF_ERROR(ParseString(&key));
      MRLDB_RETURN_IF_ERROR(Expect(':', "':' after an object key"));
    }
    MRLDB_RETURN_IF_ERROR(Skip(depth + 1));
    if (Consume(close)) return Status::Ok();
    MRLDB_RETURN_IF_ERROR(Expect(',', close == ']' ? "',' or ']' in an array"
                                                   : "',' or '}' in an object"));
  }
}

}  // namespace mrldb::formats
