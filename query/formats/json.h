// Internal to mrldb::formats: a strict JSON (RFC 8259) scanner over one text, for readers that
// walk a known shape (a JSONL object) without building a tree. Strings must be valid UTF-8;
// escapes include \uXXXX with surrogate pairs (decoded to UTF-8; a lone surrogate is an error);
// numbers follow the JSON grammar (no '+', no leading zeros, no NaN/Infinity); nesting is limited
// to 64 levels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mrldb/status.h"

namespace mrldb::formats {

// One JSON value as far as a reader needs it: scalars in full, arrays and objects by kind only.
struct JsonScalar {
  enum class Kind : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;  // kBool
  bool integer = false;  // kNumber: no fraction and no exponent
  std::string text;      // kNumber: the token as written; kString: the decoded string
};

// "null", "a boolean", "a number", "a string", "an array", "an object".
std::string_view JsonKindName(JsonScalar::Kind kind);

// Reads values from `text` front to back. Every method skips whitespace before what it reads.
// Errors are InvalidArgument with the problem only ("expected ':' after an object key"); the
// byte offset where it was found is error_offset(), for the caller to name the line and column.
class JsonCursor {
 public:
  explicit JsonCursor(std::string_view text) : text_(text) {}

  // 0-based byte offset of the next unread byte / of the last error.
  size_t offset() const { return pos_; }
  size_t error_offset() const { return error_offset_; }

  // True when only whitespace is left.
  bool AtEnd();
  // The next non-whitespace character without consuming it ('\0' at the end).
  char Peek();
  // Consumes `c` if it comes next.
  bool Consume(char c);
  // Consumes `c`, or fails with "expected <what>".
  Status Expect(char c, std::string_view what);

  // A string literal, decoded into *out.
  Status ParseString(std::string* out);
  // A number: *token is its text (a view into the input), *integer whether it has no fraction
  // and no exponent.
  Status ParseNumber(std::string_view* token, bool* integer);
  // Any value. Arrays and objects are checked and skipped; only their kind is returned.
  Status ParseValue(JsonScalar* out);
  // Any value, checked and skipped.
  Status SkipValue() { return Skip(0); }

  // An InvalidArgument with `message`, found at the current offset / at `offset`.
  Status Error(std::string_view message) { return ErrorAt(pos_, message); }
  Status ErrorAt(size_t offset, std::string_view message);

 private:
  void SkipSpace();
  Status Skip(int depth);
  Status ParseHex4(uint32_t* out);

  std::string_view text_;
  size_t pos_ = 0;
  size_t error_offset_ = 0;
};

}  // namespace mrldb::formats
