#include "server/connection.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <exception>

#include <fmt/format.h>


namespace mrldb::server_internal {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// How long a connection being closed may take to flush its last frames and see the client close.
constexpr double kLingerSeconds = 2;
// Session::Run clears its cancel flag when a statement starts, so a CANCEL that lands between the
// QUERY's dispatch and that point would be lost: it is repeated at this interval until the
// statement ends.
constexpr auto kCancelRepeat = std::chrono::milliseconds(20);
// Bytes a connection may have queued for writing beyond one maximal result.
constexpr uint64_t kBacklogSlack = uint64_t{16} << 20;

// Compares in time that depends only on the lengths, not on where the first difference is.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (b.empty()) return a.empty();
  unsigned diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i % b.size()]);
  }
  return diff == 0;
}

wire::ErrorFrame LimitError(std::string message) {
  return wire::ErrorFrame{wire::CodeOf(wire::ErrorCode::kLimit), false, 0, 0, std::move(message)};
}

// What a queued frame costs in memory: its bytes and its queue entry (a flood of 5-byte PONGs
// must count more than 5 bytes each).
uint64_t QueuedBytes(const std::string& frame) { return frame.size() + sizeof(std::string); }

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Once this much reply memory has been freed, it is handed back to the system: glibc keeps
// freed heap pages (and raises its mmap threshold after large frees), so without this a server
// that once queued gigabytes for slow readers kept them resident after they left.
constexpr uint64_t kTrimAfterBytes = uint64_t{64} << 20;
constexpr uint64_t kTrimWhenBelow = uint64_t{1} << 20;

void Released(ServerContext* ctx, uint64_t bytes) {
  const uint64_t left = ctx->backlog_bytes.fetch_sub(bytes, std::memory_order_relaxed) - bytes;
  const uint64_t freed = ctx->freed_since_trim.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  // Trimmed after every 64 MiB, and once the backlog has drained (the last of a burst).
  if (freed < kTrimAfterBytes && !(left < kTrimWhenBelow && freed >= kTrimWhenBelow)) return;
  ctx->freed_since_trim.store(0, std::memory_order_relaxed);
  asio::post(*ctx->statements, [] { ::malloc_trim(0); });  // off the I/O threads
}

}  // namespace

Connection::Connection(ServerContext* ctx, tcp::socket socket)
    : ctx_(ctx),
      socket_(std::move(socket)),
      deadline_(socket_.get_executor()),
      cancel_timer_(socket_.get_executor()) {
  error_code ec;
  const tcp::endpoint ep = socket_.remote_endpoint(ec);
  address_ = ec ? "unknown" : ep.address().to_string();
  peer_ = ec ? "unknown peer" : fmt::format("{}:{}", address_, ep.port());
  last_activity_ns_ = NowNs();
  SessionOptions so;
  so.copy_dir = ctx_->options->copy_dir;
  if (!so.copy_dir) {
    so.copy_refused =
        "COPY reads and writes files on the server, which this server does not allow: start it "
        "with --copy-dir DIR to allow COPY with files inside DIR";
  }
  so.progress = [this](const CopyProgress& p) { return OnProgress(p); };
  // The pipe's hooks run on the statement thread, which holds a reference to the connection.
  CopyPipe::Hooks hooks;
  hooks.send = [this](std::string frame, bool begin_in, bool ids) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), f = std::move(frame), begin_in, ids]() mutable {
      if (begin_in) {
        self->copy_in_ = true;
        self->copy_ids_ = ids;
        self->copy_data_seen_ = false;
      }
      self->Enqueue(std::move(f));
    });
  };
  hooks.resume = [this] {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      if (!self->read_paused_ || self->closing_ || self->closed_) return;
      self->read_paused_ = false;
      self->ArmIdle();  // waiting for the statement was not the client's idleness
      self->ReadHeader();
    });
  };
  pipe_ = std::make_unique<CopyPipe>(std::move(hooks));
  so.copy_channel = pipe_.get();
  session_ = std::make_unique<Session>(ctx_->db, std::move(so));
  socket_.set_option(tcp::no_delay(true), ec);  // small frames (PONG, COMPLETE) go out at once
}

Connection::~Connection() = default;

void Connection::Start() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->ArmDeadline(self->ctx_->options->auth_timeout_s);
    self->ReadHeader();
  });
}

void Connection::Refuse(wire::ErrorCode code, std::string message) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), code, m = std::move(message)]() mutable {
    self->Fatal(code, std::move(m));
  });
}

double Connection::IdleSeconds() const {
  if (active_.load(std::memory_order_relaxed)) return -1;
  return double(NowNs() - last_activity_ns_.load(std::memory_order_relaxed)) * 1e-9;
}

void Connection::UpdateActivity() {
  active_.store(busy_ || !out_.empty(), std::memory_order_relaxed);
  last_activity_ns_.store(NowNs(), std::memory_order_relaxed);
}

void Connection::Evict(std::string message) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), m = std::move(message)]() mutable {
    self->Fatal(wire::ErrorCode::kLimit, std::move(m));
  });
}

void Connection::Shutdown() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->closed_ || self->closing_) return;
    self->shutdown_ = true;
    if (self->busy_) {
      self->CancelStatement();  // OnStatementDone sends the result, then the SHUTDOWN error
    } else {
      self->Fatal(wire::ErrorCode::kShutdown, "the server is shutting down");
    }
  });
}

// ---- Reading ----------------------------------------------------------------------------------

// The length is read on its own first: a frame whose length is 0 has no type byte to wait for,
// and is malformed at once (reading five bytes waited for a sixth until the handshake timeout).
void Connection::ReadHeader() {
  reading_ = true;
  asio::async_read(socket_, asio::buffer(header_.data(), 4),
                   [self = shared_from_this()](const error_code& ec, size_t n) { self->OnLength(ec, n); });
}

void Connection::OnLength(const error_code& ec, size_t n) {
  if (!ReadOk(ec, ec && n > 0 ? "truncated frame: the connection ended inside a frame header" : "")) return;
  if (wire::ParseHeader(header_.data()).length == 0) {
    return Fatal(wire::ErrorCode::kProtocol, "malformed frame: length 0 (the length counts the type byte)");
  }
  reading_ = true;
  asio::async_read(socket_, asio::buffer(header_.data() + 4, 1),
                   [self = shared_from_this()](const error_code& e, size_t got) { self->OnHeader(e, got + 4); });
}

bool Connection::ReadOk(const error_code& ec, const std::string& truncated) {
  reading_ = false;
  if (closed_) return false;
  if (draining_) {
    ec ? CloseNow() : Drain();
    return false;
  }
  if (closing_) return false;
  if (!ec) return true;
  if (ec == asio::error::eof && !truncated.empty()) {
    Fatal(wire::ErrorCode::kProtocol, truncated);
  } else {
    CancelStatement();  // the client went away (or the socket failed): nobody waits for a reply
    CloseNow();
  }
  return false;
}

void Connection::OnHeader(const error_code& ec, size_t n) {
  if (!ReadOk(ec, ec && n > 0 ? "truncated frame: the connection ended inside a frame header" : "")) return;
  const wire::FrameHeader h = wire::ParseHeader(header_.data());
  if (h.payload_bytes() > ctx_->options->max_frame_bytes) {
    return Fatal(wire::ErrorCode::kLimit,
                 fmt::format("{} of {} bytes exceeds this server's limit of {} bytes (--max-frame-bytes)",
                             wire::DescribeFrame(h.type), h.payload_bytes(), ctx_->options->max_frame_bytes));
  }
  if (state_ != State::kReady && h.payload_bytes() > wire::kMaxHandshakeFrameBytes) {
    // Before authentication a client may not make the server hold --max-frame-bytes of memory.
    return Fatal(wire::ErrorCode::kLimit,
                 fmt::format("{} of {} bytes before authentication (at most {} bytes)",
                             wire::DescribeFrame(h.type), h.payload_bytes(),
                             wire::kMaxHandshakeFrameBytes));
  }
  type_ = h.type;
  // A large frame's buffer is not kept for the small frames that usually follow it.
  if (body_.capacity() > wire::kBatchBytes) body_ = std::string();
  body_.resize(h.payload_bytes());
  reading_ = true;
  asio::async_read(socket_, asio::buffer(body_),
                   [self = shared_from_this()](const error_code& e, size_t got) { self->OnBody(e, got); });
}

void Connection::OnBody(const error_code& ec, size_t n) {
  if (!ReadOk(ec, ec ? fmt::format("truncated frame: the connection ended after {} of the {} frame's {} bytes",
                                   n, wire::FrameTypeName(type_), body_.size())
                     : std::string())) {
    return;
  }
  HandleFrame();
  if (!closing_ && !closed_ && !read_paused_) ReadHeader();
}

void Connection::HandleFrame() {
  last_activity_ns_.store(NowNs(), std::memory_order_relaxed);
  const auto type = static_cast<wire::FrameType>(type_);
  const std::string_view payload(body_);
  const ServerOptions& o = *ctx_->options;
  switch (state_) {
    case State::kHello: {
      if (type != wire::FrameType::kHello) {
        return Fatal(wire::ErrorCode::kProtocol,
                     fmt::format("expected HELLO as the first frame, got {} (type 0x{:02x})",
                                 wire::FrameTypeName(type_), type_));
      }
      auto hello = wire::DecodeHello(payload);
      if (!hello.ok()) return Fatal(wire::ErrorCode::kProtocol, hello.status().message());
      if (hello->version != wire::kProtocolVersion) {
        return Fatal(wire::CodeOf(Status::Code::kVersionMismatch),
                     fmt::format("protocol version {} is not supported: this server speaks version {}",
                                 hello->version, wire::kProtocolVersion));
      }
      client_name_ = hello->client_name.substr(0, 64);
      Enqueue(wire::EncodeHelloOk({wire::kProtocolVersion, ctx_->server_version, !o.token.empty(),
                                   o.max_frame_bytes}));
      if (o.token.empty()) {
        BecomeReady();
      } else {
        state_ = State::kAuth;
      }
      return;
    }
    case State::kAuth: {
      if (type != wire::FrameType::kAuth) {
        return Fatal(wire::ErrorCode::kAuthFailed,
                     fmt::format("authentication required: expected AUTH, got {}", wire::FrameTypeName(type_)));
      }
      auto token = wire::DecodeAuth(payload);
      if (!token.ok()) return Fatal(wire::ErrorCode::kProtocol, token.status().message());
      if (!ConstantTimeEquals(*token, o.token)) {
        return Fatal(wire::ErrorCode::kAuthFailed, "authentication failed: wrong token");
      }
      Enqueue(wire::EncodeEmpty(wire::FrameType::kAuthOk));
      BecomeReady();
      return;
    }
    case State::kReady:
      return HandleReady(type, payload);
  }
}

void Connection::HandleReady(wire::FrameType type, std::string_view payload) {
  ArmIdle();
  switch (type) {
    case wire::FrameType::kQuery:
      return StartQuery(payload, wire::ResultEncoding::kRows);
    case wire::FrameType::kQueryColumnar:
      return StartQuery(payload, wire::ResultEncoding::kColumns);
    case wire::FrameType::kCopyData:
    case wire::FrameType::kCopyDone:
    case wire::FrameType::kCopyFail:
      return HandleCopyFrame(type, payload);
    case wire::FrameType::kCancel:
      if (!payload.empty()) return Fatal(wire::ErrorCode::kProtocol, "malformed CANCEL frame: it has no payload");
      return CancelStatement();
    case wire::FrameType::kPing:
      if (!payload.empty()) return Fatal(wire::ErrorCode::kProtocol, "malformed PING frame: it has no payload");
      return Enqueue(wire::EncodeEmpty(wire::FrameType::kPong));
    case wire::FrameType::kClose:
      if (!payload.empty()) return Fatal(wire::ErrorCode::kProtocol, "malformed CLOSE frame: it has no payload");
      CancelStatement();
      closing_ = true;
      ArmDeadline(kLingerSeconds);
      if (!writing_) Drain();
      return;
    case wire::FrameType::kAuth:  // already authenticated (or no token is needed)
      if (auto token = wire::DecodeAuth(payload); !token.ok()) {
        return Fatal(wire::ErrorCode::kProtocol, token.status().message());
      }
      return Enqueue(wire::EncodeEmpty(wire::FrameType::kAuthOk));
    default:
      return Fatal(wire::ErrorCode::kProtocol, fmt::format("unexpected {} frame (type 0x{:02x})",
                                                           wire::FrameTypeName(type_), type_));
  }
}

void Connection::HandleCopyFrame(wire::FrameType type, std::string_view payload) {
  if (!copy_in_) {
    return Fatal(wire::ErrorCode::kProtocol,
                 fmt::format("unexpected {} frame: no COPY ... FROM STDIN waits for data (they "
                             "follow a COPY_IN frame)", wire::FrameTypeName(type_)));
  }
  if (type == wire::FrameType::kCopyDone) {
    if (!payload.empty()) return Fatal(wire::ErrorCode::kProtocol, "malformed COPY_DONE frame: it has no payload");
    copy_in_ = false;
    return pipe_->Finish();
  }
  if (type == wire::FrameType::kCopyFail) {
    auto message = wire::DecodeCopyFail(payload);
    if (!message.ok()) return Fatal(wire::ErrorCode::kProtocol, message.status().message());
    copy_in_ = false;
    return pipe_->Fail(Status::InvalidArgument(fmt::format("the client gave the COPY up: {}", *message)));
  }
  auto data = wire::DecodeCopyData(payload);
  if (!data.ok()) return Fatal(wire::ErrorCode::kProtocol, data.status().message());
  if (data->part == CopyPart::kIds && !copy_ids_) {
    return Fatal(wire::ErrorCode::kProtocol, "COPY_DATA for the ids part (1), but this COPY takes "
                                             "no ids part (csv and jsonl carry the ids in the data)");
  }
  if (data->part == CopyPart::kIds && copy_data_seen_) {
    return Fatal(wire::ErrorCode::kProtocol, "COPY_DATA for the ids part (1) after the data part "
                                             "began: the whole ids part comes first");
  }
  copy_data_seen_ = copy_data_seen_ || data->part == CopyPart::kData;
  // After the statement's result (an error in the data, say) the rest is read and dropped.
  if (busy_ && !pipe_->Push(data->part, data->bytes)) read_paused_ = true;
}

void Connection::BecomeReady() {
  state_ = State::kReady;
  ready_ = true;
  ArmIdle();
}

// ---- Statements -------------------------------------------------------------------------------

void Connection::StartQuery(std::string_view payload, wire::ResultEncoding encoding) {
  if (copy_in_) {
    return Fatal(wire::ErrorCode::kProtocol,
                 "a QUERY arrived before COPY_DONE or COPY_FAIL ended the COPY ... FROM STDIN");
  }
  if (busy_) {
    return Fatal(wire::ErrorCode::kProtocol,
                 "a QUERY arrived before the previous statement's result (one statement at a time)");
  }
  auto query = wire::DecodeQuery(payload);
  if (!query.ok()) return Fatal(wire::ErrorCode::kProtocol, query.status().message());
  const size_t limit = ctx_->options->max_statement_bytes;
  if (query->sql.size() > limit) {
    return Enqueue(wire::EncodeError(LimitError(fmt::format(
        "the statement has {} bytes; this server accepts at most {}", query->sql.size(), limit))));
  }
  busy_ = true;
  UpdateActivity();
  cancel_requested_ = false;
  pipe_->Reset();
  asio::post(*ctx_->statements, [self = shared_from_this(), q = std::move(query).value(), encoding]() mutable {
    self->RunStatement(std::move(q), encoding);
  });
}

void Connection::RunStatement(wire::Query query, wire::ResultEncoding encoding) {
  std::vector<std::string> frames;
  try {
    if (cancel_requested_) {
      // Cancelled while it waited for a statement thread (Session::Execute would clear the flag).
      frames.push_back(wire::EncodeError(Status::Cancelled("the statement was cancelled before it started")));
    } else {
      auto result = session_->Execute(query.sql, query.params);
      if (!result.ok()) {
        frames.push_back(wire::EncodeError(result.status()));
      } else if (Status s = wire::EncodeResult(*result, ctx_->options->max_result_rows,
                                               ctx_->options->max_result_bytes,
                                               ctx_->options->max_frame_bytes, &frames, encoding);
                 !s.ok()) {
        frames.push_back(wire::EncodeError(LimitError(s.message())));
      }
    }
  } catch (const std::exception& e) {  // std::bad_alloc and the like: this statement fails, not the server
    frames.clear();
    frames.push_back(wire::EncodeError(Status::Internal(fmt::format("the statement failed: {}", e.what()))));
  }
  // The result's bytes are reserved against the server's reply budget before they are queued;
  // a result that does not fit is dropped here, and the client told why.
  uint64_t bytes = 0;
  for (const std::string& f : frames) bytes += QueuedBytes(f);
  const uint64_t limit = ctx_->options->max_backlog_bytes;
  const uint64_t before = ctx_->backlog_bytes.fetch_add(bytes, std::memory_order_relaxed);
  if (frames.size() > 1 && before + bytes > limit) {
    ctx_->backlog_bytes.fetch_sub(bytes, std::memory_order_relaxed);
    frames.clear();
    frames.push_back(wire::EncodeError(LimitError(fmt::format(
        "the result ({} bytes) does not fit in the server's reply memory: {} bytes are queued for "
        "clients that have not read them, of at most {} (--max-backlog-bytes); try again later",
        bytes, before, limit))));
    bytes = QueuedBytes(frames[0]);
    ctx_->backlog_bytes.fetch_add(bytes, std::memory_order_relaxed);
  }
  asio::post(socket_.get_executor(), [self = shared_from_this(), f = std::move(frames)]() mutable {
    self->OnStatementDone(std::move(f));
  });
}

bool Connection::OnProgress(const CopyProgress& p) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), f = wire::EncodeProgress(p)]() mutable {
    // A client that reads slowly gets the latest progress, not a backlog of every batch: a
    // PROGRESS frame still waiting in the queue (not the one being written) is replaced.
    auto& out = self->out_;
    if (out.size() > 1 && out.back()[4] == static_cast<char>(wire::FrameType::kProgress)) {
      const uint64_t old_bytes = QueuedBytes(out.back()), new_bytes = QueuedBytes(f);
      self->ctx_->backlog_bytes.fetch_add(new_bytes - old_bytes, std::memory_order_relaxed);  // mod 2^64
      self->out_bytes_ += new_bytes - old_bytes;
      out.back() = std::move(f);
      return;
    }
    self->Enqueue(std::move(f));
  });
  return !cancel_requested_;
}

void Connection::OnStatementDone(std::vector<std::string> frames) {
  busy_ = false;
  cancel_timer_.cancel();
  pipe_->Reset();  // what the client sent past the statement's end is dropped, here and later
  if (read_paused_ && !closing_ && !closed_) {
    read_paused_ = false;
    ReadHeader();
  }
  // Enqueue releases a reserved frame's bytes when the connection is closing or closed.
  for (std::string& f : frames) Enqueue(std::move(f), /*reserved=*/true);
  UpdateActivity();
  if (closed_) return;
  if (shutdown_ && !closing_) return Fatal(wire::ErrorCode::kShutdown, "the server is shutting down");
  if (closing_) {
    if (!writing_) Drain();
    return;
  }
  ArmIdle();
}

void Connection::CancelStatement() {
  if (!busy_) return;
  cancel_requested_ = true;
  session_->Cancel();
  pipe_->Fail(Status::Cancelled("COPY cancelled"));  // a COPY waiting for the client stops too
  cancel_timer_.expires_after(kCancelRepeat);
  cancel_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec && self->busy_) self->CancelStatement();
  });
}

// ---- Writing and closing ----------------------------------------------------------------------

void Connection::Enqueue(std::string frame, bool reserved) {
  if (closed_ || closing_) {
    if (reserved) Released(ctx_, QueuedBytes(frame));
    return;
  }
  const uint64_t bytes = QueuedBytes(frame);
  if (!reserved) ctx_->backlog_bytes.fetch_add(bytes, std::memory_order_relaxed);
  out_bytes_ += bytes;
  out_.push_back(std::move(frame));
  active_.store(true, std::memory_order_relaxed);
  // One statement's result is at most max_result_bytes; beyond that (and some slack) the client
  // is not reading what it asked for (a flood of PINGs, say), and memory is not given to it.
  if (out_bytes_ > ctx_->options->max_result_bytes + kBacklogSlack) {
    ctx_->log(fmt::format("closing connection from {}: it does not read its replies ({} bytes queued)", peer_,
                          out_bytes_));
    CancelStatement();
    return CloseNow();
  }
  if (!writing_) WriteNext();
}

void Connection::WriteNext() {
  writing_ = true;
  asio::async_write(socket_, asio::buffer(out_.front()), [self = shared_from_this()](const error_code& ec, size_t) {
    self->writing_ = false;
    if (self->closed_) return;
    if (ec) {
      self->CancelStatement();
      return self->CloseNow();
    }
    const uint64_t bytes = QueuedBytes(self->out_.front());
    if (self->out_.front()[4] == static_cast<char>(wire::FrameType::kCopyDataOut)) {
      self->pipe_->Sent(self->out_.front().size());
    }
    if (self->busy_) self->ArmIdle();  // the client reads: a COPY TO STDOUT is not idle
    self->out_bytes_ -= bytes;
    self->out_.pop_front();
    Released(self->ctx_, bytes);
    if (!self->out_.empty()) return self->WriteNext();
    self->UpdateActivity();
    if (self->closing_ && !self->draining_) self->Drain();
  });
}

void Connection::Fatal(uint8_t code, std::string message) {
  if (closed_ || closing_) return;
  ctx_->log(fmt::format("closing connection from {}{}: {}", peer_,
                        client_name_.empty() ? "" : " (" + client_name_ + ")", message));
  Enqueue(wire::EncodeError(wire::ErrorFrame{code, true, 0, 0, std::move(message)}));
  closing_ = true;
  CancelStatement();
  ArmDeadline(kLingerSeconds);  // a client that does not read cannot hold the connection open
  if (!writing_) Drain();
}

void Connection::Drain() {
  if (closed_) return;
  if (!draining_) {
    draining_ = true;
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    ArmDeadline(kLingerSeconds);
  }
  if (reading_) return;  // the read in flight continues the drain when it completes
  reading_ = true;
  body_.resize(4096);
  socket_.async_read_some(asio::buffer(body_), [self = shared_from_this()](const error_code& ec, size_t) {
    self->reading_ = false;
    if (self->closed_) return;
    if (ec) return self->CloseNow();
    self->Drain();
  });
}

void Connection::CloseNow() {
  if (closed_) return;
  closed_ = true;
  pipe_->Fail(Status::IOError("the connection closed"));
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  deadline_.cancel();
  // The unsent replies are freed now, not when the last handler lets go of the connection.
  // The front frame may still be referenced by a write in flight (it completes with an error
  // and touches nothing once closed_ is set), so it is freed with the connection.
  // Every queued frame leaves the budget now, the kept one too.
  uint64_t freed = 0;
  for (const std::string& f : out_) freed += QueuedBytes(f);
  out_.erase(out_.begin() + (writing_ && !out_.empty() ? 1 : 0), out_.end());
  out_bytes_ = 0;
  Released(ctx_, freed);
  ctx_->on_closed(this);
}

// ---- Timers -----------------------------------------------------------------------------------

void Connection::ArmDeadline(double seconds) {
  const uint64_t gen = ++deadline_gen_;
  deadline_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(std::clamp(seconds, 0.001, 1e8))));  // 1e8 s: no overflow in ns
  deadline_.async_wait([self = shared_from_this(), gen](const error_code& ec) {
    if (ec || self->closed_ || gen != self->deadline_gen_) return;
    self->OnDeadline();
  });
}

void Connection::ArmIdle() {
  if (closing_) return;
  if (ctx_->options->idle_timeout_s > 0) {
    ArmDeadline(ctx_->options->idle_timeout_s);
  } else {
    ++deadline_gen_;
    deadline_.cancel();
  }
}

void Connection::OnDeadline() {
  if (closing_) return CloseNow();  // the linger time is over
  if (state_ != State::kReady) {
    return Fatal(wire::ErrorCode::kTimeout,
                 fmt::format("authentication timeout: the handshake did not finish within {} s",
                             ctx_->options->auth_timeout_s));
  }
  // Waiting for a statement is not idleness, unless the statement waits for the client (a COPY
  // over the wire: data not sent, or replies not read).
  if (busy_ && !pipe_->WaitingForClient()) return ArmIdle();
  Fatal(wire::ErrorCode::kTimeout,
        busy_ ? fmt::format("idle timeout: the COPY waited {} s for the client to send or read "
                            "COPY_DATA", ctx_->options->idle_timeout_s)
              : fmt::format("idle timeout: no frame for {} s", ctx_->options->idle_timeout_s));
}

}  // namespace mrldb::server_internal
