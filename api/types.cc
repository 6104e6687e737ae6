#include "mrldb/types.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "mrldb/insert_batch.h"
#include "mrldb/options.h"

namespace mrldb {

std::string Status::ToString() const {
  if (ok()) return "OK";
  return fmt::format("{}: {}", CodeName(code_), message_);
}

std::string_view Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "Invalid argument";
    case Code::kNotFound: return "Not found";
    case Code::kAlreadyExists: return "Already exists";
    case Code::kCorruption: return "Corruption";
    case Code::kIOError: return "IO error";
    case Code::kNotSupported: return "Not supported";
    case Code::kVersionMismatch: return "Version mismatch";
    case Code::kInternal: return "Internal error";
    case Code::kCancelled: return "Cancelled";
    case Code::kReadOnly: return "Read-only";
  }
  return "Unknown";
}

std::string_view MetricName(Metric m) {
  switch (m) {
    case Metric::kCosine: return "cosine";
    case Metric::kInnerProduct: return "ip";
    case Metric::kL2: return "l2";
  }
  return "?";
}

std::string_view GraphCodesName(GraphCodes c) {
  switch (c) {
    case GraphCodes::kFloat32: return "float32";
    case GraphCodes::kInt8: return "int8";
  }
  return "?";
}

std::string_view PlanSourceName(PlanSource s) {
  switch (s) {
    case PlanSource::kDerived: return "derived";
    case PlanSource::kAutoTuned: return "auto-tuned";
    case PlanSource::kTune: return "TUNE";
    case PlanSource::kSet: return "set";
  }
  return "?";
}

std::string_view AttrTypeName(AttrType t) {
  switch (t) {
    case AttrType::kText: return "TEXT";
    case AttrType::kInt: return "INT";
    case AttrType::kFloat: return "FLOAT";
    case AttrType::kBool: return "BOOL";
  }
  return "?";
}

std::string_view IdTypeName(IdType t) { return t == IdType::kText ? "TEXT" : "BIGINT"; }

Result<uint64_t> ParseMemoryBudget(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument(fmt::format(
        "memory budget '{}': {} (a positive number of bytes with an optional unit K, M, G or T, "
        "e.g. 8G)", text, why));
  };
  size_t digits = 0;
  uint64_t n = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    const uint64_t d = uint64_t(text[digits] - '0');
    if (n > (UINT64_MAX - d) / 10) return bad("too large");
    n = n * 10 + d;
    ++digits;
  }
  if (digits == 0) return bad(text.empty() || text[0] != '-' ? "not a number" : "negative");
  const std::string_view unit = text.substr(digits);
  int shift = 0;
  if (unit.size() > 1 || (unit.size() == 1 && !std::strchr("kKmMgGtT", unit[0]))) {
    return bad(fmt::format("unknown unit '{}'", unit));
  }
  if (!unit.empty()) {
    switch (unit[0]) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      default: shift = 40; break;
    }
  }
  if (n == 0) return bad("0");
  if (n > (UINT64_MAX >> shift)) return bad("too large");
  return n << shift;
}

Result<Metric> ParseMetric(std::string_view name) {
  std::string n(name);
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  if (n == "cosine") return Metric::kCosine;
  if (n == "ip" || n == "inner_product" || n == "dot") return Metric::kInnerProduct;
  if (n == "l2" || n == "euclidean") return Metric::kL2;
  return Status::InvalidArgument(
      fmt::format("unknown metric '{}' (expected cosine, ip or l2)", name));
}

std::string KeyToString(const Key& key) {
  if (const auto* i = std::get_if<int64_t>(&key)) return std::to_string(*i);
  return fmt::format("'{}'", std::get<std::string>(key));
}

std::string ValueToString(const Value& v) {
  switch (v.index()) {
    case 0: return "NULL";
    case 1: return std::to_string(std::get<int64_t>(v));
    case 2: return fmt::format("{}", std::get<double>(v));
    case 3: return std::get<bool>(v) ? "true" : "false";
    default: return fmt::format("'{}'", std::get<std::string>(v));
  }
}

size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = b(i);
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > text.size() || b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

int64_t InvalidUtf8Offset(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0) return static_cast<int64_t>(i);
    i += n;
  }
  return -1;
}

std::string DescribeInvalidUtf8(std::string_view text) {
  const int64_t at = InvalidUtf8Offset(text);
  if (at < 0) return "";
  return fmt::format("is not valid UTF-8 (byte {} of {}: 0x{:02x})", at + 1, text.size(),
                     static_cast<unsigned char>(text[static_cast<size_t>(at)]));
}

std::vector<uint32_t> DefaultLadder(uint32_t dim) {
  std::vector<uint32_t> g;
  for (uint32_t p = 16; p < dim; p *= 2) g.push_back(p);
  g.push_back(dim);
  return g;
}

namespace {

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string Lower(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return std::tolower(c); });
  return r;
}

}  // namespace

Status CollectionSpec::Validate() {
  auto bad = [this](std::string msg) {
    return Status::InvalidArgument(fmt::format("collection '{}': {}", name, msg));
  };
  if (!ValidName(name)) {
    return Status::InvalidArgument(fmt::format(
        "invalid collection name '{}': use 1-64 letters, digits or '_', not starting with a digit",
        name));
  }
  if (dim < 1 || dim > 65536) return bad(fmt::format("dimension {} is outside 1..65536", dim));
  if (granularities.empty()) granularities = DefaultLadder(dim);
  for (size_t i = 0; i < granularities.size(); ++i) {
    if (granularities[i] == 0) return bad("granularity 0 in the MATRYOSHKA ladder");
    if (i > 0 && granularities[i] <= granularities[i - 1]) {
      return bad(fmt::format("MATRYOSHKA ladder must be strictly increasing: {} follows {}",
                             granularities[i], granularities[i - 1]));
    }
  }
  if (granularities.back() != dim) {
    return bad(fmt::format("MATRYOSHKA ladder must end at the dimension {}, not {}", dim,
                           granularities.back()));
  }
  if (granularities.size() > 1024) return bad("MATRYOSHKA ladder has more than 1024 steps");
  if (metric != Metric::kCosine && metric != Metric::kInnerProduct && metric != Metric::kL2) {
    return bad("unknown metric");
  }
  if (index_dim == 0) {
    index_dim = granularities.front();
    for (uint32_t g : granularities) {
      if (g <= 64) index_dim = g;
    }
  } else if (std::find(granularities.begin(), granularities.end(), index_dim) ==
             granularities.end()) {
    return bad(fmt::format("index_dim {} is not a granularity of the ladder", index_dim));
  }
  if (!(target_recall > 0 && target_recall <= 1)) {  // NaN fails too
    return bad(fmt::format("target_recall = {} is outside (0, 1]", target_recall));
  }
  if (hnsw.m < 2 || hnsw.m > 256) return bad(fmt::format("m = {} is outside 2..256", hnsw.m));
  if (hnsw.ef_construction < 1 || hnsw.ef_construction > 100000) {
    return bad(fmt::format("ef_construction = {} is outside 1..100000", hnsw.ef_construction));
  }
  if (hnsw.ef_search < 1 || hnsw.ef_search > 100000) {
    return bad(fmt::format("ef_search = {} is outside 1..100000", hnsw.ef_search));
  }
  if (id_type != IdType::kText && id_type != IdType::kBigint) return bad("unknown id type");
  if (!ValidName(id_column)) return bad(fmt::format("invalid id column name '{}'", id_column));
  if (!ValidName(vector_column)) {
    return bad(fmt::format("invalid vector column name '{}'", vector_column));
  }
  std::set<std::string> seen = {Lower(id_column)};
  if (!seen.insert(Lower(vector_column)).second) {
    return bad(fmt::format("column '{}' is defined twice", vector_column));
  }
  if (attributes.size() > 1024) return bad("more than 1024 attribute columns");
  if (id_position == vector_position || id_position > attributes.size() + 1 ||
      vector_position > attributes.size() + 1) {
    return bad(fmt::format("id and vector column positions {} and {} do not fit {} columns",
                           id_position, vector_position, attributes.size() + 2));
  }
  for (const ColumnDef& c : attributes) {
    if (!ValidName(c.name)) return bad(fmt::format("invalid column name '{}'", c.name));
    if (c.type != AttrType::kText && c.type != AttrType::kInt && c.type != AttrType::kFloat &&
        c.type != AttrType::kBool) {
      return bad(fmt::format("column '{}' has an unknown type", c.name));
    }
    if (!seen.insert(Lower(c.name)).second) {
      return bad(fmt::format("column '{}' is defined twice", c.name));
    }
  }
  return Status::Ok();
}

std::vector<int> CollectionSpec::ColumnOrder() const {
  std::vector<int> order;
  int next = 0;
  for (uint32_t at = 0; at < attributes.size() + 2; ++at) {
    order.push_back(at == id_position ? kIdColumn : at == vector_position ? kVectorColumn : next++);
  }
  return order;
}

int CollectionSpec::AttributeIndex(std::string_view column) const {
  for (size_t i = 0; i < attributes.size(); ++i) {
    if (Lower(attributes[i].name) == Lower(column)) return static_cast<int>(i);
  }
  return -1;
}

// ---- InsertBatch ----

void InsertBatch::Add(Key id, std::span<const float> vector, std::vector<Value> attributes) {
  ids_.push_back(std::move(id));
  values_.insert(values_.end(), vector.begin(), vector.end());
  offsets_.push_back(values_.size());
  attributes_.push_back(std::move(attributes));
}

void InsertBatch::AddHalf(Key id, std::span<const uint16_t> vector,
                          std::vector<Value> attributes) {
  ids_.push_back(std::move(id));
  for (uint16_t h : vector) values_.push_back(HalfToFloat(h));
  offsets_.push_back(values_.size());
  attributes_.push_back(std::move(attributes));
}

void InsertBatch::Reserve(size_t rows, size_t dim) {
  ids_.reserve(rows);
  values_.reserve(rows * dim);
  offsets_.reserve(rows + 1);
  attributes_.reserve(rows);
}

void InsertBatch::Clear() {
  ids_.clear();
  values_.clear();
  offsets_.assign(1, 0);
  attributes_.clear();
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // Inf or NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // normal: rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal half: normalize the mantissa.
    exp = 113;
    while (!(mant & 0x400)) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace mrldb
