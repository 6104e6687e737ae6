// mrldb::Client against failures: nothing listening, a server that never answers, one that
// hangs up mid-statement or sends garbage. Each is a clear Status, never a crash or a hang.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "client/wire.h"
#include "mrldb/client.h"

namespace mrldb {
namespace {

// A listening socket on 127.0.0.1:<free port> whose single connection is handled by `script`
// on a thread (given the connected socket).
class FakeServer {
 public:
  explicit FakeServer(std::function<void(int)> script) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(listener_, 4);
    socklen_t len = sizeof a;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    if (script) {
      thread_ = std::thread([this, script] {
        const int fd = accept(listener_, nullptr, nullptr);
        if (fd >= 0) {
          script(fd);
          close(fd);
        }
      });
    }
  }
  ~FakeServer() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    if (thread_.joinable()) thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Reads one frame (header + payload); false on end of stream.
  static bool ReadFrame(int fd, std::string* frame) {
    char header[wire::kHeaderBytes];
    if (recv(fd, header, sizeof header, MSG_WAITALL) != ssize_t(sizeof header)) return false;
    const wire::FrameHeader h = wire::ParseHeader(reinterpret_cast<const uint8_t*>(header));
    frame->assign(header, sizeof header);
    std::string payload(h.payload_bytes(), '\0');
    if (!payload.empty() && recv(fd, payload.data(), payload.size(), MSG_WAITALL) != ssize_t(payload.size())) {
      return false;
    }
    *frame += payload;
    return true;
  }
  static void Send(int fd, const std::string& bytes) { send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL); }
  // Reads HELLO, answers HELLO_OK (no token).
  static void Handshake(int fd) {
    std::string frame;
    ASSERT_TRUE(ReadFrame(fd, &frame));
    Send(fd, wire::EncodeHelloOk({wire::kProtocolVersion, "fake", false, 1 << 20}));
  }

 private:
  int listener_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST(Client, BadAddressesAndRefusedConnections) {
  auto c = Client::Connect("no-port-here");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsInvalidArgument());
  EXPECT_NE(c.status().message().find("is not host:port"), std::string::npos) << c.status().ToString();
  uint16_t closed_port = 0;
  {
    FakeServer gone(nullptr);  // bound, then closed: nothing listens there any more
    closed_port = static_cast<uint16_t>(std::stoi(gone.address().substr(10)));
  }
  c = Client::Connect("127.0.0.1:" + std::to_string(closed_port));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kIOError);
  EXPECT_NE(c.status().message().find("cannot connect to 127.0.0.1"), std::string::npos) << c.status().ToString();
}

TEST(Client, AServerThatNeverAnswersTimesOut) {
  FakeServer silent([](int fd) {
    std::string frame;
    FakeServer::ReadFrame(fd, &frame);  // HELLO, never answered; returns when the client leaves
    FakeServer::ReadFrame(fd, &frame);
  });
  ClientOptions o;
  o.connect_timeout_s = 0.3;
  const auto t0 = std::chrono::steady_clock::now();
  auto c = Client::Connect(silent.address(), o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kIOError);
  EXPECT_NE(c.status().message().find("timed out waiting for the server"), std::string::npos) << c.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

TEST(Client, AServerThatHangsUpMidStatementIsAnIOError) {
  FakeServer server([](int fd) {
    FakeServer::Handshake(fd);
    std::string frame;
    FakeServer::ReadFrame(fd, &frame);  // the QUERY
    FakeServer::Send(fd, wire::EncodeProgress({5, std::nullopt}));
    // ... and hang up without a result.
  });
  auto c = Client::Connect(server.address());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->server_version(), "fake");
  auto r = (*c)->Execute("SELECT 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kIOError);
  EXPECT_NE(r.status().message().find("the server closed the connection"), std::string::npos) << r.status().ToString();
  EXPECT_EQ((*c)->Ping().code(), Status::Code::kIOError);  // closed for good
  (*c)->Cancel();                                          // a no-op now
}

TEST(Client, GarbageFromTheServerIsAProtocolError) {
  FakeServer server([](int fd) {
    FakeServer::Handshake(fd);
    std::string frame;
    FakeServer::ReadFrame(fd, &frame);
    FakeServer::Send(fd, wire::EncodeSchema({{"a", CellType::kBigint}}));
    std::string batch = wire::EncodeComplete("x", 0);
    batch[4] = static_cast<char>(wire::FrameType::kRowBatch);  // a ROW_BATCH that does not decode
    FakeServer::Send(fd, batch);
    FakeServer::ReadFrame(fd, &frame);  // until the client hangs up
  });
  auto c = Client::Connect(server.address());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto r = (*c)->Execute("SELECT 1");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(r.status().message().find("malformed ROW_BATCH frame"), std::string::npos) << r.status().ToString();
}

TEST(Client, AnOversizedFrameFromTheServerIsRefused) {
  FakeServer server([](int fd) {
    FakeServer::Handshake(fd);
    std::string frame;
    FakeServer::ReadFrame(fd, &frame);
    const uint32_t huge = 0x7fffffff;
    std::string header(reinterpret_cast<const char*>(&huge), 4);
    header.push_back(static_cast<char>(wire::FrameType::kRowBatch));
    FakeServer::Send(fd, header);
    FakeServer::ReadFrame(fd, &frame);
  });
  ClientOptions o;
  o.max_frame_bytes = 1 << 20;
  auto c = Client::Connect(server.address(), o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto r = (*c)->Execute("SELECT 1");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ClientOptions::max_frame_bytes is 1048576"), std::string::npos)
      << r.status().ToString();
}

}  // namespace
}  // namespace mrldb
