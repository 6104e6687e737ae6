// mrldb::Client over blocking POSIX sockets. One frame is written at a time under write_mu_
// (Cancel may write while Execute is between frames); only the thread in Execute/Ping reads.
#include "mrldb/client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <fmt/format.h>

#include "client/wire.h"

namespace mrldb {

namespace {

using Clock = std::chrono::steady_clock;

// COPY ... FROM STDIN sends the file in frames of this size (or the server's limit if smaller).
constexpr size_t kCopyChunkBytes = size_t{1} << 20;

Status Errno(std::string_view what) {
  return Status::IOError(fmt::format("{}: {}", what, std::strerror(errno)));
}

// Sets the send and receive timeouts of a blocking socket (0: none).
void SetIoTimeout(int fd, double seconds) {
  timeval tv{};
  if (seconds > 0) {
    tv.tv_sec = static_cast<time_t>(seconds);
    tv.tv_usec = static_cast<suseconds_t>((seconds - std::floor(seconds)) * 1e6);
    if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1000;
  }
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// A TCP connection to one of `host`'s addresses within `seconds`; the socket is blocking.
Result<int> ConnectTcp(const std::string& host, const std::string& port, double seconds) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &list); rc != 0) {
    return Status::IOError(fmt::format("cannot resolve '{}:{}': {}", host, port, gai_strerror(rc)));
  }
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  Status last = Status::IOError(fmt::format("no address for '{}'", host));
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = Errno("socket");
      continue;
    }
    // Non-blocking connect, so that the timeout applies; then back to blocking.
    const int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      do {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        rc = poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
      } while (rc < 0 && errno == EINTR);
      if (rc == 0) {
        errno = ETIMEDOUT;
        rc = -1;
      } else if (rc > 0) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        errno = err;
        rc = err == 0 ? 0 : -1;
      }
    }
    if (rc == 0) {
      fcntl(fd, F_SETFL, flags);
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      freeaddrinfo(list);
      return fd;
    }
    last = Status::IOError(fmt::format("cannot connect to {}:{}: {}", host, port, std::strerror(errno)));
    close(fd);
  }
  freeaddrinfo(list);
  return last;
}

}  // namespace

class Client::Impl {
 public:
  Impl(int fd, ClientOptions options) : fd_(fd), options_(std::move(options)) {}
  ~Impl() {
    Close();
    close(fd_);
  }

  Status Handshake() {
    MRLDB_RETURN_IF_ERROR(Send(wire::EncodeHello({wire::kProtocolVersion, options_.client_name})));
    uint8_t type = 0;
    std::string payload;
    MRLDB_RETURN_IF_ERROR(Read(&type, &payload));
    if (type == static_cast<uint8_t>(wire::FrameType::kError)) return ErrorFrame(payload);
    if (type != static_cast<uint8_t>(wire::FrameType::kHelloOk)) return Unexpected(type, "HELLO_OK");
    auto ok = wire::DecodeHelloOk(payload);
    if (!ok.ok()) return Fail(ok.status());
    server_version_ = ok->server_version;
    server_max_frame_bytes_ = ok->max_frame_bytes;
    if (!ok->auth_required) return Status::Ok();
    if (options_.token.empty()) {
      return Fail(Status::InvalidArgument("the server requires a token (ClientOptions::token)"));
    }
    MRLDB_RETURN_IF_ERROR(Send(wire::EncodeAuth(options_.token)));
    MRLDB_RETURN_IF_ERROR(Read(&type, &payload));
    if (type == static_cast<uint8_t>(wire::FrameType::kError)) return ErrorFrame(payload);
    if (type != static_cast<uint8_t>(wire::FrameType::kAuthOk) || !payload.empty()) {
      return Unexpected(type, "AUTH_OK");
    }
    return Status::Ok();
  }

  // The streams of a COPY over the wire (null members: none given).
  struct CopyIo {
    std::istream* in = nullptr;
    std::istream* in_ids = nullptr;
    std::ostream* out = nullptr;
    std::ostream* out_ids = nullptr;
  };

  Result<ResultSet> Execute(std::string_view sql, std::span<const Param> params) {
    return Execute(sql, params, CopyIo());
  }
  Result<ResultSet> Execute(std::string_view sql, std::span<const Param> params, const CopyIo& io) {
    if (closed_) return Closed();
    std::string frame = wire::EncodeQuery(sql, params);
    if (frame.size() - wire::kHeaderBytes > server_max_frame_bytes_) {
      return Status::InvalidArgument(fmt::format(
          "the statement and its parameters take {} bytes; the server accepts frames of at most {}",
          frame.size() - wire::kHeaderBytes, server_max_frame_bytes_));
    }
    running_ = true;
    struct Done {
      std::atomic<bool>* running;
      ~Done() { *running = false; }
    } done{&running_};
    MRLDB_RETURN_IF_ERROR(Send(frame));
    frame = std::string();
    ResultSet result;
    bool have_schema = false;
    // COPY TO STDOUT with nowhere to write (Execute, or no ids stream): the statement is
    // cancelled, its frames read to its end, and this is the error.
    Status refused;
    for (;;) {
      uint8_t type = 0;
      std::string payload;
      MRLDB_RETURN_IF_ERROR(Read(&type, &payload));
      switch (static_cast<wire::FrameType>(type)) {
        case wire::FrameType::kProgress:
        case wire::FrameType::kPong:
          MRLDB_RETURN_IF_ERROR(Aside(type, payload));
          break;
        case wire::FrameType::kCopyIn: {
          auto begin = wire::DecodeCopyBegin(payload);
          if (!begin.ok()) return Fail(begin.status());
          auto early = SendCopy(*begin, io);
          if (!early.ok()) return early.status();
          if (!early->empty()) return ErrorFrame(*early);  // the statement failed while we sent
          break;
        }
        case wire::FrameType::kCopyOut: {
          auto begin = wire::DecodeCopyBegin(payload);
          if (!begin.ok()) return Fail(begin.status());
          if (io.out == nullptr || (begin->ids && io.out_ids == nullptr)) {
            refused = Status::InvalidArgument(
                io.out == nullptr ? "COPY ... TO STDOUT sends data: run it with Client::CopyTo (in the shell: \\copy)"
                                  : "the server sends the ids of npy and fvecs as a second part: "
                                    "give CopyTo an ids stream or file");
            Cancel();
          }
          break;
        }
        case wire::FrameType::kCopyDataOut: {
          auto data = wire::DecodeCopyData(payload);
          if (!data.ok()) return Fail(data.status());
          if (!refused.ok()) break;
          std::ostream* to = data->part == CopyPart::kIds ? io.out_ids : io.out;
          if (to == nullptr) return Unexpected(type, "COPY_OUT before COPY_DATA");
          to->write(data->bytes.data(), static_cast<std::streamsize>(data->bytes.size()));
          if (!*to) {
            refused = Status::IOError("cannot write the data COPY ... TO STDOUT sends");
            Cancel();
          }
          break;
        }
        case wire::FrameType::kSchema: {
          auto columns = wire::DecodeSchema(payload);
          if (!columns.ok()) return Fail(columns.status());
          if (have_schema) return Unexpected(type, "ROW_BATCH or COMPLETE");
          result.columns = std::move(columns).value();
          have_schema = true;
          break;
        }
        case wire::FrameType::kRowBatch:
          if (!have_schema) return Unexpected(type, "SCHEMA");
          if (Status s = wire::DecodeRowBatch(payload, result.columns.size(), &result.rows); !s.ok()) {
            return Fail(s);
          }
          break;
        case wire::FrameType::kComplete:
          if (!have_schema) return Unexpected(type, "SCHEMA");
          if (Status s = wire::DecodeComplete(payload, &result.tag, &result.rows_affected); !s.ok()) {
            return Fail(s);
          }
          if (!refused.ok()) return refused;
          return result;
        case wire::FrameType::kError:
          if (!refused.ok()) return refused;
          return ErrorFrame(payload);
        default:
          return Unexpected(type, "a result frame");
      }
    }
  }

  void Cancel() {
    if (!running_ || closed_) return;
    Send(wire::EncodeEmpty(wire::FrameType::kCancel)).IgnoreError();  // a lost connection shows in Execute
  }

  Status Ping() {
    if (closed_) return Closed();
    MRLDB_RETURN_IF_ERROR(Send(wire::EncodeEmpty(wire::FrameType::kPing)));
    uint8_t type = 0;
    std::string payload;
    MRLDB_RETURN_IF_ERROR(Read(&type, &payload));
    if (type == static_cast<uint8_t>(wire::FrameType::kError)) return ErrorFrame(payload);
    if (type != static_cast<uint8_t>(wire::FrameType::kPong)) return Unexpected(type, "PONG");
    return Status::Ok();
  }

  void Close() {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (closed_.exchange(true)) return;
    const std::string bye = wire::EncodeEmpty(wire::FrameType::kClose);
    send(fd_, bye.data(), bye.size(), MSG_NOSIGNAL);  // best effort: the socket closes anyway
    // Only shut down: a thread blocked in recv() wakes up with end of stream. The descriptor is
    // closed by ~Impl, so another thread (Cancel) can never use one that was closed and reused.
    shutdown(fd_, SHUT_RDWR);
  }

  std::string server_version_;
  uint32_t server_max_frame_bytes_ = 0;

 private:
  // PROGRESS and PONG, which may come before any result frame.
  Status Aside(uint8_t type, std::string_view payload) {
    if (type == static_cast<uint8_t>(wire::FrameType::kPong)) return Status::Ok();  // a PING's answer Ping() did not wait for
    auto p = wire::DecodeProgress(payload);
    if (!p.ok()) return Fail(p.status());
    if (options_.progress && !options_.progress(*p)) Cancel();
    return Status::Ok();
  }

  // COPY ... FROM STDIN after COPY_IN: the ids part (when the server wants one), the data part,
  // then COPY_DONE, or COPY_FAIL when a stream is missing or cannot be read (the server then
  // answers with that reason). Between frames the server's frames are looked at: an ERROR means
  // the statement failed (bad data, CANCEL), and sending stops; its payload is returned ("" when
  // none came).
  Result<std::string> SendCopy(const wire::CopyBegin& begin, const CopyIo& io) {
    std::string error;
    auto give_up = [&](std::string why) -> Result<std::string> {
      MRLDB_RETURN_IF_ERROR(Send(wire::EncodeCopyFail(why)));
      return std::string();
    };
    if (io.in == nullptr) {
      return give_up("COPY ... FROM STDIN needs the data: run it with Client::CopyFrom (in the shell: \\copy)");
    }
    if (begin.ids && io.in_ids == nullptr) {
      return give_up(fmt::format("{} holds vectors only: the server wants the ids first (give CopyFrom "
                                 "an ids stream or file)", begin.format));
    }
    const size_t chunk = std::min<size_t>(kCopyChunkBytes, server_max_frame_bytes_ - 1);
    std::string frame;
    for (CopyPart part : {CopyPart::kIds, CopyPart::kData}) {
      std::istream* in = part == CopyPart::kIds ? (begin.ids ? io.in_ids : nullptr) : io.in;
      while (in != nullptr && error.empty()) {
        // Read straight into the frame: header, part byte, bytes.
        frame.resize(wire::kHeaderBytes + 1 + chunk);
        in->read(frame.data() + wire::kHeaderBytes + 1, static_cast<std::streamsize>(chunk));
        const size_t n = static_cast<size_t>(in->gcount());
        if (in->bad() || (!*in && !in->eof())) {
          return give_up(fmt::format("cannot read the {} to send", part == CopyPart::kIds ? "ids" : "data"));
        }
        if (n == 0) break;
        frame.resize(wire::kHeaderBytes + 1 + n);
        const uint32_t length = static_cast<uint32_t>(frame.size() - 4);
        std::memcpy(frame.data(), &length, 4);
        frame[4] = static_cast<char>(wire::FrameType::kCopyData);
        frame[5] = static_cast<char>(part);
        MRLDB_RETURN_IF_ERROR(Send(frame));
        MRLDB_ASSIGN_OR_RETURN(error, ReadWhileSending());
      }
    }
    MRLDB_RETURN_IF_ERROR(Send(wire::EncodeEmpty(wire::FrameType::kCopyDone)));
    return error;
  }

  // The frames the server has sent while a COPY sends (PROGRESS, PONG, an ERROR), without
  // waiting; an ERROR's payload, or "".
  Result<std::string> ReadWhileSending() {
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 0) <= 0) return std::string();
      uint8_t type = 0;
      std::string payload;
      MRLDB_RETURN_IF_ERROR(Read(&type, &payload));
      if (type == static_cast<uint8_t>(wire::FrameType::kError)) return payload;
      if (type != static_cast<uint8_t>(wire::FrameType::kProgress) &&
          type != static_cast<uint8_t>(wire::FrameType::kPong)) {
        return Unexpected(type, "PROGRESS or ERROR while COPY data is sent");
      }
      MRLDB_RETURN_IF_ERROR(Aside(type, payload));
    }
  }

  Status Closed() const { return Status::IOError("the connection to the server is closed"); }

  // Closes the connection after a failure that leaves the stream unusable; returns `status`.
  Status Fail(Status status) {
    Close();
    return status;
  }

  Status Unexpected(uint8_t type, std::string_view expected) {
    return Fail(Status::InvalidArgument(fmt::format(
        "protocol error: the server sent {} (type 0x{:02x}) where {} was expected",
        wire::FrameTypeName(type), type, expected)));
  }

  // An ERROR frame from the server as the client's Status; a fatal one closes the client.
  Status ErrorFrame(std::string_view payload) {
    auto e = wire::DecodeError(payload);
    if (!e.ok()) return Fail(e.status());
    Status s = wire::ToStatus(*e);
    return e->fatal ? Fail(s) : s;
  }

  Status Send(std::string_view frame) {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (closed_) return Closed();
    while (!frame.empty()) {
      const ssize_t n = send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const Status s = (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                             ? Status::IOError("timed out sending to the server")
                             : Errno("connection to the server lost while sending");
        closed_ = true;
        shutdown(fd_, SHUT_RDWR);  // the descriptor itself is closed by ~Impl (see Close)
        return s;
      }
      frame.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  Status ReadExactly(char* p, size_t n) {
    while (n > 0) {
      const ssize_t got = recv(fd_, p, n, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got == 0) return Fail(Status::IOError("the server closed the connection"));
      if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          return Fail(Status::IOError("timed out waiting for the server"));
        }
        return Fail(Errno("connection to the server lost"));
      }
      p += got;
      n -= static_cast<size_t>(got);
    }
    return Status::Ok();
  }

  Status Read(uint8_t* type, std::string* payload) {
    if (closed_) return Closed();
    uint8_t header[wire::kHeaderBytes];
    MRLDB_RETURN_IF_ERROR(ReadExactly(reinterpret_cast<char*>(header), sizeof header));
    const wire::FrameHeader h = wire::ParseHeader(header);
    if (h.length == 0) return Fail(Status::InvalidArgument("protocol error: a frame of length 0"));
    if (h.payload_bytes() > options_.max_frame_bytes) {
      return Fail(Status::InvalidArgument(fmt::format(
          "protocol error: the server sent a frame of {} bytes; ClientOptions::max_frame_bytes is {}",
          h.payload_bytes(), options_.max_frame_bytes)));
    }
    *type = h.type;
    payload->resize(h.payload_bytes());
    return ReadExactly(payload->data(), payload->size());
  }

  int fd_;
  ClientOptions options_;
  std::mutex write_mu_;  // one frame at a time; also guards shutting fd_ down
  std::atomic<bool> closed_{false};
  std::atomic<bool> running_{false};  // a QUERY is out and not yet answered
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Connect(std::string_view host_port, ClientOptions options) {
  std::string host, port;
  MRLDB_RETURN_IF_ERROR(wire::SplitHostPort(host_port, &host, &port));
  const double timeout = options.connect_timeout_s > 0 ? options.connect_timeout_s : 10;
  const auto start = Clock::now();
  MRLDB_ASSIGN_OR_RETURN(int fd, ConnectTcp(host, port, timeout));
  auto impl = std::make_unique<Impl>(fd, std::move(options));
  // The handshake shares the connect timeout; afterwards reads wait as long as statements run.
  const double left = timeout - std::chrono::duration<double>(Clock::now() - start).count();
  SetIoTimeout(fd, std::max(left, 0.001));
  MRLDB_RETURN_IF_ERROR(impl->Handshake());
  SetIoTimeout(fd, 0);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<ResultSet> Client::Execute(std::string_view sql, std::span<const Param> params) {
  return impl_->Execute(sql, params);
}

Result<ResultSet> Client::CopyFrom(std::string_view sql, std::istream& data, std::istream* ids) {
  return impl_->Execute(sql, {}, {&data, ids, nullptr, nullptr});
}

Result<ResultSet> Client::CopyFrom(std::string_view sql, const std::string& path,
                                   const std::string& ids_path) {
  std::ifstream data(path, std::ios::binary), ids;
  if (!data) return Status::IOError(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  if (!ids_path.empty()) {
    ids.open(ids_path, std::ios::binary);
    if (!ids) return Status::IOError(fmt::format("cannot open '{}': {}", ids_path, std::strerror(errno)));
  }
  return CopyFrom(sql, data, ids_path.empty() ? nullptr : &ids);
}

Result<ResultSet> Client::CopyTo(std::string_view sql, std::ostream& data, std::ostream* ids) {
  return impl_->Execute(sql, {}, {nullptr, nullptr, &data, ids});
}

namespace {

// A local file written as "<path>.partial" and moved into place by Commit (never replacing a
// file that exists unless `overwrite`); removed when not committed.
class PartialFile {
 public:
  PartialFile(std::string path, bool overwrite)
      : path_(std::move(path)), partial_(path_ + ".partial"), overwrite_(overwrite) {}
  ~PartialFile() {
    if (!committed_) std::remove(partial_.c_str());
  }
  Status Open() {
    if (!overwrite_ && std::filesystem::exists(path_)) {
      return Status::AlreadyExists(fmt::format("'{}' exists (CopyTo replaces it when overwrite is true)", path_));
    }
    out.open(partial_, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IOError(fmt::format("cannot create '{}': {}", partial_, std::strerror(errno)));
    return Status::Ok();
  }
  Status Commit() {
    out.close();
    if (!out) return Status::IOError(fmt::format("cannot write '{}'", partial_));
    // link() fails when `path` exists, so a file created since Open is never replaced.
    const int rc = overwrite_ ? std::rename(partial_.c_str(), path_.c_str())
                              : ::link(partial_.c_str(), path_.c_str());
    if (rc != 0) return Status::IOError(fmt::format("cannot create '{}': {}", path_, std::strerror(errno)));
    if (!overwrite_) std::remove(partial_.c_str());
    committed_ = true;
    return Status::Ok();
  }
  std::ofstream out;

 private:
  std::string path_, partial_;
  bool overwrite_;
  bool committed_ = false;
};

}  // namespace

Result<ResultSet> Client::CopyTo(std::string_view sql, const std::string& path,
                                 const std::string& ids_path, bool overwrite) {
  PartialFile data(path, overwrite), ids(ids_path, overwrite);
  MRLDB_RETURN_IF_ERROR(data.Open());
  if (!ids_path.empty()) MRLDB_RETURN_IF_ERROR(ids.Open());
  auto result = CopyTo(sql, data.out, ids_path.empty() ? nullptr : &ids.out);
  if (!result.ok()) return result;
  MRLDB_RETURN_IF_ERROR(data.Commit());
  if (!ids_path.empty()) MRLDB_RETURN_IF_ERROR(ids.Commit());
  return result;
}
void Client::Cancel() { impl_->Cancel(); }
Status Client::Ping() { return impl_->Ping(); }
void Client::Close() { impl_->Close(); }
std::string_view Client::server_version() const { return impl_->server_version_; }
uint32_t Client::server_max_frame_bytes() const { return impl_->server_max_frame_bytes_; }

}  // namespace mrldb
