// mrldb::Client: runs statements on a remote `mrldb serve` over the wire protocol
// (docs/protocol.md). Results, parameters and errors are the types a local Session uses, so
// local and remote code look the same:
//
//   auto client = mrldb::Client::Connect("127.0.0.1:7733").value();
//   auto rows = client->Execute("SELECT id, distance FROM docs ORDER BY embedding <=> $1 LIMIT 10",
//                               {mrldb::Param{query_vector}});
//   if (!rows.ok()) std::cerr << mrldb::FormatError(sql, rows.status()) << "\n";
//
// Errors: a statement's error comes back as the Status the server's Session gave (same code,
// message, line and column). Protocol-level refusals map to Status codes as follows: a protocol
// error, a failed authentication or an exceeded server limit to InvalidArgument; a timeout, a
// server shutdown or a lost connection to IOError. The message always says which. After an
// IOError or a fatal server error the client is closed and every later call returns IOError.
//
// Thread safety: Execute, Ping and Close are called by one thread at a time. Cancel may be
// called from any thread (or from the progress callback) while Execute runs.
//
// Link with the mrldb_client library (POSIX sockets, blocking I/O); it needs only the public
// mrldb headers and the mrldb_api library (Status, FormatError, CellTypeName).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "mrldb/session.h"
#include "mrldb/status.h"

namespace mrldb {

struct ClientOptions {
  // Sent in AUTH when the server requires a token (`mrldb serve --token-file`). Default: none.
  std::string token;
  // Limit for the TCP connect plus the handshake (HELLO, AUTH), in seconds. Default: 10.
  double connect_timeout_s = 10;
  // The name the server logs for this connection. Default: "mrldb-cpp".
  std::string client_name = "mrldb-cpp";
  // Called on the thread running Execute for every PROGRESS frame (COPY, after each committed
  // batch; WAIT FOR INDEX while it waits). Returning false sends CANCEL: a COPY stops between
  // batches, the batches committed so far stay, and Execute returns the server's error.
  // Default: none.
  std::function<bool(const CopyProgress&)> progress;
  // The largest frame payload accepted from the server, in bytes (result frames are at most
  // ~1 MiB unless a single row is larger). Default: 64 MiB.
  uint32_t max_frame_bytes = 64u << 20;
};

class Client {
 public:
  // Connects to "host:port" (a name, an IPv4 address, or "[v6]:port"), sends HELLO and, when the
  // server asks for it, AUTH with options.token. Errors: InvalidArgument for a malformed address,
  // a missing or wrong token, or a server at its connection limit; VersionMismatch when the
  // server does not speak this client's protocol version; IOError when the host cannot be
  // resolved or reached, or the handshake does not finish within options.connect_timeout_s.
  static Result<std::unique_ptr<Client>> Connect(std::string_view host_port,
                                                 ClientOptions options = {});
  ~Client();  // Close()
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs one statement on the server and returns its whole result (the server streams it in
  // batches; they are gathered here). Parameters bind to $1, $2 ... as in Session::Execute.
  // Blocks until the statement ends; there is no client-side time limit (use Cancel).
  Result<ResultSet> Execute(std::string_view sql, std::span<const Param> params = {});

  // COPY ... FROM STDIN (docs/sql.md, docs/protocol.md "COPY over the wire"): runs `sql`, a
  // COPY ... FROM STDIN WITH (format ...), and sends `data` once the server asks for it, and
  // before it `ids` when the server wants an ids part (npy and fvecs hold vectors only: text, one
  // id per line, or a .npy array of them). Returns the statement's result ("COPY n"). Errors:
  // the server's, e.g. bad data named by its place ("STDIN: line 7, column 'year': ...", with
  // the rows committed before it; each batch is atomic); InvalidArgument naming what is missing
  // when the server wants ids and `ids` is null; a stream that cannot be read gives the COPY up
  // (the server's error says so). Progress and Cancel work as for Execute.
  Result<ResultSet> CopyFrom(std::string_view sql, std::istream& data, std::istream* ids = nullptr);
  // The same from local files (IOError when one cannot be opened).
  Result<ResultSet> CopyFrom(std::string_view sql, const std::string& path,
                             const std::string& ids_path = "");
  // COPY ... TO STDOUT: runs `sql` and writes what the server sends to `data`, and for npy and
  // fvecs the ids (text, one per line) to `ids` (then required: InvalidArgument, the statement
  // cancelled). On an error what was written is incomplete.
  Result<ResultSet> CopyTo(std::string_view sql, std::ostream& data, std::ostream* ids = nullptr);
  // To local files, written as "<path>.partial" and moved into place once the COPY succeeded,
  // so that a failed COPY leaves no file. An existing file is AlreadyExists unless `overwrite`.
  Result<ResultSet> CopyTo(std::string_view sql, const std::string& path,
                           const std::string& ids_path = "", bool overwrite = false);

  // Asks the statement running on this connection to stop (sends CANCEL). Thread-safe; a no-op
  // when nothing runs or the connection is closed. Execute then returns the server's error, or
  // the normal result when the statement finished first.
  void Cancel();

  // Round trip to the server (PING/PONG). IOError when the connection is gone.
  Status Ping();

  // Sends CLOSE and shuts the connection down (the socket descriptor is released with the
  // Client). Idempotent; Execute and Ping return IOError afterwards.
  void Close();

  // The server's version string from HELLO_OK, e.g. "mrldb 0.1.0".
  std::string_view server_version() const;
  // The server's frame payload limit from HELLO_OK: a QUERY larger than this is refused locally.
  uint32_t server_max_frame_bytes() const;

 private:
  class Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrldb
