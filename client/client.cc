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
#include <mutex>

#include <fmt/format.h>

#include "client/wire.h"

namespace mrldb {

namespace {

using Clock = std::chrono::steady_clock;

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

  Result<ResultSet> Execute(std::string_view sql, std::span<const Param> params) {
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
    for (;;) {
      uint8_t type = 0;
      std::string payload;
      MRLDB_RETURN_IF_ERROR(Read(&type, &payload));
      switch (static_cast<wire::FrameType>(type)) {
        case wire::FrameType::kProgress: {
          auto p = wire::DecodeProgress(payload);
          if (!p.ok()) return Fail(p.status());
          if (options_.progress && !options_.progress(*p)) Cancel();
          break;
        }
        case wire::FrameType::kPong:
          break;  // a PING's answer that Ping() did not wait for
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
          return result;
        case wire::FrameType::kError:
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
void Client::Cancel() { impl_->Cancel(); }
Status Client::Ping() { return impl_->Ping(); }
void Client::Close() { impl_->Close(); }
std::string_view Client::server_version() const { return impl_->server_version_; }
uint32_t Client::server_max_frame_bytes() const { return impl_->server_max_frame_bytes_; }

}  // namespace mrldb
