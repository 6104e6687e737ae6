// jsonl: one JSON object per line; blank lines are skipped.
//
// Two readers of a line. simdjson's on-demand parser (Debian libsimdjson-dev) takes the lines it
// can read whole: the reader is about twice and COPY about 1.8x as fast as with JsonCursor alone
// (docs/benchmarks.md, "COPY FROM jsonl"). JsonCursor (query/formats/json.h) reads every other
// line again, to take it (an ignored unknown field) or to name the line, byte and field of what
// is wrong with it. Ids and attributes are converted by the same code in both (JsonCursor on the
// token, then KeyFromJson / ValueFromJson), vector elements to the same float (NumberToken), so
// a line reads the same either way.
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <simdjson.h>

#include "query/formats/convert.h"
#include "query/formats/internal.h"
#include "query/formats/json.h"

namespace mrldb::formats {
namespace {

using Kind = JsonScalar::Kind;

Result<Key> KeyFromJson(const JsonScalar& s, IdType type) {
  if (type == IdType::kBigint) {
    if (s.kind != Kind::kNumber || !s.integer) {
      return Status::InvalidArgument(fmt::format(
          "a BIGINT id must be an integer, not {}",
          s.kind == Kind::kNumber ? s.text : std::string(JsonKindName(s.kind))));
    }
    MRLDB_ASSIGN_OR_RETURN(int64_t v, ParseInt64(s.text));
    return Key{v};
  }
  if (s.kind == Kind::kNumber && s.integer) return Key{s.text};
  if (s.kind != Kind::kString) {
    return Status::InvalidArgument(fmt::format("a TEXT id must be a string (or an integer), not {}",
                                               JsonKindName(s.kind)));
  }
  if (s.text.empty()) return Status::InvalidArgument("the id is empty");
  return Key{s.text};
}

Result<Value> ValueFromJson(const JsonScalar& s, AttrType type) {
  if (s.kind == Kind::kNull) return Value{};
  const auto mismatch = [&] {
    return Status::InvalidArgument(fmt::format(
        "expected {}, got {}", AttrTypeName(type),
        s.kind == Kind::kNumber ? s.text : std::string(JsonKindName(s.kind))));
  };
  switch (type) {
    case AttrType::kText:
      if (s.kind != Kind::kString) return mismatch();
      return Value{s.text};
    case AttrType::kInt: {
      if (s.kind != Kind::kNumber || !s.integer) return mismatch();
      MRLDB_ASSIGN_OR_RETURN(int64_t v, ParseInt64(s.text));
      return Value{v};
    }
    case AttrType::kFloat: {
      if (s.kind != Kind::kNumber) return mismatch();
      MRLDB_ASSIGN_OR_RETURN(double v, ParseFloat64(s.text));
      return Value{v};
    }
    case AttrType::kBool:
      if (s.kind != Kind::kBool) return mismatch();
      return Value{s.boolean};
  }
  return Status::Internal("unknown attribute type");
}

class JsonlReader final : public LookaheadReader {
 public:
  JsonlReader(std::unique_ptr<InputFile> file, const ReadOptions& options)
      : LookaheadReader(file->path(), Format::kJsonl), file_(std::move(file)), options_(options) {
    dim_ = options.dim;
    has_ids_ = !options.id_field.empty();
    for (size_t i = 0; i < options.attributes.size(); ++i) {
      attribute_names_.push_back(options.attributes[i].name);
      attrs_.emplace(options.attributes[i].name, i);
    }
    seen_.resize(options.attributes.size());
  }

  // Reads the first row, so that dim() is known.
  Status Init() {
    return ReadFirstRow();
  }

 private:
  Result<size_t> ParseRows(Batch* out, size_t max_rows) override {
    size_t n = 0;
    while (n < max_rows) {
      if (!file_->ReadLine(&line_)) {
        MRLDB_RETURN_IF_ERROR(file_->status());
        break;
      }
      ++line_no_;
      if (line_no_ == 1 && line_.starts_with("\xEF\xBB\xBF")) line_.erase(0, 3);
      if (Trim(line_).empty()) continue;
      if (!FastParseObject(out)) MRLDB_RETURN_IF_ERROR(ParseObject(out));
      ++n;
    }
    return n;
  }

  // "<path>: line L, byte B: <what>" (B 1-based).
  Status Error(size_t offset, std::string_view what) const {
    return DataError(path(), fmt::format("line {}, byte {}: {}", line_no_, offset + 1, what));
  }
  Status SyntaxError(const JsonCursor& cur, const Status& s) const {
    return Error(cur.error_offset(), s.message());
  }

  Status ParseObject(Batch* out) {
    JsonCursor cur(line_);
    const std::string& vf = options_.vector_field;
    const size_t first = out->vectors.size();
    std::vector<Value>& attrs = out->attributes.emplace_back(options_.attributes.size());
    std::fill(seen_.begin(), seen_.end(), 0);
    char seen_id = 0, seen_vector = 0;
    Status s = cur.Expect('{', "'{': each line must hold one JSON object");
    if (!s.ok()) return SyntaxError(cur, s);
    if (!cur.Consume('}')) {
      while (true) {
        cur.Peek();
        const size_t key_at = cur.offset();
        if (!(s = cur.ParseString(&key_)).ok()) return SyntaxError(cur, s);
        if (!(s = cur.Expect(':', "':' after the key")).ok()) return SyntaxError(cur, s);
        cur.Peek();
        const size_t value_at = cur.offset();
        const auto attr = attrs_.find(key_);
        char* seen = key_ == vf                                      ? &seen_vector
                     : !options_.id_field.empty() && key_ == options_.id_field ? &seen_id
                     : attr != attrs_.end() ? &seen_[attr->second]
                                            : nullptr;
        if (seen != nullptr && *seen) return Error(key_at, fmt::format("field '{}' twice", key_));
        if (seen != nullptr) *seen = 1;
        if (key_ == vf) {
          MRLDB_RETURN_IF_ERROR(ParseVector(&cur, &out->vectors));
          const size_t got = out->vectors.size() - first;
          if (dim_ == 0) {
            if (got > kMaxDim) {
              return Error(value_at, fmt::format("field '{}': {} values, more than {}", vf, got,
                                                 kMaxDim));
            }
            dim_ = static_cast<uint32_t>(got);
          }
          if (got != dim_) {
            return Error(value_at, fmt::format("field '{}': {} values, expected {}{}", vf, got,
                                               dim_, options_.dim ? "" : " (as in the first row)"));
          }
        } else if (seen == &seen_id) {
          if (!(s = cur.ParseValue(&value_)).ok()) return SyntaxError(cur, s);
          auto key = KeyFromJson(value_, options_.id_type);
          if (!key.ok()) return Error(value_at, "field '" + key_ + "': " + key.status().message());
          out->ids.push_back(std::move(key).value());
        } else if (seen != nullptr) {
          if (!(s = cur.ParseValue(&value_)).ok()) return SyntaxError(cur, s);
          auto v = ValueFromJson(value_, options_.attributes[attr->second].type);
          if (!v.ok()) return Error(value_at, "field '" + key_ + "': " + v.status().message());
          attrs[attr->second] = std::move(v).value();
        } else if (options_.ignore_unknown_fields) {
          if (!(s = cur.SkipValue()).ok()) return SyntaxError(cur, s);
        } else {
          return Error(key_at, fmt::format("unknown field '{}'", key_));
        }
        if (cur.Consume('}')) break;
        if (!(s = cur.Expect(',', "',' or '}' after a value")).ok()) return SyntaxError(cur, s);
      }
    }
    if (!cur.AtEnd()) return Error(cur.offset(), "text after the object (one object per line)");
    if (!seen_vector) return Error(0, fmt::format("no field '{}' (the vector)", vf));
    if (has_ids_ && !seen_id) {
      return Error(0, fmt::format("no field '{}' (the id)", options_.id_field));
    }
    return Status::Ok();
  }

  // The token of a scalar as simdjson found it, read by JsonCursor: false unless it is one whole
  // valid JSON scalar.
  static bool ScalarToken(simdjson::ondemand::value value, JsonScalar* out) {
    std::string_view token = Trim(value.raw_json_token());
    JsonCursor cur(token);
    return token.size() > 0 && token[0] != '[' && token[0] != '{' && cur.ParseValue(out).ok() &&
           cur.AtEnd();
  }

  // A vector element (most of a line). simdjson checks the JSON number grammar and reads the
  // double d; the float is d rounded, which is the decimal rounded to float (what ParseFloat32
  // gives) unless d lies exactly halfway between two floats (every such point is a double, so
  // the decimal and d are on the same side of any other): in the normal float range, when the
  // 29 mantissa bits a float drops are exactly 1000...0. Halfway points, and d outside the
  // normal float range (ParseFloat32's underflow and overflow rules), take ParseFloat32.
  static bool NumberToken(simdjson::ondemand::value value, float* out) {
    const std::string_view token = value.raw_json_token();
    double d = 0;
    if (value.get_double().get(d)) return false;
    const double magnitude = std::fabs(d);
    constexpr uint64_t kDropped = (uint64_t{1} << 29) - 1, kHalf = uint64_t{1} << 28;
    if (magnitude >= std::numeric_limits<float>::min() &&
        magnitude <= std::numeric_limits<float>::max() &&
        (std::bit_cast<uint64_t>(d) & kDropped) != kHalf) {
      *out = static_cast<float>(d);
      return true;
    }
    auto v = ParseFloat32(Trim(token));
    if (!v.ok()) return false;
    *out = *v;
    return true;
  }

  // The line read by simdjson into `out` (a row appended), or false with `out` as it was when
  // anything about the line is other than plain: a syntax error, a bad value, a field unknown,
  // missing or twice, another dimension (ParseObject then reads it, and names the problem).
  bool FastParseObject(Batch* out) {
    namespace od = simdjson::ondemand;
    line_.reserve(line_.size() + simdjson::SIMDJSON_PADDING);
    od::document doc;
    od::object object;
    if (parser_.iterate(line_.data(), line_.size(), line_.capacity()).get(doc) ||
        doc.get_object().get(object)) {
      return false;
    }
    const std::string& vf = options_.vector_field;
    const size_t first = out->vectors.size();
    const auto fail = [&] {
      out->vectors.resize(first);
      return false;
    };
    fast_attrs_.assign(options_.attributes.size(), Value{});
    std::fill(seen_.begin(), seen_.end(), 0);
    char seen_id = 0, seen_vector = 0;
    std::optional<Key> id;
    for (auto result : object) {
      od::field field;
      std::string_view key;
      if (std::move(result).get(field) || field.unescaped_key().get(key)) return fail();
      key_.assign(key);
      const auto attr = attrs_.find(key_);
      char* seen = key_ == vf ? &seen_vector
                   : has_ids_ && key_ == options_.id_field ? &seen_id
                   : attr != attrs_.end() ? &seen_[attr->second]
                                          : nullptr;
      if (seen == nullptr || *seen) return fail();
      *seen = 1;
      od::value value = field.value();
      if (seen == &seen_vector) {
        od::array array;
        if (value.get_array().get(array)) return fail();
        for (auto element : array) {
          od::value number;
          float v = 0;
          if (std::move(element).get(number) || !NumberToken(number, &v)) return fail();
          out->vectors.push_back(v);
        }
      } else {
        if (!ScalarToken(value, &value_)) return fail();
        if (seen == &seen_id) {
          auto k = KeyFromJson(value_, options_.id_type);
          if (!k.ok()) return fail();
          id = std::move(k).value();
        } else {
          auto v = ValueFromJson(value_, options_.attributes[attr->second].type);
          if (!v.ok()) return fail();
          fast_attrs_[attr->second] = std::move(v).value();
        }
      }
    }
    const size_t got = out->vectors.size() - first;
    // Nothing after the object (OUT_OF_BOUNDS: the document's last token was read).
    const bool at_end = doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
    if (!at_end || !seen_vector || (has_ids_ && !seen_id) || got == 0 ||
        got != (dim_ != 0 ? dim_ : std::min<size_t>(got, kMaxDim + 1)) || got > kMaxDim) {
      return fail();
    }
    dim_ = static_cast<uint32_t>(got);
    if (has_ids_) out->ids.push_back(std::move(*id));
    out->attributes.push_back(std::move(fast_attrs_));
    return true;
  }

  // Appends the numbers of a JSON array to *out.
  Status ParseVector(JsonCursor* cur, std::vector<float>* out) {
    const std::string& vf = options_.vector_field;
    cur->Peek();
    const size_t open = cur->offset();
    Status s = cur->Expect('[', fmt::format("an array of numbers for field '{}'", vf));
    if (!s.ok()) return SyntaxError(*cur, s);
    if (cur->Consume(']')) return Error(open, fmt::format("field '{}' is empty", vf));
    for (size_t k = 0;; ++k) {
      cur->Peek();
      const size_t at = cur->offset();
      const char c = cur->Peek();
      if (c != '-' && (c < '0' || c > '9')) {
        JsonScalar other;
        if (!(s = cur->ParseValue(&other)).ok()) return SyntaxError(*cur, s);
        return Error(at, fmt::format("field '{}', element {}: expected a number, got {}", vf, k,
                                     JsonKindName(other.kind)));
      }
      std::string_view token;
      bool integer = false;
      if (!(s = cur->ParseNumber(&token, &integer)).ok()) return SyntaxError(*cur, s);
      auto v = ParseFloat32(token);
      if (!v.ok()) {
        return Error(at, fmt::format("field '{}', element {}: {}", vf, k, v.status().message()));
      }
      out->push_back(*v);
      if (cur->Consume(']')) return Status::Ok();
      if (!(s = cur->Expect(',', "',' or ']' in the vector")).ok()) return SyntaxError(*cur, s);
    }
  }

  std::unique_ptr<InputFile> file_;
  const ReadOptions options_;
  std::unordered_map<std::string, size_t> attrs_;
  std::vector<char> seen_;  // per attribute: seen in this object
  std::string line_, key_;
  JsonScalar value_;
  simdjson::ondemand::parser parser_;
  std::vector<Value> fast_attrs_;  // FastParseObject's row, until the whole line is read
  uint64_t line_no_ = 0;
};

}  // namespace

Result<std::unique_ptr<VectorReader>> OpenJsonlReader(std::unique_ptr<InputFile> file,
                                                      const ReadOptions& options) {
  auto reader = std::make_unique<JsonlReader>(std::move(file), options);
  MRLDB_RETURN_IF_ERROR(reader->Init());
  return std::unique_ptr<VectorReader>(std::move(reader));
}

}  // namespace mrldb::formats
