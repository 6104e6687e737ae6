#include "client/wire.h"

#include <cstring>

#include <fmt/format.h>

#include "client/wire_codec.h"

namespace mrldb::wire {

using codec::CheckEnd;
using codec::Frame;
using codec::Malformed;
using codec::Reader;
using codec::ReadValue;
using codec::Writer;
using codec::WriteValue;

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
    case FrameType::kCopyData: return "COPY_DATA";
    case FrameType::kCopyDone: return "COPY_DONE";
    case FrameType::kCopyFail: return "COPY_FAIL";
    case FrameType::kQueryColumnar: return "QUERY_COLUMNAR";
    case FrameType::kCopyIn: return "COPY_IN";
    case FrameType::kCopyOut: return "COPY_OUT";
    case FrameType::kCopyDataOut: return "COPY_DATA";
    case FrameType::kColumnBatch: return "COLUMN_BATCH";
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

std::string EncodeCopyBegin(FrameType type, const CopyBegin& b) {
  return Frame(type, [&](Writer& w) {
    w.Str(b.format);
    w.U8(b.ids ? 1 : 0);
  });
}

Result<CopyBegin> DecodeCopyBegin(std::string_view payload) {
  Reader r(payload);
  CopyBegin b;
  uint8_t ids = 0;
  if (!r.Str(&b.format) || !r.U8(&ids) || ids > 1) {
    return Malformed("COPY_IN/COPY_OUT", "truncated or invalid field");
  }
  MRLDB_RETURN_IF_ERROR(CheckEnd(r, "COPY_IN/COPY_OUT"));
  b.ids = ids == 1;
  return b;
}

std::string EncodeCopyData(FrameType type, CopyPart part, std::string_view bytes) {
  std::string out;
  out.reserve(kHeaderBytes + 1 + bytes.size());
  Writer w(type, &out);
  w.U8(static_cast<uint8_t>(part));
  w.Raw(bytes.data(), bytes.size());
  w.Finish();
  return out;
}

Result<CopyData> DecodeCopyData(std::string_view payload) {
  Reader r(payload);
  uint8_t part = 0;
  if (!r.U8(&part)) return Malformed("COPY_DATA", "no part byte");
  if (part > 1) return Malformed("COPY_DATA", fmt::format("part {} (0: the data, 1: the ids)", part));
  return CopyData{static_cast<CopyPart>(part), r.Rest()};
}

std::string EncodeCopyFail(std::string_view message) {
  return Frame(FrameType::kCopyFail, [&](Writer& w) { w.Str(message); });
}

Result<std::string> DecodeCopyFail(std::string_view payload) {
  Reader r(payload);
  std::string message;
  if (!r.Str(&message)) return Malformed("COPY_FAIL", "message length exceeds the frame");
  MRLDB_RETURN_IF_ERROR(CheckEnd(r, "COPY_FAIL"));
  return message;
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
