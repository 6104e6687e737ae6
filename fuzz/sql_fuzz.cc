// libFuzzer target: statements through the whole query layer (tokenizer, parser, binder,
// executor) against a small database, and FormatError on every error. Any input must give a
// result or an error with a valid position; nothing may crash, hang or leak.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "mrldb/database.h"
#include "mrldb/session.h"

namespace {

std::unique_ptr<mrldb::Database> g_db;
std::unique_ptr<mrldb::Session> g_session;
std::string g_dir;

void Check(bool ok) {
  if (!ok) std::abort();
}

// A collection the inputs can query, recreated when an input drops it.
void EnsureCollection() {
  if (g_db->DescribeCollection("c").ok()) return;
  auto st = g_session->Execute(
      "CREATE COLLECTION c (id BIGINT PRIMARY KEY, embedding VECTOR(8) MATRYOSHKA (4, 8) METRIC L2, "
      "tag TEXT, n INT)");
  Check(st.ok());
  Check(g_session
            ->Execute("INSERT INTO c VALUES (1, [1,0,0,0,0,0,0,0], 'a', 1), (2, [0,1,0,0,0,0,0,0], "
                      "'b', 2), (3, [0,0,1,0,0,0,0,0], NULL, 3), (4, [1,1,1,1,1,1,1,1], 'd', NULL)")
            .ok());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/mrldb-sql-fuzz-XXXXXX";
  g_dir = mkdtemp(tmpl);
  std::filesystem::create_directories(g_dir + "/files");
  mrldb::DatabaseOptions o;
  o.info_log = [](std::string_view) {};
  auto db = mrldb::Database::Open(g_dir + "/db", o);
  if (!db.ok()) std::abort();
  g_db = std::move(*db);
  mrldb::SessionOptions so;
  so.copy_dir = g_dir + "/files";  // COPY stays inside
  g_session = std::make_unique<mrldb::Session>(g_db.get(), so);
  std::atexit([] {
    g_session.reset();
    if (g_db) (void)g_db->Close();
    g_db.reset();
    std::error_code ec;
    std::filesystem::remove_all(g_dir, ec);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // statements, not bulk data
  EnsureCollection();
  const std::string sql(reinterpret_cast<const char*>(data), size);
  auto r = g_session->Execute(sql);
  if (!r.ok()) {
    const std::string shown = mrldb::FormatError(sql, r.status());
    Check(!shown.empty());
    Check(r.status().code() != mrldb::Status::Code::kInternal);  // an Internal error is a bug
  }
  return 0;
}
