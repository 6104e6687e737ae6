// Internal to the wire codec (client/wire.cc, client/wire_result.cc): appending fields to a
// frame, bounds-checked reads from a payload, and values (docs/protocol.md, "Values").
#pragma once

#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "client/wire.h"

namespace mrldb::wire::codec {

// Appends fields to a frame under construction; Finish() patches the length.
class Writer {
 public:
  explicit Writer(FrameType type, std::string* out) : out_(out), start_(out->size()) {
    out_->append(4, '\0');
    U8(static_cast<uint8_t>(type));
  }
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Raw(&v, sizeof v); }
  void U32(uint32_t v) { Raw(&v, sizeof v); }
  void U64(uint64_t v) { Raw(&v, sizeof v); }
  void I64(int64_t v) { Raw(&v, sizeof v); }
  void F64(double v) { Raw(&v, sizeof v); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_->append(s);
  }
  void Floats(std::span<const float> v) { Raw(v.data(), v.size() * sizeof(float)); }
  void Raw(const void* p, size_t n) {
    if (n > 0) out_->append(static_cast<const char*>(p), n);  // p may be null when n is 0
  }
  size_t payload_bytes() const { return out_->size() - start_ - kHeaderBytes; }
  void Finish() {
    const uint32_t length = static_cast<uint32_t>(out_->size() - start_ - 4);
    std::memcpy(out_->data() + start_, &length, 4);
  }

 private:
  std::string* out_;
  size_t start_;
};

// A whole frame of `type` whose payload `fields` writes.
template <typename F>
std::string Frame(FrameType type, F&& fields) {
  std::string out;
  Writer w(type, &out);
  fields(w);
  w.Finish();
  return out;
}

// Bounds-checked reads from a payload; every method fails (returns false) instead of reading
// past the end.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool U8(uint8_t* v) { return Raw(v, 1); }
  bool U16(uint16_t* v) { return Raw(v, 2); }
  bool U32(uint32_t* v) { return Raw(v, 4); }
  bool U64(uint64_t* v) { return Raw(v, 8); }
  bool I64(int64_t* v) { return Raw(v, 8); }
  bool F64(double* v) { return Raw(v, 8); }
  bool Str(std::string* s) {
    uint32_t n = 0;
    return U32(&n) && Bytes(n, s);
  }
  bool Bytes(size_t n, std::string* s) {
    if (n > left()) return false;
    s->assign(data_.data() + off_, n);
    off_ += n;
    return true;
  }
  // The rest of the payload.
  std::string_view Rest() {
    const std::string_view rest = data_.substr(off_);
    off_ = data_.size();
    return rest;
  }
  // n floats; false when fewer than 4n bytes are left (n is 64-bit so 4n cannot overflow for any
  // n a u32 or a product of two u32 gives).
  bool Floats(uint64_t n, std::vector<float>* v) {
    if (n > left() / sizeof(float)) return false;
    v->resize(static_cast<size_t>(n));
    return Raw(v->data(), static_cast<size_t>(n) * sizeof(float));
  }
  size_t left() const { return data_.size() - off_; }
  bool AtEnd() const { return off_ == data_.size(); }

 private:
  bool Raw(void* p, size_t n) {
    if (n > left()) return false;
    if (n == 0) return true;  // p may be null (an empty vector's data())
    std::memcpy(p, data_.data() + off_, n);
    off_ += n;
    return true;
  }
  std::string_view data_;
  size_t off_ = 0;
};

inline Status Malformed(std::string_view frame, std::string_view what) {
  return Status::InvalidArgument(fmt::format("malformed {} frame: {}", frame, what));
}

// Trailing bytes after the last field are as malformed as missing ones.
inline Status CheckEnd(const Reader& r, std::string_view frame) {
  if (r.AtEnd()) return Status::Ok();
  return Malformed(frame, fmt::format("{} unexpected bytes after the last field", r.left()));
}

// Values (parameters and cells): u8 tag = the variant's index (docs/protocol.md, "Values").
template <typename V>
void WriteValue(const V& value, Writer* w) {
  w->U8(static_cast<uint8_t>(value.index()));
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) w->I64(v);
        else if constexpr (std::is_same_v<T, double>) w->F64(v);
        else if constexpr (std::is_same_v<T, bool>) w->U8(v ? 1 : 0);
        else if constexpr (std::is_same_v<T, std::string>) w->Str(v);
        else if constexpr (std::is_same_v<T, std::vector<float>>) {
          w->U32(static_cast<uint32_t>(v.size()));
          w->Floats(v);
        } else if constexpr (std::is_same_v<T, QueryMatrix>) {
          w->U32(static_cast<uint32_t>(v.rows));
          w->U32(v.dim);
          w->Floats(v.values);
        }
      },
      value);
}

// Reads one value into `out` (a Cell, or a Param when matrices are allowed). `what()` names it
// in errors ("parameter 2", "row 3 column 1"); it is called only on an error, so a million cells
// format no labels.
template <typename V, typename What>
Status ReadValue(Reader& r, std::string_view frame, const What& what, V* out) {
  uint8_t tag = 0;
  if (!r.U8(&tag)) return Malformed(frame, what() + ": missing value tag");
  switch (tag) {
    case 0: *out = std::monostate{}; return Status::Ok();
    case 1: {
      int64_t v = 0;
      if (!r.I64(&v)) return Malformed(frame, what() + ": truncated INT64");
      *out = v;
      return Status::Ok();
    }
    case 2: {
      double v = 0;
      if (!r.F64(&v)) return Malformed(frame, what() + ": truncated FLOAT64");
      *out = v;
      return Status::Ok();
    }
    case 3: {
      uint8_t v = 0;
      if (!r.U8(&v) || v > 1) return Malformed(frame, what() + ": BOOL must be one byte, 0 or 1");
      *out = v == 1;
      return Status::Ok();
    }
    case 4: {
      std::string s;
      if (!r.Str(&s)) return Malformed(frame, what() + ": TEXT length exceeds the frame");
      *out = std::move(s);
      return Status::Ok();
    }
    case 5: {
      uint32_t dim = 0;
      std::vector<float> v;
      if (!r.U32(&dim) || !r.Floats(dim, &v)) {
        return Malformed(frame, fmt::format("{}: VECTOR of {} dims exceeds the frame", what(), dim));
      }
      *out = std::move(v);
      return Status::Ok();
    }
    case 6:
      if constexpr (std::is_same_v<V, Param>) {
        uint32_t rows = 0, dim = 0;
        if (!r.U32(&rows) || !r.U32(&dim)) return Malformed(frame, what() + ": truncated MATRIX");
        if (dim == 0) return Malformed(frame, what() + ": MATRIX dim must be at least 1");
        QueryMatrix m;
        m.rows = rows;
        m.dim = dim;
        if (!r.Floats(uint64_t{rows} * dim, &m.values)) {
          return Malformed(frame, fmt::format("{}: MATRIX of {} x {} exceeds the frame", what(), rows, dim));
        }
        *out = std::move(m);
        return Status::Ok();
      } else {
        return Malformed(frame, what() + ": MATRIX is allowed in parameters only");
      }
    default:
      return Malformed(frame, fmt::format("{}: unknown value tag {}", what(), tag));
  }
}

}  // namespace mrldb::wire::codec
