#include "storage/row_codec.h"

#include "storage/coding.h"

namespace mrldb::storage {
namespace {
enum : uint8_t { kKeyBigint = 1, kKeyText = 2 };
enum : uint8_t { kNull = 0, kInt = 1, kFloat = 2, kBool = 3, kText = 4 };
}  // namespace

void AppendKeyBytes(std::string* dst, const Key& key) {
  if (const auto* i = std::get_if<int64_t>(&key)) {
    PutBigEndian64(dst, static_cast<uint64_t>(*i) ^ (uint64_t{1} << 63));
  } else {
    dst->append(std::get<std::string>(key));
  }
}

std::string EncodeRow(const Key& key, const std::vector<Value>& attributes) {
  std::string out;
  if (const auto* i = std::get_if<int64_t>(&key)) {
    out.push_back(static_cast<char>(kKeyBigint));
    PutFixed64(&out, static_cast<uint64_t>(*i));
  } else {
    out.push_back(static_cast<char>(kKeyText));
    PutLengthPrefixed(&out, std::get<std::string>(key));
  }
  PutVarint64(&out, attributes.size());
  for (const Value& v : attributes) {
    switch (v.index()) {
      case 0: out.push_back(static_cast<char>(kNull)); break;
      case 1:
        out.push_back(static_cast<char>(kInt));
        PutFixed64(&out, static_cast<uint64_t>(std::get<int64_t>(v)));
        break;
      case 2:
        out.push_back(static_cast<char>(kFloat));
        PutDouble(&out, std::get<double>(v));
        break;
      case 3:
        out.push_back(static_cast<char>(kBool));
        out.push_back(std::get<bool>(v) ? 1 : 0);
        break;
      case 4:
        out.push_back(static_cast<char>(kText));
        PutLengthPrefixed(&out, std::get<std::string>(v));
        break;
    }
  }
  return out;
}

Status DecodeRow(std::string_view bytes, Key* key, std::vector<Value>* attributes) {
  Decoder in(bytes);
  uint8_t tag = in.U8();
  if (tag == kKeyBigint) {
    *key = static_cast<int64_t>(in.Fixed64());
  } else if (tag == kKeyText) {
    *key = std::string(in.LengthPrefixed());
  } else {
    return Status::Corruption("row record: unknown key tag");
  }
  uint64_t n = in.Varint64();
  if (n > 4096) return Status::Corruption("row record: too many attributes");
  attributes->clear();
  for (uint64_t i = 0; i < n && !in.failed(); ++i) {
    switch (in.U8()) {
      case kNull: attributes->emplace_back(); break;
      case kInt: attributes->emplace_back(static_cast<int64_t>(in.Fixed64())); break;
      case kFloat: attributes->emplace_back(in.Double()); break;
      case kBool: attributes->emplace_back(in.U8() != 0); break;
      case kText: attributes->emplace_back(std::string(in.LengthPrefixed())); break;
      default: return Status::Corruption("row record: unknown attribute tag");
    }
  }
  if (in.failed() || !in.done()) return Status::Corruption("row record does not decode");
  return Status::Ok();
}

}  // namespace mrldb::storage
