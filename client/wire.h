// The wire codec shared by the server (server/) and the C++ client (client/client.cc): frame
// types, error codes, and encoders/decoders for every frame of docs/protocol.md. The byte
// layouts are specified there; this file follows it field by field.
//
// Encoders return whole frames (u32 length + u8 type + payload). Decoders take a frame's payload
// and check every length and count against the bytes that are left, so hostile input yields an
// InvalidArgument naming the frame and the field, never a read out of bounds.
//
// Thread safety: pure functions.
#pragma once

#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mrldb/session.h"
#include "mrldb/status.h"

namespace mrldb::wire {

static_assert(std::endian::native == std::endian::little,
              "the codec copies little-endian integers and floats as they are in memory");

constexpr uint16_t kProtocolVersion = 1;
constexpr char kMagic[4] = {'M', 'R', 'L', 'D'};
constexpr size_t kHeaderBytes = 5;  // u32 length + u8 type
// ROW_BATCH bounds (docs/protocol.md): at most this many rows, and a new frame once the payload
// reaches kBatchBytes.
constexpr size_t kBatchRows = 1024;
constexpr size_t kBatchBytes = 1u << 20;
// The most parameters a QUERY may bind ($1 .. $65535), as in PostgreSQL's protocol.
constexpr uint32_t kMaxParams = 65535;
// The largest frame accepted before authentication completes (HELLO and AUTH are small).
constexpr uint32_t kMaxHandshakeFrameBytes = 64u << 10;

enum class FrameType : uint8_t {
  // client to server
  kHello = 0x01,
  kAuth = 0x02,
  kQuery = 0x03,
  kCancel = 0x04,
  kPing = 0x05,
  kClose = 0x06,
  kCopyData = 0x07,       // COPY ... FROM STDIN: the client's bytes
  kCopyDone = 0x08,
  kCopyFail = 0x09,
  kQueryColumnar = 0x0A,  // a QUERY answered with COLUMN_BATCH frames
  // server to client
  kHelloOk = 0x41,
  kAuthOk = 0x42,
  kSchema = 0x43,
  kRowBatch = 0x44,
  kComplete = 0x45,
  kError = 0x46,
  kProgress = 0x47,
  kPong = 0x48,
  kCopyIn = 0x49,
  kCopyOut = 0x4A,
  kCopyDataOut = 0x4B,  // COPY ... TO STDOUT: the server's bytes ("COPY_DATA" on the wire)
  kColumnBatch = 0x4C,
};
std::string_view FrameTypeName(uint8_t type);  // "HELLO", ... or "unknown"
// For messages, with the right article: "a QUERY frame", "an AUTH frame", "an unknown frame
// (type 0x7f)".
std::string DescribeFrame(uint8_t type);

// ERROR codes: 1..10 are Status::Code values; 64.. are the protocol's own.
enum class ErrorCode : uint8_t {
  kProtocol = 64,    // malformed or unexpected frame
  kAuthFailed = 65,  // missing or wrong token
  kLimit = 66,       // a server limit was exceeded
  kTimeout = 67,     // authentication or idle timeout
  kShutdown = 68,    // the server is stopping
};
constexpr uint8_t CodeOf(Status::Code code) { return static_cast<uint8_t>(code); }
constexpr uint8_t CodeOf(ErrorCode code) { return static_cast<uint8_t>(code); }

// A frame's header, parsed. `length` counts the type byte and the payload.
struct FrameHeader {
  uint32_t length = 0;
  uint8_t type = 0;
  uint32_t payload_bytes() const { return length - 1; }  // REQUIRES: length >= 1
};
FrameHeader ParseHeader(const uint8_t bytes[kHeaderBytes]);

// ---- Frames ---------------------------------------------------------------------------------
struct Hello {
  uint16_t version = kProtocolVersion;
  std::string client_name;
};
struct HelloOk {
  uint16_t version = kProtocolVersion;
  std::string server_version;
  bool auth_required = false;
  uint32_t max_frame_bytes = 0;
};
struct ErrorFrame {
  uint8_t code = 0;
  bool fatal = false;
  uint32_t line = 0, column = 0;
  std::string message;
};

// A frame with no payload (AUTH_OK, CANCEL, PING, PONG, CLOSE).
std::string EncodeEmpty(FrameType type);

std::string EncodeHello(const Hello& h);
Result<Hello> DecodeHello(std::string_view payload);  // checks the magic, not the version

std::string EncodeHelloOk(const HelloOk& h);
Result<HelloOk> DecodeHelloOk(std::string_view payload);

std::string EncodeAuth(std::string_view token);
Result<std::string> DecodeAuth(std::string_view payload);

std::string EncodeQuery(std::string_view sql, std::span<const Param> params);
struct Query {
  std::string sql;
  std::vector<Param> params;
};
Result<Query> DecodeQuery(std::string_view payload);

std::string EncodeSchema(const std::vector<ResultColumn>& columns);
Result<std::vector<ResultColumn>> DecodeSchema(std::string_view payload);

// Decodes a ROW_BATCH whose rows have `columns` cells each and appends them to `rows`.
Status DecodeRowBatch(std::string_view payload, size_t columns, std::vector<std::vector<Cell>>* rows);
// Decodes a COLUMN_BATCH of a result with these columns and appends its rows to `rows`.
Status DecodeColumnBatch(std::string_view payload, const std::vector<ResultColumn>& columns,
                         std::vector<std::vector<Cell>>* rows);

std::string EncodeComplete(std::string_view tag, uint64_t rows_affected);
Status DecodeComplete(std::string_view payload, std::string* tag, uint64_t* rows_affected);

std::string EncodeError(const ErrorFrame& e);
// A statement's Status as an ERROR frame (its code, line, column and message; not fatal).
std::string EncodeError(const Status& status);
Result<ErrorFrame> DecodeError(std::string_view payload);
// The Status a client returns for an ERROR frame: codes 1..9 as they are, with line and column;
// PROTOCOL, AUTH_FAILED and LIMIT as InvalidArgument; TIMEOUT, SHUTDOWN (and unknown codes) as
// IOError.
Status ToStatus(const ErrorFrame& e);

std::string EncodeProgress(const CopyProgress& p);
Result<CopyProgress> DecodeProgress(std::string_view payload);

// How a result's rows travel: ROW_BATCH frames (a QUERY) or COLUMN_BATCH frames (a
// QUERY_COLUMNAR).
enum class ResultEncoding { kRows, kColumns };

// A whole result as frames: SCHEMA, ROW_BATCH or COLUMN_BATCH frames (kBatchRows / kBatchBytes
// each), COMPLETE, appended to `frames`. Fails with the limit's message, appending nothing, when
// the result has more than max_rows rows, its batch payloads exceed max_bytes, or a single row's
// frame would exceed max_frame_bytes; Internal when a cell's type is not its column's (columns
// only: a row batch carries each cell's tag).
Status EncodeResult(const ResultSet& result, uint64_t max_rows, uint64_t max_bytes,
                    uint32_t max_frame_bytes, std::vector<std::string>* frames,
                    ResultEncoding encoding = ResultEncoding::kRows);

// COPY over the wire. COPY_IN / COPY_OUT: the statement's format ("npy", "csv" ...) and whether
// an ids part travels besides the data (npy, fvecs).
struct CopyBegin {
  std::string format;
  bool ids = false;
};
std::string EncodeCopyBegin(FrameType type, const CopyBegin& b);  // kCopyIn or kCopyOut
Result<CopyBegin> DecodeCopyBegin(std::string_view payload);
// COPY_DATA, either direction (kCopyData from the client, kCopyDataOut from the server): the
// part, then the bytes (any number, none included).
std::string EncodeCopyData(FrameType type, CopyPart part, std::string_view bytes);
struct CopyData {
  CopyPart part = CopyPart::kData;
  std::string_view bytes;  // points into the payload
};
Result<CopyData> DecodeCopyData(std::string_view payload);
// COPY_FAIL: why the client gives the COPY up.
std::string EncodeCopyFail(std::string_view message);
Result<std::string> DecodeCopyFail(std::string_view payload);

// "host:port" or "[v6]:port" into its parts (the brackets removed). InvalidArgument when there is
// no ':' or an empty host or port.
Status SplitHostPort(std::string_view host_port, std::string* host, std::string* port);

}  // namespace mrldb::wire
