// Clients that hold server resources without using them: sockets that stay silent or send only
// HELLO (they must not lock others out of the connection slots), many connections from one
// address, and clients that ask for large results and never read them (the reply memory is
// bounded over all connections and given back when they leave).
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/server/server_test_util.h"

namespace mrldb::testing {
namespace {

bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 500; ++i) {  // 5 s
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(ServerLimits, SilentAndHelloOnlySocketsCannotLockClientsOut) {
  ServerOptions o;
  o.max_connections = 4;
  o.max_connections_per_address = 0;
  o.evict_idle_after_s = 0.2;
  o.auth_timeout_s = 60;  // the timeouts are not what frees the slots
  o.idle_timeout_s = 600;
  TestServer ts(o);
  std::vector<std::unique_ptr<RawConnection>> squatters;
  for (int i = 0; i < 4; ++i) {
    squatters.push_back(std::make_unique<RawConnection>(ts.port()));
    ASSERT_TRUE(squatters.back()->connected());
    if (i >= 2) squatters.back()->Handshake();  // two silent, two that only said HELLO
  }
  ASSERT_TRUE(WaitFor([&] { return ts.server().connections() == 4; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past evict_idle_after_s
  // Four real clients get in, one slot each taken from a squatter: the silent ones first.
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 4; ++i) {
    auto c = Client::Connect(ts.address());
    ASSERT_TRUE(c.ok()) << "client " << i << ": " << c.status().ToString();
    ASSERT_TRUE((*c)->Execute("SHOW COLLECTIONS").ok());
    clients.push_back(std::move(c).value());
  }
  for (int i = 0; i < 4; ++i) {
    const wire::ErrorFrame e = squatters[i]->ReadError();
    EXPECT_EQ(e.code, wire::CodeOf(wire::ErrorCode::kLimit)) << i << ": " << e.message;
    EXPECT_NE(e.message.find(i < 2 ? "in its handshake" : "idle"), std::string::npos) << e.message;
    EXPECT_TRUE(squatters[i]->AtEof());
  }
  // All four slots now hold clients that just ran a statement: a fifth is refused while they
  // are fresh, and takes the longest-idle one's slot once that has idled.
  auto refused = Client::Connect(ts.address());
  if (!refused.ok()) {
    EXPECT_NE(refused.status().message().find("too many connections"), std::string::npos)
        << refused.status().ToString();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto fifth = Client::Connect(ts.address());
  ASSERT_TRUE(fifth.ok()) << fifth.status().ToString();
  EXPECT_TRUE((*fifth)->Execute("SHOW COLLECTIONS").ok());
  EXPECT_EQ(ts.server().connections(), 4u);
}

TEST(ServerLimits, OneAddressCannotTakeEverySlot) {
  ServerOptions o;
  o.max_connections = 8;
  o.max_connections_per_address = 2;
  TestServer ts(o);
  std::unique_ptr<Client> held[2] = {ts.Connect(), ts.Connect()};
  ASSERT_NE(held[1], nullptr);
  auto refused = Client::Connect(ts.address());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find(
                "too many connections from 127.0.0.1: this server allows 2 per client address"),
            std::string::npos)
      << refused.status().ToString();
  held[0]->Close();
  ASSERT_TRUE(WaitFor([&] { return ts.server().connections() == 1; }));
  auto d = ts.Connect();
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->Execute("SHOW COLLECTIONS").ok());
}

// A 10,000 x 1,024 float32 result is ~41 MB. One client that asks for it and never reads fits
// in a 64 MiB budget; a second one, while the first still holds its backlog (the kernel's socket
// buffers take at most a few MB of it), does not and gets a LIMIT error at once; when the first
// leaves, its memory is released and a reader gets the whole result.
TEST(ServerLimits, UnreadResultsAreBoundedOverAllConnectionsAndReleased) {
  ServerOptions o;
  o.max_backlog_bytes = uint64_t{64} << 20;
  o.max_connections_per_address = 0;
  TestServer ts(o);
  constexpr size_t kRows = 10000, kDim = 1024;
  {
    auto admin = ts.Connect();
    ASSERT_TRUE(admin->Execute(fmt::format("CREATE COLLECTION big (id BIGINT PRIMARY KEY, "
                                           "embedding VECTOR({}) METRIC L2)", kDim)).ok());
    InsertBatch batch;
    std::vector<float> v(kDim);
    for (size_t i = 0; i < kRows; ++i) {
      for (size_t j = 0; j < kDim; ++j) v[j] = float((i + j) % 13);
      batch.Add(Key{int64_t(i)}, v);
    }
    ASSERT_TRUE(ts.db().Insert("big", batch).ok());
  }
  const std::string query = wire::EncodeQuery("SELECT id, embedding FROM big", {});
  auto first = std::make_unique<RawConnection>(ts.port());
  first->Handshake();
  first->Send(query);
  ASSERT_TRUE(WaitFor([&] { return ts.server().backlog_bytes() > (uint64_t{30} << 20); }))
      << ts.server().backlog_bytes();

  RawConnection second(ts.port());
  second.Handshake();
  second.Send(query);
  const wire::ErrorFrame e = second.ReadError();
  EXPECT_EQ(e.code, wire::CodeOf(wire::ErrorCode::kLimit)) << e.message;
  EXPECT_FALSE(e.fatal);
  EXPECT_NE(e.message.find("does not fit in the server's reply memory"), std::string::npos) << e.message;

  first.reset();  // closes the socket
  ASSERT_TRUE(WaitFor([&] { return ts.server().backlog_bytes() < (uint64_t{1} << 20); }))
      << ts.server().backlog_bytes();
  auto reader = ts.Connect();
  auto all = reader->Execute("SELECT id, embedding FROM big");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->rows.size(), kRows);
}

}  // namespace
}  // namespace mrldb::testing
