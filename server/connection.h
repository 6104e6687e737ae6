// One client connection of the server: the protocol state machine of docs/protocol.md.
//
// Every member is touched only on the connection's strand (the socket's executor), except
// RunStatement, which runs on a statement thread and talks back by posting to the strand, and
// the atomic cancel flag. The statement thread holds a shared_ptr, so the Session outlives the
// statement even when the socket closes first.
#pragma once

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>  // before Boost.Asio: 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>

#include "client/wire.h"
#include "mrldb/session.h"
#include "server/copy_pipe.h"
#include "server/server.h"

namespace mrldb::server_internal {

class Connection;

// What connections share: set up by Server::Impl, which outlives every connection.
struct ServerContext {
  Database* db = nullptr;
  const ServerOptions* options = nullptr;
  boost::asio::thread_pool* statements = nullptr;
  std::string server_version;  // "mrldb 0.1.0"
  std::function<void(std::string_view)> log;
  // Called once, on the strand, when a connection's socket is finally closed.
  std::function<void(Connection*)> on_closed;
  // Reply bytes queued over all connections (ServerOptions::max_backlog_bytes), and bytes freed
  // since memory was last returned to the system.
  std::atomic<uint64_t> backlog_bytes{0};
  std::atomic<uint64_t> freed_since_trim{0};
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerContext* ctx, boost::asio::ip::tcp::socket socket);
  ~Connection();

  // Starts the handshake (the authentication timeout runs from here).
  void Start();
  // Refuses the connection: ERROR (fatal) with `code` and `message`, then close.
  void Refuse(wire::ErrorCode code, std::string message);
  // The server is stopping: cancel a running statement, send its result, then ERROR (SHUTDOWN)
  // and close. Thread-safe (posts to the strand).
  void Shutdown();

  // For the server's choice of a connection to close when all are taken. Thread-safe.
  const std::string& address() const { return address_; }  // the client's IP
  bool in_handshake() const { return !ready_.load(std::memory_order_relaxed); }
  // Seconds since the last frame or the end of the last reply; negative while a statement runs
  // or replies are queued (never evicted then).
  double IdleSeconds() const;
  // Closes the connection with ERROR (LIMIT) `message`: its slot is given to a newcomer.
  // Thread-safe (posts to the strand).
  void Evict(std::string message);

 private:
  enum class State { kHello, kAuth, kReady };

  void ReadHeader();
  // The common start of a read's completion: false when its data is not to be used (the
  // connection is closing, or the read failed and that was handled). `truncated` is the error
  // for an end of stream inside a frame ("" at a frame boundary: the client left).
  bool ReadOk(const boost::system::error_code& ec, const std::string& truncated);
  void OnLength(const boost::system::error_code& ec, size_t n);
  void OnHeader(const boost::system::error_code& ec, size_t n);
  void OnBody(const boost::system::error_code& ec, size_t n);
  void HandleFrame();
  void HandleReady(wire::FrameType type, std::string_view payload);
  // COPY_DATA, COPY_DONE, COPY_FAIL: the client's side of COPY ... FROM STDIN.
  void HandleCopyFrame(wire::FrameType type, std::string_view payload);
  void StartQuery(std::string_view payload, wire::ResultEncoding encoding);
  void RunStatement(wire::Query query, wire::ResultEncoding encoding);  // on a statement thread
  void OnStatementDone(std::vector<std::string> frames);
  bool OnProgress(const CopyProgress& p);  // on the statement thread
  void CancelStatement();
  void BecomeReady();

  // Queues a frame; `reserved`: its bytes were already added to ctx_->backlog_bytes.
  void Enqueue(std::string frame, bool reserved = false);
  // Publishes whether the connection is active (busy or sending) for IdleSeconds.
  void UpdateActivity();
  void WriteNext();
  // Sends ERROR (fatal) and closes once it is written; the connection reads no more frames.
  void Fatal(uint8_t code, std::string message);
  void Fatal(wire::ErrorCode code, std::string message) { Fatal(wire::CodeOf(code), std::move(message)); }
  // After the last frame is written: half-close, then read and discard until the client closes
  // (closing with unread input would reset the connection and could destroy the ERROR frame
  // before the client reads it), with a time limit.
  void Drain();
  void CloseNow();

  void ArmDeadline(double seconds);
  void ArmIdle();
  void OnDeadline();

  ServerContext* ctx_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer deadline_;
  boost::asio::steady_timer cancel_timer_;
  std::unique_ptr<CopyPipe> pipe_;  // the Session's CopyChannel
  std::unique_ptr<Session> session_;
  std::string peer_;         // "address:port" for the log
  std::string address_;      // the client's IP (per-address limits)
  std::string client_name_;  // from HELLO, for the log

  State state_ = State::kHello;
  std::array<uint8_t, wire::kHeaderBytes> header_{};
  uint8_t type_ = 0;
  std::string body_;
  bool reading_ = false;   // an async read is in flight
  bool busy_ = false;      // a statement runs (or waits for a statement thread)
  bool closing_ = false;   // no more frames are handled; close after the queued writes
  bool draining_ = false;  // half-closed, discarding input until the client closes
  bool shutdown_ = false;  // the server is stopping
  bool closed_ = false;
  // COPY ... FROM STDIN: the client may send COPY frames (COPY_IN was sent) and owes COPY_DONE
  // or COPY_FAIL; whether it sends an ids part, and whether the data part has begun.
  bool copy_in_ = false;
  bool copy_ids_ = false;
  bool copy_data_seen_ = false;
  bool read_paused_ = false;  // the CopyPipe is full: no frame is read until it resumes us
  uint64_t deadline_gen_ = 0;
  std::deque<std::string> out_;  // frames to write; the front one is being written when writing_
  uint64_t out_bytes_ = 0;       // memory held by out_ (QueuedBytes of each frame)
  bool writing_ = false;
  std::atomic<bool> cancel_requested_{false};
  // Read by the server's accept path (any thread) for the eviction choice.
  std::atomic<bool> ready_{false};
  std::atomic<bool> active_{false};
  std::atomic<int64_t> last_activity_ns_{0};  // steady clock
};

}  // namespace mrldb::server_internal
