// The hostile probe's disk-full scenario through `mrldb serve`: the server used to die in a
// RocksDB assertion at the write after ENOSPC. Now every write on the full disk is answered with
// ERROR code 10 (READ_ONLY), reads keep working, the server stays up, writes resume once space
// is freed, and SIGTERM still stops it cleanly. Skipped, saying why, where no tmpfs can be
// mounted.
#include <gtest/gtest.h>

#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "mrldb/client.h"
#include "tests/serve_process.h"
#include "tests/storage/small_tmpfs.h"

namespace mrldb::testing {
namespace {

TEST(ServeDiskFull, WritesOnAFullDiskAreRefusedAndTheServerStaysUp) {
  SmallTmpfs tmpfs(16);
  if (!tmpfs.mounted()) {
    GTEST_SKIP() << "cannot mount a 16 MiB tmpfs here (" << tmpfs.error()
                 << "); this test needs root and a container that permits mount";
  }
  TempDir logs;
  std::filesystem::create_directories(logs.path());
  const std::string log = logs.path() + "/log";
  Fill(tmpfs.path("ballast"), 8u << 20);
  ServeProcess server({"--db", tmpfs.path("db"), "--listen", "127.0.0.1:0"}, log);
  const uint16_t port = server.WaitForPort();
  ASSERT_NE(port, 0) << ReadFile(log);
  auto c = Client::Connect(fmt::format("127.0.0.1:{}", port));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE((*c)->Execute("CREATE COLLECTION t (id BIGINT PRIMARY KEY, embedding VECTOR(64) "
                            "METRIC L2)").ok());
  // 200 rows of 64 floats per statement, until the disk is full.
  int acknowledged = 0, next = 0;
  Status refused;
  for (int b = 0; b < 2000 && refused.ok(); ++b) {
    std::string sql = "INSERT INTO t VALUES ";
    for (int i = 0; i < 200; ++i) {
      sql += fmt::format("{}({}, [", i ? ", " : "", next++);
      for (int d = 0; d < 64; ++d) sql += fmt::format("{}{}.5", d ? ", " : "", (next + d) % 97);
      sql += "])";
    }
    auto r = (*c)->Execute(sql);
    refused = r.status();
    if (r.ok()) acknowledged += 200;
  }
  ASSERT_TRUE(refused.IsReadOnly()) << refused.ToString();
  EXPECT_NE(refused.message().find("disk full: "), std::string::npos) << refused.message();
  const std::string one = fmt::format("[{}]", fmt::join(std::vector<int>(64, 1), ", "));
  EXPECT_TRUE((*c)->Execute("INSERT INTO t VALUES (999999, " + one + ")").status().IsReadOnly());
  EXPECT_TRUE((*c)->Execute("DELETE FROM t WHERE id = 1").status().IsReadOnly());
  auto rows = (*c)->Execute("SELECT id FROM t ORDER BY embedding <-> " + one + " LIMIT 5");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_TRUE((*c)->Execute("DESCRIBE t").ok());

  std::filesystem::remove(tmpfs.path("ballast"));
  // The server tries to recover at a write, at most once a second.
  Status resumed = Status::ReadOnly("not tried");
  for (int i = 0; i < 100 && resumed.IsReadOnly(); ++i) {
    if (i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    resumed = (*c)->Execute("INSERT INTO t VALUES (1000000, " + one + ")").status();
  }
  EXPECT_TRUE(resumed.ok()) << resumed.ToString();
  EXPECT_EQ(server.Stop(SIGTERM), 0) << ReadFile(log);
  EXPECT_EQ(ReadFile(log).find("Assertion"), std::string::npos) << ReadFile(log);
  std::cout << "serve disk full: acknowledged_rows=" << acknowledged << std::endl;
}

}  // namespace
}  // namespace mrldb::testing
