// The shell against a server (`mrldb connect HOST:PORT`): statements go through mrldb::Client.
#include <fmt/format.h>

#include "mrldb/client.h"
#include "shell/backend.h"

namespace mrldb::shell {
namespace {

class RemoteBackend final : public Backend {
 public:
  RemoteBackend(std::unique_ptr<Client> client, std::string address)
      : client_(std::move(client)), address_(std::move(address)) {}
  Result<ResultSet> Execute(std::string_view sql) override { return client_->Execute(sql); }
  void Cancel() override { client_->Cancel(); }
  std::string Where() const override {
    return fmt::format("server {} ({})", address_, client_->server_version());
  }
  Status Close() override {
    client_->Close();
    return Status::Ok();
  }
  Result<ResultSet> CopyFrom(std::string_view sql, const std::string& path,
                             const std::string& ids_path) override {
    return client_->CopyFrom(sql, path, ids_path);
  }
  Result<ResultSet> CopyTo(std::string_view sql, const std::string& path,
                           const std::string& ids_path, bool overwrite) override {
    return client_->CopyTo(sql, path, ids_path, overwrite);
  }

 private:
  std::unique_ptr<Client> client_;
  std::string address_;
};

}  // namespace

Result<std::unique_ptr<Backend>> Connect(const std::string& address, const std::string& token,
                                         ProgressFn progress) {
  ClientOptions o;
  o.token = token;
  o.client_name = "mrldb-shell";
  o.progress = std::move(progress);
  auto client = Client::Connect(address, std::move(o));
  if (!client.ok()) return client.status();
  return std::unique_ptr<Backend>(new RemoteBackend(std::move(*client), address));
}

}  // namespace mrldb::shell
