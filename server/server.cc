// Server: the acceptor, the I/O threads, the statement pool and the graceful stop.
#include "server/server.h"

#include <charconv>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "server/connection.h"

namespace mrldb {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using server_internal::Connection;

namespace {

// The address and port of options.listen.
Result<tcp::endpoint> ParseListen(const std::string& listen) {
  std::string host, port_text;
  MRLDB_RETURN_IF_ERROR(wire::SplitHostPort(listen, &host, &port_text));
  unsigned port = 0;
  auto [end, err] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (err != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return Status::InvalidArgument(fmt::format("listen address '{}': '{}' is not a port (0..65535)", listen, port_text));
  }
  if (host == "localhost") host = "127.0.0.1";
  error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) {
    return Status::InvalidArgument(fmt::format(
        "listen address '{}': '{}' is not an IP address (or localhost)", listen, host));
  }
  return tcp::endpoint(address, static_cast<uint16_t>(port));
}

}  // namespace

class Server::Impl {
 public:
  Impl(Database* db, ServerOptions options)
      : options_(std::move(options)),
        work_(asio::make_work_guard(io_)),
        acceptor_(asio::make_strand(io_)),
        statements_(std::max<size_t>(options_.statement_threads, 1)) {
    if (!options_.log) options_.log = [](std::string_view line) { fmt::print(stderr, "mrldb: {}\n", line); };
    ctx_.db = db;
    ctx_.options = &options_;
    ctx_.statements = &statements_;
    ctx_.server_version = "mrldb " MRLDB_VERSION;
    ctx_.log = options_.log;
    ctx_.on_closed = [this](Connection* c) { OnClosed(c); };
  }

  Status Listen(const tcp::endpoint& endpoint) {
    error_code ec;
    if (acceptor_.open(endpoint.protocol(), ec); !ec) {
      acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec) acceptor_.bind(endpoint, ec);
      if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      return Status::IOError(fmt::format("cannot listen on {}: {}", options_.listen, ec.message()));
    }
    const tcp::endpoint bound = acceptor_.local_endpoint(ec);
    port_ = bound.port();
    const std::string host = bound.address().to_string();
    address_ = bound.address().is_v6() ? fmt::format("[{}]:{}", host, port_) : fmt::format("{}:{}", host, port_);
    return Status::Ok();
  }

  void Run() {
    asio::post(acceptor_.get_executor(), [this] { Accept(); });
    for (size_t i = 0; i < std::max<size_t>(options_.io_threads, 1); ++i) {
      io_threads_.emplace_back([this] {
        // Handlers do not throw by design; should one (std::bad_alloc), the thread logs it and
        // keeps serving instead of taking the server down.
        for (;;) {
          try {
            io_.run();
            return;
          } catch (const std::exception& e) {
            options_.log(fmt::format("internal error in an I/O handler: {}", e.what()));
          }
        }
      });
    }
    options_.log(fmt::format("listening on {}", address_));
  }

  void Stop() {
    std::vector<std::shared_ptr<Connection>> open;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stopping_) {
        stopped_cv_.wait(lock, [this] { return stopped_; });
        return;
      }
      stopping_ = true;
      for (auto& [raw, weak] : connections_) {
        if (auto c = weak.lock()) open.push_back(std::move(c));
      }
    }
    options_.log(fmt::format("shutting down: {} open connection(s)", open.size()));
    asio::post(acceptor_.get_executor(), [this] {
      error_code ec;
      acceptor_.close(ec);
    });
    for (auto& c : open) c->Shutdown();
    open.clear();
    {
      // Every connection closes by itself: running statements are cancelled and end, results
      // and the SHUTDOWN error are written, and a client that does not read is cut off after
      // the linger time.
      std::unique_lock<std::mutex> lock(mu_);
      closed_cv_.wait(lock, [this] { return connections_.empty(); });
    }
    statements_.join();  // statements of connections whose client left early
    work_.reset();
    for (std::thread& t : io_threads_) t.join();
    io_threads_.clear();
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    stopped_cv_.notify_all();
  }

  uint64_t backlog_bytes() const { return ctx_.backlog_bytes.load(); }
  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  size_t admitted() const {
    std::lock_guard<std::mutex> lock(mu_);
    return admitted_.size();
  }

 private:
  void Accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](const error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
      if (ec) {
        // Out of file descriptors and the like: say so and keep accepting after a pause, rather
        // than spinning.
        options_.log(fmt::format("accept failed: {}", ec.message()));
        auto timer = std::make_shared<asio::steady_timer>(acceptor_.get_executor(), std::chrono::milliseconds(100));
        timer->async_wait([this, timer](const error_code&) { Accept(); });
        return;
      }
      OnAccept(std::move(socket));
      Accept();
    });
  }

  void OnAccept(tcp::socket socket) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;  // the socket closes as it goes out of scope
    auto c = std::make_shared<Connection>(&ctx_, std::move(socket));
    connections_.emplace(c.get(), c);
    const size_t per_address = options_.max_connections_per_address;
    if (per_address && per_address_[c->address()] >= per_address) {
      c->Refuse(wire::ErrorCode::kLimit,
                fmt::format("too many connections from {}: this server allows {} per client "
                            "address (--max-connections-per-address)",
                            c->address(), per_address));
      return;
    }
    if (admitted_.size() >= options_.max_connections && !MakeRoom()) {
      c->Refuse(wire::ErrorCode::kLimit,
                fmt::format("too many connections: this server allows {} (--max-connections), "
                            "and every one is busy",
                            options_.max_connections));
      return;
    }
    Admit(c.get());
    c->Start();
  }

  // Frees a slot for a newcomer: closes the admitted connection that has waited longest in its
  // handshake, else the one idle longest (at least evict_idle_after_s). False when every
  // connection is busy. REQUIRES mu_.
  bool MakeRoom() {
    Connection* victim = nullptr;
    bool victim_handshake = false;
    double victim_idle = 0;
    for (Connection* c : admitted_) {
      const double idle = c->IdleSeconds();
      const bool handshake = c->in_handshake() && idle >= 0;
      if (!handshake && idle < options_.evict_idle_after_s) continue;
      if (victim == nullptr || (handshake && !victim_handshake) ||
          (handshake == victim_handshake && idle > victim_idle)) {
        victim = c;
        victim_handshake = handshake;
        victim_idle = idle;
      }
    }
    if (victim == nullptr) return false;
    options_.log(fmt::format("connection limit reached: closing a connection from {} {} for {:.1f} s "
                             "to admit a new one",
                             victim->address(), victim_handshake ? "in its handshake" : "idle",
                             victim_idle));
    victim->Evict(fmt::format(
        "closed to make room for a new connection: the server is at its limit of {} connections "
        "(--max-connections) and this one was {} for {:.1f} s",
        options_.max_connections, victim_handshake ? "in its handshake" : "idle", victim_idle));
    Release(victim);
    return true;
  }

  void Admit(Connection* c) {  // REQUIRES mu_
    admitted_.emplace(c);
    ++per_address_[c->address()];
  }
  void Release(Connection* c) {  // REQUIRES mu_
    if (admitted_.erase(c) == 0) return;
    auto it = per_address_.find(c->address());
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  }

  void OnClosed(Connection* c) {
    std::lock_guard<std::mutex> lock(mu_);
    connections_.erase(c);
    Release(c);
    if (connections_.empty()) closed_cv_.notify_all();
  }

  ServerOptions options_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  tcp::acceptor acceptor_;  // on its own strand: Accept and the close in Stop never overlap
  asio::thread_pool statements_;
  std::vector<std::thread> io_threads_;
  server_internal::ServerContext ctx_;
  uint16_t port_ = 0;
  std::string address_;

  mutable std::mutex mu_;
  std::condition_variable closed_cv_;   // connections_ became empty
  std::condition_variable stopped_cv_;  // stopped_ became true
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections_;  // GUARDED_BY(mu_): all open ones
  std::unordered_set<Connection*> admitted_;  // GUARDED_BY(mu_): the connections counted against the limit
  std::unordered_map<std::string, size_t> per_address_;  // GUARDED_BY(mu_): admitted ones by address
  bool stopping_ = false;                                                   // GUARDED_BY(mu_)
  bool stopped_ = false;                                                    // GUARDED_BY(mu_)
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { Stop(); }

Status Server::Validate(const ServerOptions& options) {
  MRLDB_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ParseListen(options.listen));
  if (!endpoint.address().is_loopback() && options.token.empty()) {
    return Status::InvalidArgument(fmt::format(
        "refusing to listen on {} without a token: anyone who can reach it could run any "
        "statement. Give --token-file FILE, or listen on 127.0.0.1", options.listen));
  }
  if (options.max_connections == 0) return Status::InvalidArgument("max_connections must be at least 1");
  if (!(options.evict_idle_after_s >= 0)) return Status::InvalidArgument("evict_idle_after_s must be >= 0");
  if (options.max_frame_bytes < 1024) return Status::InvalidArgument("max_frame_bytes must be at least 1024");
  if (!(options.idle_timeout_s >= 0) || !(options.auth_timeout_s > 0)) {
    return Status::InvalidArgument("idle_timeout_s must be >= 0 and auth_timeout_s > 0");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Server>> Server::Start(Database* db, ServerOptions options) {
  MRLDB_RETURN_IF_ERROR(Validate(options));
  MRLDB_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ParseListen(options.listen));
  auto impl = std::make_unique<Impl>(db, std::move(options));
  MRLDB_RETURN_IF_ERROR(impl->Listen(endpoint));
  impl->Run();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

uint16_t Server::port() const { return impl_->port(); }
std::string Server::address() const { return impl_->address(); }
size_t Server::connections() const { return impl_->admitted(); }
uint64_t Server::backlog_bytes() const { return impl_->backlog_bytes(); }
void Server::Stop() { impl_->Stop(); }

}  // namespace mrldb
