// mrldb::Server: the TCP server behind `mrldb serve`. It speaks the wire protocol of
// docs/protocol.md; each connection has its own Session on one shared Database.
//
// Threads: a few I/O threads run Boost.Asio (accepting, reading and writing frames, timers);
// statements run on a separate pool of statement threads, so a connection keeps reading CANCEL,
// PING and CLOSE while its statement runs. Statements of different connections run in parallel;
// the Database's own locks decide what may overlap (reads run while another collection's or the
// same collection's writes commit; each write batch is atomic).
//
// The server never throws and never stops because of a client's input: every frame field is
// bounds-checked, and a malformed or oversized frame gets an ERROR frame and closes only that
// connection.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mrldb/database.h"
#include "mrldb/status.h"

namespace mrldb {

struct ServerOptions {
  // Address to listen on, "host:port" (IPv4, "[v6]" or "localhost"); port 0 picks a free port
  // (see Server::port()). A non-loopback address needs a token. Default: "127.0.0.1:7733".
  std::string listen = "127.0.0.1:7733";
  // When non-empty, clients must send it in AUTH (compared in constant time). Default: none.
  std::string token;
  // Connections counted at once. When a new one arrives and all are taken, the server makes
  // room by closing (ERROR LIMIT) the connection that has waited longest in its handshake, else
  // the one idle longest (no statement running, nothing queued to send, no frame for at least
  // `evict_idle_after_s`); only when every connection is busy is the newcomer refused (ERROR
  // LIMIT). So sockets that connect and stay silent, or send only HELLO, cannot lock other
  // clients out. Default: 64.
  size_t max_connections = 64;
  // Connections one client address (IP) may hold at once; more are refused (ERROR LIMIT).
  // 0: no limit. Clients on one host share its address (every local client is 127.0.0.1).
  // Default: 32.
  size_t max_connections_per_address = 32;
  // How long a connection must have been idle before it may be closed to make room. Default: 1.
  double evict_idle_after_s = 1;
  // Bytes of replies queued for clients over all connections (results computed but not yet
  // taken by the socket). A statement whose result would pass it fails with ERROR (LIMIT)
  // instead of queuing more; memory freed by a closed connection is returned to the system.
  // Default: 1 GiB.
  uint64_t max_backlog_bytes = uint64_t{1} << 30;
  // Largest frame payload a client may send, in bytes. Default: 64 MiB.
  uint32_t max_frame_bytes = 64u << 20;
  // Largest statement text, in bytes. Default: 16 MiB.
  size_t max_statement_bytes = 16u << 20;
  // A result with more rows, or more bytes of encoded rows, is refused with an error (never
  // truncated). Defaults: 1,000,000 rows, 256 MiB.
  uint64_t max_result_rows = 1000000;
  uint64_t max_result_bytes = uint64_t{256} << 20;
  // A connection that sends no frame for this long while no statement runs is closed (0: never).
  // Default: 300.
  double idle_timeout_s = 300;
  // HELLO (and AUTH when a token is set) must be done within this. Default: 10.
  double auth_timeout_s = 10;
  // When set, COPY FROM/TO may use only files inside this directory (after resolving symbolic
  // links and ".."); when unset, COPY with server files is refused. Default: unset.
  std::optional<std::string> copy_dir;
  // Statements running at once, over all connections (the rest wait for a thread; a CANCEL while
  // waiting means the statement never runs). Default: 16.
  size_t statement_threads = 16;
  // Threads running network I/O. Default: 2.
  size_t io_threads = 2;
  // Receives one line per lifecycle event (listening, shutdown, a connection closed for a
  // protocol error ...). Default: standard error, prefixed "mrldb: ".
  std::function<void(std::string_view)> log;
};

class Server {
 public:
  // Validates the options, binds and starts serving on background threads. `db` must outlive
  // the server. Errors: InvalidArgument for a malformed address, or a non-loopback one without
  // a token; IOError when the address cannot be bound.
  static Result<std::unique_ptr<Server>> Start(Database* db, ServerOptions options);
  // The checks Start makes before binding (address syntax, token for non-loopback, limits), so
  // that a front-end can refuse bad options before it opens the database.
  static Status Validate(const ServerOptions& options);
  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (the real one when options.listen asked for port 0) and "host:port".
  uint16_t port() const;
  std::string address() const;
  size_t connections() const;  // open connections now
  uint64_t backlog_bytes() const;  // reply bytes queued for clients now (see max_backlog_bytes)

  // Graceful stop: stops accepting, cancels running statements and lets each finish and send its
  // result, sends ERROR (SHUTDOWN) to every connection and closes it, then joins all threads.
  // The Database is left open (the caller closes it, which flushes). Idempotent; thread-safe.
  void Stop();

 private:
  class Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A token file's token: the file's content without its trailing newline (and \r). The server
// and `mrldb connect` read token files with it, so both sides agree on every byte.
// Errors: IOError (unreadable), InvalidArgument (empty).
Result<std::string> ReadTokenFile(const std::string& path);

// `mrldb serve --db PATH [--listen ADDR] [--token-file F] [--max-connections N]
//  [--max-frame-bytes N] [--max-statement-bytes N] [--max-result-rows N] [--max-result-bytes N]
//  [--idle-timeout S] [--copy-dir DIR]`: opens the database, serves until
// SIGTERM or SIGINT, stops gracefully, closes the database. Returns the process exit status:
// 0 after a clean stop, 1 on an error, 2 on bad arguments. `argv[0]` is "serve".
int ServeMain(int argc, char** argv);

}  // namespace mrldb
