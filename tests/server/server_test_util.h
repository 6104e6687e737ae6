// Helpers for the server tests: an in-process server on a free port over a temporary database,
// and a raw socket that speaks frames byte by byte (for malformed input).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "client/wire.h"
#include "mrldb/client.h"
#include "server/server.h"
#include "tests/test_util.h"

namespace mrldb::testing {

// A database in a temporary directory served on 127.0.0.1:<free port>.
class TestServer {
 public:
  explicit TestServer(ServerOptions options = {}) {
    db_ = OpenOrDie(dir_.path());
    options.listen = "127.0.0.1:0";
    options.log = [](std::string_view) {};  // the tests check behaviour, not log lines
    auto s = Server::Start(db_.get(), std::move(options));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (s.ok()) server_ = std::move(s).value();
  }
  ~TestServer() {
    if (server_) server_->Stop();
    if (db_) db_->Close().IgnoreError();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  uint16_t port() const { return server_->port(); }
  Server& server() { return *server_; }
  Database& db() { return *db_; }
  std::string dir() const { return dir_.path(); }

  std::unique_ptr<Client> Connect(ClientOptions o = {}) {
    auto c = Client::Connect(address(), std::move(o));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

 private:
  TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Server> server_;
};

// A TCP connection that sends raw bytes and reads frames, with a receive timeout so that a
// server that fails to answer fails the test instead of hanging it.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawConnection() { close(fd_); }
  bool connected() const { return connected_; }

  void Send(std::string_view bytes) { ASSERT_EQ(send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), ssize_t(bytes.size())); }
  void CloseWrite() { shutdown(fd_, SHUT_WR); }

  // The next frame; false on end of stream, a timeout or a broken frame.
  bool ReadFrame(uint8_t* type, std::string* payload) {
    uint8_t header[wire::kHeaderBytes];
    if (!ReadExactly(reinterpret_cast<char*>(header), sizeof header)) return false;
    const wire::FrameHeader h = wire::ParseHeader(header);
    if (h.length == 0) return false;
    *type = h.type;
    payload->resize(h.payload_bytes());
    return ReadExactly(payload->data(), payload->size());
  }
  // True when the server has closed its side: recv returns 0 (not a timeout).
  bool AtEof() {
    char c;
    return recv(fd_, &c, 1, 0) == 0;
  }
  // Reads frames up to an ERROR and returns it (code 0 when none came).
  wire::ErrorFrame ReadError() {
    uint8_t type = 0;
    std::string payload;
    while (ReadFrame(&type, &payload)) {
      if (type == static_cast<uint8_t>(wire::FrameType::kError)) {
        auto e = wire::DecodeError(payload);
        EXPECT_TRUE(e.ok());
        return e.ok() ? *e : wire::ErrorFrame{};
      }
    }
    return wire::ErrorFrame{};
  }
  // HELLO and its HELLO_OK.
  void Handshake() {
    Send(wire::EncodeHello({wire::kProtocolVersion, "raw"}));
    uint8_t type = 0;
    std::string payload;
    ASSERT_TRUE(ReadFrame(&type, &payload));
    ASSERT_EQ(type, static_cast<uint8_t>(wire::FrameType::kHelloOk));
  }

 private:
  bool ReadExactly(char* p, size_t n) {
    while (n > 0) {
      const ssize_t got = recv(fd_, p, n, 0);
      if (got <= 0) return false;
      p += got;
      n -= size_t(got);
    }
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
};

inline std::string Le32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }

// Waits (up to 5 s) until the server counts `n` open connections.
inline bool WaitForConnections(Server& server, size_t n) {
  for (int i = 0; i < 500; ++i) {
    if (server.connections() == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// A frame with the given type byte and payload, for malformed input.
inline std::string RawFrame(uint8_t type, std::string_view payload) {
  std::string f(4, '\0');
  const uint32_t length = static_cast<uint32_t>(payload.size() + 1);
  std::memcpy(f.data(), &length, 4);
  f.push_back(static_cast<char>(type));
  f.append(payload);
  return f;
}

}  // namespace mrldb::testing
