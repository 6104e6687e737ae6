#include "shell/backend.h"

#include <fmt/format.h>

namespace mrldb::shell {

Result<ResultSet> Backend::CopyFrom(std::string_view, const std::string&, const std::string&) {
  return Status::NotSupported("a local database runs COPY on the files themselves");
}

Result<ResultSet> Backend::CopyTo(std::string_view, const std::string&, const std::string&, bool) {
  return Status::NotSupported("a local database runs COPY on the files themselves");
}

namespace {

class LocalBackend final : public Backend {
 public:
  LocalBackend(std::unique_ptr<Database> db, std::string path, ProgressFn progress)
      : db_(std::move(db)), path_(std::move(path)), session_(db_.get(), Options(std::move(progress))) {}
  Result<ResultSet> Execute(std::string_view sql) override { return session_.Execute(sql); }
  void Cancel() override { session_.Cancel(); }
  std::string Where() const override { return fmt::format("database '{}'", path_); }
  Status Close() override { return db_->Close(); }
  Database* local() override { return db_.get(); }

 private:
  static SessionOptions Options(ProgressFn progress) {
    SessionOptions o;
    o.progress = std::move(progress);
    return o;
  }
  std::unique_ptr<Database> db_;
  std::string path_;
  Session session_;
};

}  // namespace

Result<std::unique_ptr<Backend>> OpenLocal(const std::string& path, ProgressFn progress,
                                           bool background, std::optional<uint64_t> memory_budget,
                                           unsigned storage_read_depth) {
  DatabaseOptions options;
  options.auto_tune = background;
  if (!background) options.auto_vacuum_share = 0;
  options.memory_budget_bytes = memory_budget;
  options.storage_read_depth = storage_read_depth;
  auto db = Database::Open(path, options);
  if (!db.ok()) return db.status();
  return std::unique_ptr<Backend>(new LocalBackend(std::move(*db), path, std::move(progress)));
}

}  // namespace mrldb::shell
