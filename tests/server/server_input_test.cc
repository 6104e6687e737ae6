// Hostile and careless clients over raw sockets: malformed, truncated and oversized frames, a
// wrong protocol version, too many connections, idle and authentication timeouts. Each gets an
// ERROR frame and its connection closed; the server and its other clients carry on.
#include <chrono>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "tests/server/server_test_util.h"

namespace mrldb::testing {
namespace {

TEST(ServerInput, BadFramesGetAnErrorAndCloseOnlyTheirConnection) {
  ServerOptions o;
  o.max_frame_bytes = 1 << 16;
  TestServer ts(o);
  auto good = ts.Connect();
  ASSERT_NE(good, nullptr);
  ASSERT_TRUE(good->Execute("CREATE COLLECTION t (id BIGINT PRIMARY KEY, embedding VECTOR(2) METRIC L2)").ok());

  const uint8_t protocol = wire::CodeOf(wire::ErrorCode::kProtocol);
  const uint8_t limit = wire::CodeOf(wire::ErrorCode::kLimit);
  const std::string hello = wire::EncodeHello({wire::kProtocolVersion, "raw"});
  struct Case {
    const char* what;
    bool handshake;      // send HELLO first
    std::string bytes;   // then these
    bool close_write;    // then half-close (truncation)
    uint8_t code;
    const char* message;
  };
  const Case cases[] = {
      {"bad magic", false, RawFrame(0x01, "HTTP" + std::string("\x01\x00", 2) + Le32(0)), false,
       protocol, "bad magic"},
      {"QUERY before HELLO", false, wire::EncodeQuery("SHOW COLLECTIONS", {}), false, protocol,
       "expected HELLO as the first frame, got QUERY"},
      {"length 0", false, Le32(0) + '\x01', false, protocol, "length 0"},
      {"length 0 and nothing after it", false, Le32(0), false, protocol, "length 0"},
      {"length 0 after the handshake", true, Le32(0), false, protocol, "length 0"},
      {"oversized frame", true, Le32(1 << 20) + '\x03', false, limit,
       "a QUERY frame of 1048575 bytes exceeds this server's limit of 65536 bytes"},
      {"oversized unknown frame", true, Le32(1 << 20) + '\x7f', false, limit,
       "an unknown frame (type 0x7f) of 1048575 bytes exceeds"},
      {"an HTTP request", false, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false, limit, "exceeds this server's limit"},
      {"unknown frame type", true, RawFrame(0x7f, ""), false, protocol, "unexpected unknown frame (type 0x7f)"},
      {"server frame type", true, wire::EncodeEmpty(wire::FrameType::kPong), false, protocol, "unexpected PONG frame"},
      {"bad value tag", true, RawFrame(0x03, Le32(0) + Le32(1) + '\x0c'), false, protocol,
       "malformed QUERY frame: parameter 1: unknown value tag 12"},
      {"vector past the end", true, RawFrame(0x03, Le32(0) + Le32(1) + '\x05' + Le32(1000) + "abcd"),
       false, protocol, "VECTOR of 1000 dims exceeds the frame"},
      {"trailing bytes", true, RawFrame(0x05, "x"), false, protocol, "malformed PING frame"},
      {"CLOSE with a payload", true, RawFrame(0x06, "x"), false, protocol, "malformed CLOSE frame"},
      {"second HELLO", true, hello, false, protocol, "unexpected HELLO frame"},
      {"truncated payload", true, Le32(100) + '\x03' + "0123456789", true, protocol,
       "truncated frame: the connection ended after 10 of the QUERY frame's 99 bytes"},
      {"truncated header", true, std::string("\x10\x00", 2), true, protocol, "inside a frame header"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    RawConnection raw(ts.port());
    ASSERT_TRUE(raw.connected());
    if (c.handshake) raw.Handshake();
    raw.Send(c.bytes);
    if (c.close_write) raw.CloseWrite();
    const wire::ErrorFrame e = raw.ReadError();
    EXPECT_EQ(e.code, c.code) << e.message;
    EXPECT_TRUE(e.fatal);
    EXPECT_NE(e.message.find(c.message), std::string::npos) << e.message;
    EXPECT_TRUE(raw.AtEof());
    // The well-behaved client is unaffected.
    auto r = good->Execute("SHOW COLLECTIONS");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->rows.size(), 1u);
  }
  EXPECT_TRUE(WaitForConnections(ts.server(), 1));
}

// Before authentication a frame may not make the server hold more than a handshake needs, even
// when --max-frame-bytes allows it.
TEST(ServerInput, LargeFramesBeforeAuthenticationAreRefused) {
  TestServer ts(ServerOptions{});
  RawConnection raw(ts.port());
  ASSERT_TRUE(raw.connected());
  raw.Send(Le32(1 << 20) + '\x01');  // a 1 MiB HELLO: under the 64 MiB frame limit
  const wire::ErrorFrame e = raw.ReadError();
  EXPECT_EQ(e.code, wire::CodeOf(wire::ErrorCode::kLimit)) << e.message;
  EXPECT_TRUE(e.fatal);
  EXPECT_NE(e.message.find("before authentication (at most 65536 bytes)"), std::string::npos) << e.message;
  EXPECT_TRUE(raw.AtEof());
}

// Random bytes, before and after the handshake, from many connections at once: the server answers
// or closes each, and keeps serving.
TEST(ServerInput, RandomBytesNeverTakeTheServerDown) {
  ServerOptions o;
  o.max_frame_bytes = 1 << 16;
  o.idle_timeout_s = 1;
  TestServer ts(o);
  std::mt19937 rng(42);
  std::vector<std::unique_ptr<RawConnection>> raws;
  for (int i = 0; i < 40; ++i) {
    auto raw = std::make_unique<RawConnection>(ts.port());
    ASSERT_TRUE(raw->connected());
    if (i % 2 == 1) raw->Handshake();
    std::string junk(1 + rng() % 200, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 4 == 3) junk = RawFrame(uint8_t(wire::FrameType::kQuery), junk);  // a whole QUERY of random content
    raw->Send(junk);
    raw->CloseWrite();
    raws.push_back(std::move(raw));
  }
  for (auto& raw : raws) {
    raw->ReadError();  // an ERROR, or the end of the stream; never a hang past the timeouts
    EXPECT_TRUE(raw->AtEof());
  }
  auto c = ts.Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->Execute("SHOW COLLECTIONS").ok());
  EXPECT_TRUE(WaitForConnections(ts.server(), 1));
}

TEST(ServerInput, VersionMismatchIsRefused) {
  TestServer ts;
  RawConnection raw(ts.port());
  raw.Send(wire::EncodeHello({2, "future"}));
  const wire::ErrorFrame e = raw.ReadError();
  EXPECT_EQ(e.code, wire::CodeOf(Status::Code::kVersionMismatch));
  EXPECT_TRUE(e.fatal);
  EXPECT_NE(e.message.find("protocol version 2 is not supported: this server speaks version 1"), std::string::npos)
      << e.message;
  EXPECT_TRUE(raw.AtEof());
}

TEST(ServerInput, PingPongAndCancelWhileIdle) {
  TestServer ts;
  RawConnection raw(ts.port());
  raw.Handshake();
  raw.Send(wire::EncodeEmpty(wire::FrameType::kCancel));  // nothing runs: ignored, no reply
  raw.Send(wire::EncodeEmpty(wire::FrameType::kPing));
  uint8_t type = 0;
  std::string payload;
  ASSERT_TRUE(raw.ReadFrame(&type, &payload));
  EXPECT_EQ(type, static_cast<uint8_t>(wire::FrameType::kPong));
  raw.Send(wire::EncodeEmpty(wire::FrameType::kClose));
  EXPECT_TRUE(raw.AtEof());
}

TEST(ServerInput, ConnectionsBeyondTheLimitAreRefused) {
  ServerOptions o;
  o.max_connections = 2;
  o.evict_idle_after_s = 600;  // no slot is taken from an idle client here
  TestServer ts(o);
  auto a = ts.Connect();
  auto b = ts.Connect();
  ASSERT_NE(b, nullptr);
  auto c = Client::Connect(ts.address());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("too many connections: this server allows 2"), std::string::npos)
      << c.status().ToString();
  ASSERT_OK(a->Ping());
  a->Close();
  ASSERT_TRUE(WaitForConnections(ts.server(), 1));
  auto d = ts.Connect();
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->Execute("SHOW COLLECTIONS").ok());
}

TEST(ServerInput, IdleAndAuthenticationTimeoutsCloseTheConnection) {
  ServerOptions o;
  o.idle_timeout_s = 0.3;
  o.auth_timeout_s = 0.3;
  TestServer ts(o);
  RawConnection silent(ts.port());
  const auto t0 = std::chrono::steady_clock::now();
  wire::ErrorFrame e = silent.ReadError();
  EXPECT_EQ(e.code, wire::CodeOf(wire::ErrorCode::kTimeout));
  EXPECT_NE(e.message.find("authentication timeout"), std::string::npos) << e.message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_TRUE(silent.AtEof());

  auto c = ts.Connect();
  ASSERT_NE(c, nullptr);
  for (int i = 0; i < 4; ++i) {  // activity keeps it open past the timeout
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    ASSERT_OK(c->Ping());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  Status s = c->Ping();
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find("idle timeout"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace mrldb::testing
