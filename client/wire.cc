#include "client/wire.h"

#include <cstring>
#include <type_traits>

#include <fmt/format.h>

namespace mrldb::wire {

namespace {

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
    if (!U32(&n) || n > left()) return false;
    s->assign(data_.data() + off_, n);
    off_ += n;
    return true;
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

Status Malformed(std::string_view frame, std::string_view what) {
  return Status::InvalidArgument(fmt::format("malformed {} frame: {}", frame, what));
}

// Trailing bytes after the last field are as malformed as missing ones.
Status CheckEnd(const Reader& r, std::string_view frame) {
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

}  // namespace

std::string_view FrameTypeName(uint8_t type) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::kHello: return "HELLO";
    case FrameType::kAuth: return "AUTH";
    case FrameType::kQuery: return "QUERY";
    case FrameType::kCancel: return "CANCEL";
    case FrameType::kPing: return "PING";
    case FrameType::kClose: return "CLOSE";
    case FrameType::kHelloOk: return "HELLO_OK";
    case FrameType::kAuthOk: return "AUTH_OK";
    case FrameType::kSchema: return "SCHEMA";
    case FrameType::kRowBatch: return "ROW_BATCH";
    case FrameType::kComplete: return "COMPLETE";
    case FrameType::kError: return "ERROR";
    case FrameType::kProgress: return "PROGRESS";
    case FrameType::kPong: return "PONG";
  }
  return "unknown";
}

std::string DescribeFrame(uint8_t type) {
  const std::string_view name = FrameTypeName(type);
  const bool vowel = std::string_view("AEIOUaeiou").find(name.front()) != std::string_view::npos;
  std::string out = fmt::format("{} {} frame", vowel ? "an" : "a", name);
  if (name == "unknown") out += fmt::format(" (type 0x{:02x})", type);
  return out;
}

FrameHeader ParseHeader(const uint8_t bytes[kHeaderBytes]) {
  FrameHeader h;
  std::memcpy(&h.length, bytes, 4);
  h.type = bytes[4];
  return h;
}

std::string EncodeEmpty(FrameType type) { return Frame(type, [](Writer&) {}); }

std::string EncodeHello(const Hello& h) {
  return Frame(FrameType::kHello, [&](Writer& w) {
    w.Raw(kMagic, sizeof kMagic);
    w.U16(h.version);
    w.Str(h.client_name);
  });
}

Result<Hello> DecodeHello(std::string_view payload) {
  Reader r(payload);
  char magic[4];
  Hello h;
  for (char& c : magic) {
    uint8_t b = 0;
    if (!r.U8(&b)) return Malformed("HELLO", "truncated magic");
    c = static_cast<char>(b);
  }
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0) {
    return Malformed("HELLO", "bad magic (expected \"MRLD\": is this an mrldb client?)");
  }
  if (!r.U16(&h.version)) return Malformed("HELLO", "truncated protocol version");
  if (!r.Str(&h.client_name)) return Malformed("HELLO", "client name length exceeds the frame");
  MRLDB_RETURN_IF_ERROR(CheckEnd(r, "HELLO"));
  return h;
}

std::string EncodeHelloOk(const HelloOk& h) {
  return Frame(FrameType::kHelloOk, [&](Writer& w) {
    w.U16(h.version);
    w.Str(h.server_version);
    w.U8(h.auth_required ? 1 : 0);
    w.U32(h.max_frame_bytes);
  });
}

Result<HelloOk> DecodeHelloOk(std::string_view payload) {
  Reader r(payload);
  HelloOk h;
  uint8_t auth = 0;
  if (!r.U16(&h.version) || !r.Str(&h.server_version) || !r.U8(&auth) || auth > 1 ||
      !r.U32(&h.max_frame_bytes)) {
    return Malformed("HELLO_OK", "truncated or invalid field");
  }
  MRLDB_RETURN_IF_ERROR(CheckEnd(r, "HELLO_OK"));
  h.auth_required = auth == 1;
  return h;
}

std::string EncodeAuth(std::string_view token) {
  return Frame(FrameType::kAuth, [&](Writer& w) {
    w.Str(token);
  });
}

Result<std::string> DecodeAuth(std::string_view payload) {
  Reader r(payload);
  std::string token;
  if (!r.Str(&token)) return Malformed("AUTH", "token length exceeds the frame");
  MRLDB_RETURN_IF_ERROR(CheckEnd(r, "AUTH"));
  return token;
}

std::string EncodeQuery(std::string_view sql, std::span<const Param> params) {
  return Frame(FrameType::kQuery, [&](Writer& w) {
    w.Str(sql);
    w.U32(static_cast<uint32_t>(params.size()));
    for (const Param& p : params) WriteValue(p, &w);
  });
}

Result<Query> DecodeQuery(std::string_view payload) {
  Reader r(payload);
  Query q;
  uint32_t n = 0;
  if (!r.Str(&q.sql)) return Malformed("QUERY", "statement length exceeds the frame");
  if (!r.U32(&n)) return Malformed("QUERY", "truncated parameter count");
  if (n > r.left()) return Malformed("QUERY", fmt::format("{} parameters cannot fit in the frame", n));
  // A Param is ~50 bytes and a NULL one byte on the wire: without a cap, a 64 MiB QUERY of
  // NULLs would make the server allocate ~3 GiB.
  if (n > kMaxParams) {
    return Malformed("QUERY", fmt::format("{} parameters (at most {})", n, kMaxParams));
  }
  q.params.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    MRLDB_RETURN_IF_ERROR(ReadValue(r, "QUERY", [&] { return fmt::format("parameter {}", i + 1); }, &q.params[i]));
  }
  MRLDB_RETURN_IF_ERROR(CheckEnd(r, "QUERY"));
  return q;
}

std::string EncodeSchema(const std::vector<ResultColumn>& columns) {
  return Frame(FrameType::kSchema, [&](Writer& w) {
    w.U32(static_cast<uint32_t>(columns.size()));
    for (const ResultColumn& c : columns) {
      w.Str(c.name);
      w.U8(static_cast<uint8_t>(c.type));
    }
  });
}

Result<std::vector<ResultColumn>> DecodeSchema(std::string_view payload) {
  Reader r(payload);
  uint32_t n = 0;
  if (!r.U32(&n)) return Malformed("SCHEMA", "truncated column count");
  if (n > r.left() / 5) return Malformed("SCHEMA", fmt::format("{} columns cannot fit in the frame", n));
  std::vector<ResultColumn> columns(n);
  for (ResultColumn& c : columns) {
    uint8_t type = 0;
    if (!r.Str(&c.name) || !r.U8(&type)) return Malformed("SCHEMA", "truncated column");
    if (type < 1 || type > 5) return Malformed("SCHEMA", fmt::format("unknown column type {}", type));
    c.type = static_cast<CellType>(type);
  }
  MRLDB_RETURN_IF_ERROR(CheckEnd(r, "SCHEMA"));
  return columns;
}

Status DecodeRowBatch(std::string_view payload, size_t columns, std::vector<std::vector<Cell>>* rows) {
  Reader r(payload);
  uint32_t n = 0;
  if (!r.U32(&n)) return Malformed("ROW_BATCH", "truncated row count");
  // A result without columns has no rows (and rows of no cells would take no bytes: a tiny
  // frame could claim four billion of them).
  if (columns == 0 && n > 0) {
    return Malformed("ROW_BATCH", fmt::format("{} rows in a result without columns", n));
  }
  // Every cell takes at least its tag byte.
  if (columns > 0 && n > r.left() / columns) {
    return Malformed("ROW_BATCH", fmt::format("{} rows of {} columns cannot fit in the frame", n, columns));
  }
  // (No reserve of size() + n: growing to the exact size at every batch would move all rows
  // gathered so far, batch after batch.)
  for (uint32_t i = 0; i < n; ++i) {
    std::vector<Cell> row(columns);
    for (size_t c = 0; c < columns; ++c) {
      MRLDB_RETURN_IF_ERROR(ReadValue(
          r, "ROW_BATCH", [&] { return fmt::format("row {} column {}", i + 1, c + 1); }, &row[c]));
    }
    rows->push_back(std::move(row));
  }
  return CheckEnd(r, "ROW_BATCH");
}

std::string EncodeComplete(std::string_view tag, uint64_t rows_affected) {
  return Frame(FrameType::kComplete, [&](Writer& w) {
    w.Str(tag);
    w.U64(rows_affected);
  });
}

Status DecodeComplete(std::string_view payload, std::string* tag, uint64_t* rows_affected) {
  Reader r(payload);
  if (!r.Str(tag) || !r.U64(rows_affected)) return Malformed("COMPLETE", "truncated field");
  return CheckEnd(r, "COMPLETE");
}

std::string EncodeError(const ErrorFrame& e) {
  return Frame(FrameType::kError, [&](Writer& w) {
    w.U8(e.code);
    w.U8(e.fatal ? 1 : 0);
    w.U32(e.line);
    w.U32(e.column);
    w.Str(e.message);
  });
}

std::string EncodeError(const Status& status) {
  return EncodeError(ErrorFrame{CodeOf(status.code()), false, status.line(), status.column(), status.message()});
}

Result<ErrorFrame> DecodeError(std::string_view payload) {
  Reader r(payload);
  ErrorFrame e;
  uint8_t fatal = 0;
  if (!r.U8(&e.code) || !r.U8(&fatal) || fatal > 1 || !r.U32(&e.line) || !r.U32(&e.column) ||
      !r.Str(&e.message)) {
    return Malformed("ERROR", "truncated or invalid field");
  }
  MRLDB_RETURN_IF_ERROR(CheckEnd(r, "ERROR"));
  e.fatal = fatal == 1;
  return e;
}

Status ToStatus(const ErrorFrame& e) {
  Status s;
  switch (e.code) {
    case CodeOf(Status::Code::kInvalidArgument): s = Status::InvalidArgument(e.message); break;
    case CodeOf(Status::Code::kNotFound): s = Status::NotFound(e.message); break;
    case CodeOf(Status::Code::kAlreadyExists): s = Status::AlreadyExists(e.message); break;
    case CodeOf(Status::Code::kCorruption): s = Status::Corruption(e.message); break;
    case CodeOf(Status::Code::kIOError): s = Status::IOError(e.message); break;
    case CodeOf(Status::Code::kNotSupported): s = Status::NotSupported(e.message); break;
    case CodeOf(Status::Code::kVersionMismatch): s = Status::VersionMismatch(e.message); break;
    case CodeOf(Status::Code::kInternal): s = Status::Internal(e.message); break;
    case CodeOf(Status::Code::kCancelled): s = Status::Cancelled(e.message); break;
    case CodeOf(Status::Code::kReadOnly): s = Status::ReadOnly(e.message); break;
    case CodeOf(ErrorCode::kProtocol):
    case CodeOf(ErrorCode::kAuthFailed):
    case CodeOf(ErrorCode::kLimit): s = Status::InvalidArgument(e.message); break;
    default: s = Status::IOError(e.message); break;  // timeout, shutdown, a code from the future
  }
  return s.WithPosition(e.line, e.column);
}

std::string EncodeProgress(const CopyProgress& p) {
  return Frame(FrameType::kProgress, [&](Writer& w) {
    w.U64(p.rows_done);
    w.U8(p.rows_total ? 1 : 0);
    w.U64(p.rows_total.value_or(0));
  });
}

Result<CopyProgress> DecodeProgress(std::string_view payload) {
  Reader r(payload);
  CopyProgress p;
  uint8_t has_total = 0;
  uint64_t total = 0;
  if (!r.U64(&p.rows_done) || !r.U8(&has_total) || has_total > 1 || !r.U64(&total)) {
    return Malformed("PROGRESS", "truncated or invalid field");
  }
  MRLDB_RETURN_IF_ERROR(CheckEnd(r, "PROGRESS"));
  if (has_total == 1) p.rows_total = total;
  return p;
}

Status EncodeResult(const ResultSet& result, uint64_t max_rows, uint64_t max_bytes,
                    uint32_t max_frame_bytes, std::vector<std::string>* frames) {
  if (result.rows.size() > max_rows) {
    return Status::InvalidArgument(fmt::format(
        "the result has {} rows; this server sends at most {} (add a LIMIT or narrow the WHERE)",
        result.rows.size(), max_rows));
  }
  std::vector<std::string> out;
  out.push_back(EncodeSchema(result.columns));
  uint64_t bytes = 0;
  size_t begin = 0;
  std::string frame;
  // Rows are encoded one at a time so that a frame closes once it reaches kBatchBytes, and
  // before a row would take it past max_frame_bytes (that row starts the next frame).
  while (begin < result.rows.size()) {
    frame.clear();
    Writer w(FrameType::kRowBatch, &frame);
    w.U32(0);  // patched below
    size_t end = begin;
    while (end < result.rows.size() && end - begin < kBatchRows && w.payload_bytes() < kBatchBytes) {
      const size_t before = frame.size();
      for (const Cell& c : result.rows[end]) WriteValue(c, &w);
      if (w.payload_bytes() > max_frame_bytes) {
        if (end == begin) {
          return Status::InvalidArgument(fmt::format(
              "row {} of the result takes {} bytes, more than this server's frame limit of {} "
              "bytes (select fewer or shorter columns)", end + 1, w.payload_bytes() - 4,
              max_frame_bytes));
        }
        frame.resize(before);  // the row goes to the next frame
        break;
      }
      ++end;
    }
    bytes += w.payload_bytes();
    if (bytes > max_bytes) {
      return Status::InvalidArgument(fmt::format(
          "the result is larger than this server's limit of {} bytes (add a LIMIT, or select "
          "fewer or shorter columns)", max_bytes));
    }
    w.Finish();
    const uint32_t n = static_cast<uint32_t>(end - begin);
    std::memcpy(frame.data() + kHeaderBytes, &n, 4);
    out.push_back(std::move(frame));
    frame = std::string();
    begin = end;
  }
  out.push_back(EncodeComplete(result.tag, result.rows_affected));
  for (auto& f : out) frames->push_back(std::move(f));
  return Status::Ok();
}

Status SplitHostPort(std::string_view hp, std::string* host, std::string* port) {
  const size_t colon = hp.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == hp.size()) {
    return Status::InvalidArgument(fmt::format("'{}' is not host:port", hp));
  }
  std::string_view h = hp.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) return Status::InvalidArgument(fmt::format("'{}' has no host", hp));
  *host = std::string(h);
  *port = std::string(hp.substr(colon + 1));
  return Status::Ok();
}

}  // namespace mrldb::wire
