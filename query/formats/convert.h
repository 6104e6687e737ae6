// Internal to mrldb::formats: text <-> typed values, shared by the csv, jsonl and ids-file code.
// Errors are InvalidArgument with a message that says what is wrong with the value only; the
// caller adds the file, line and column.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "mrldb/status.h"
#include "mrldb/types.h"

namespace mrldb::formats {

// A float32 from decimal text (JSON number syntax or what std::from_chars reads, e.g. "1e-3",
// "-0.5"; no surrounding spaces). Errors: not a number; outside the float32 range; NaN or Inf.
Result<float> ParseFloat32(std::string_view text);
// A finite double from decimal text, as ParseFloat32.
Result<double> ParseFloat64(std::string_view text);
// An int64 from decimal text ("-42"). Errors: not an integer; out of the int64 range.
Result<int64_t> ParseInt64(std::string_view text);
// BOOL from text: true/false/t/f/1/0 (case-insensitive).
Result<bool> ParseBool(std::string_view text);

// A typed attribute value from a non-empty text field (csv). TEXT is taken as it is (it must be
// valid UTF-8); INT, FLOAT and BOOL ignore spaces around the value. FLOAT must be finite.
Result<Value> ValueFromText(std::string_view text, AttrType type);
// An id from text: BIGINT must be an integer (spaces around it ignored); TEXT must be non-empty
// valid UTF-8 and is taken as it is.
Result<Key> KeyFromText(std::string_view text, IdType type);

// Whether `value` may be stored in a column of `type` (NULL always may). Writers check this.
bool ValueHasType(const Value& value, AttrType type);
// "INT 42", "TEXT 'abc'", "NULL": a value in an error message.
std::string DescribeValue(const Value& value);

// Appends the shortest decimal text that reads back as the same float / double
// (std::to_chars: "0.1", "1e-05", "-3"), an int64 in decimal, and a vector as "[x0,x1,...]".
void AppendFloat(std::string* out, float f);
void AppendDouble(std::string* out, double d);
void AppendInt(std::string* out, int64_t v);
void AppendFloats(std::string* out, std::span<const float> v);
// Appends `s` as a JSON string literal: quotes, \" \\ \n \r \t \b \f, other control
// characters as \u00XX; everything else (UTF-8 included) as it is.
void AppendJsonString(std::string* out, std::string_view s);
// Appends `s` as a csv field: quoted (with quotes doubled) when it contains the delimiter, a
// quote, "\r" or "\n", or when `quote_empty` and it is empty.
void AppendCsvField(std::string* out, std::string_view s, char delimiter, bool quote_empty);

// ASCII whitespace trimmed from both ends.
std::string_view Trim(std::string_view s);

}  // namespace mrldb::formats
