// COPY ... FROM STDIN and COPY ... TO STDOUT through a Session's CopyChannel: the same rows,
// batches and errors as COPY with files, the ids part of npy, and a channel that fails.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mrldb/session.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// A channel over strings: what a client would send (`in`, per part), what it received (`out`).
class StringChannel final : public CopyChannel {
 public:
  std::string in[2];
  std::string out[2];
  std::string began;             // "in npy ids", "out csv" ...
  size_t fail_after = SIZE_MAX;  // data bytes handed out before Read fails
  Status failure = Status::IOError("the client left");

  // Starts over: the client sends `data`.
  void Reset(std::string data) {
    in[0] = std::move(data);
    at_[0] = at_[1] = 0;
  }

  Status BeginIn(std::string_view format, bool ids) override {
    began = fmt::format("in {}{}", format, ids ? " ids" : "");
    return Status::Ok();
  }
  Result<size_t> Read(CopyPart part, char* dst, size_t n) override {
    const int p = static_cast<int>(part);
    if (part == CopyPart::kData && at_[p] >= fail_after) return failure;
    size_t c = std::min(n, in[p].size() - at_[p]);
    if (part == CopyPart::kData) c = std::min(c, fail_after - at_[p]);
    in[p].copy(dst, c, at_[p]);
    at_[p] += c;
    return c;
  }
  Status BeginOut(std::string_view format, bool ids) override {
    began = fmt::format("out {}{}", format, ids ? " ids" : "");
    return Status::Ok();
  }
  Status Write(CopyPart part, std::string_view bytes) override {
    out[static_cast<int>(part)].append(bytes);
    return Status::Ok();
  }

 private:
  size_t at_[2] = {0, 0};
};

class CopyStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::OpenOrDie(dir_.path());
    fs::create_directories(files_.path());
    SessionOptions o;
    o.copy_dir = files_.path();
    o.copy_channel = &channel_;
    o.max_copy_ids_bytes = 64;
    session_ = std::make_unique<Session>(db_.get(), o);
    ASSERT_TRUE(Run("CREATE COLLECTION v (id BIGINT PRIMARY KEY, embedding VECTOR(2) METRIC L2, "
                    "tag TEXT)").ok());
  }
  Result<ResultSet> Run(std::string_view sql) { return session_->Execute(sql); }
  int64_t Count() { return std::get<int64_t>(Run("SELECT COUNT(*) FROM v")->rows[0][0]); }
  std::string File(const std::string& name) { return testing::ReadFile(files_.path() + "/" + name); }

  TempDir dir_, files_;
  StringChannel channel_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Session> session_;
};

TEST_F(CopyStreamTest, CsvInAndOutMatchTheFileCopy) {
  channel_.in[0] = "id,embedding,tag\n1,\"[1,2]\",a\n2,\"[3,4]\",\n3,\"[5,6]\",\"x,y\"\n";
  auto r = Run("COPY v FROM STDIN WITH (format csv, batch_size 2)");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tag, "COPY 3");
  EXPECT_EQ(channel_.began, "in csv");
  ASSERT_TRUE(Run("COPY v TO 'v.csv'").ok());
  r = Run("COPY v TO STDOUT WITH (format 'csv')");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tag, "COPY 3");
  EXPECT_EQ(channel_.began, "out csv");
  EXPECT_EQ(channel_.out[0], File("v.csv"));
  EXPECT_EQ(channel_.out[1], "");
}

TEST_F(CopyStreamTest, NpyTravelsWithItsIdsPart) {
  ASSERT_TRUE(Run("INSERT INTO v (id, embedding) VALUES (5, [1, 0]), (6, [0, 1]), (7, [1, 1])").ok());
  ASSERT_TRUE(Run("COPY v TO 'v.npy' WITH (ids 'v.ids')").ok());
  auto r = Run("COPY v TO STDOUT WITH (format npy)");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(channel_.began, "out npy ids");
  EXPECT_EQ(channel_.out[0], File("v.npy"));  // the header's row count was known at the start
  EXPECT_EQ(channel_.out[1], File("v.ids"));
  ASSERT_TRUE(Run("CREATE COLLECTION w (id BIGINT PRIMARY KEY, embedding VECTOR(2))").ok());
  channel_.in[0] = channel_.out[0];
  channel_.in[1] = channel_.out[1];
  r = session_->Execute("COPY w FROM STDIN WITH (format 'npy')");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tag, "COPY 3");
  EXPECT_EQ(channel_.began, "in npy ids");
  EXPECT_EQ(Run("SELECT id FROM w WHERE id = 7")->rows.size(), 1u);
}

TEST_F(CopyStreamTest, BadDataNamesTheLineAndEarlierBatchesStay) {
  channel_.in[0] = "{\"id\": 1, \"embedding\": [1, 2]}\n{\"id\": 2, \"embedding\": [1, 2]}\n"
                   "{\"id\": 3, \"embedding\": [1, 2]}\n{\"id\": 4, \"embedding\": [1, \"x\"]}\n";
  auto r = Run("COPY v FROM STDIN WITH (format jsonl, batch_size 2)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "STDIN: line 4, byte 28: field 'embedding', element 1: expected "
                                  "a number, got a string (2 rows committed before the error)")
      << r.status().ToString();
  EXPECT_EQ(r.status().line(), 1u);
  EXPECT_EQ(Count(), 2);
}

// The client leaving (or giving the COPY up) inside a batch: that batch is not stored.
TEST_F(CopyStreamTest, AChannelThatFailsInsideABatchLeavesNoPartOfIt) {
  std::string csv = "id,embedding\n";
  for (int i = 0; i < 10; ++i) csv += fmt::format("{},\"[{}, 1]\"\n", i, i);
  channel_.in[0] = csv;
  channel_.fail_after = csv.find("7,");  // inside the second batch of 4
  auto r = Run("COPY v FROM STDIN WITH (format csv, batch_size 4)");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("the client left (4 rows committed before the error)"),
            std::string::npos) << r.status().ToString();
  EXPECT_EQ(Count(), 4);
  // A cancelled statement says so with its code.
  channel_.Reset(csv);
  channel_.failure = Status::Cancelled("cancelled");
  r = Run("COPY v FROM STDIN WITH (format csv, batch_size 4, on_conflict 'skip')");
  EXPECT_EQ(r.status().code(), Status::Code::kCancelled) << r.status().ToString();
  EXPECT_EQ(r.status().message(), "COPY cancelled after 0 rows");  // ids 0..3 are stored: skip them
}

TEST_F(CopyStreamTest, RefusedForms) {
  auto r = Run("COPY v FROM STDIN");
  EXPECT_EQ(r.status().message(), "COPY FROM STDIN needs WITH (format 'npy|fvecs|csv|jsonl'): "
                                  "there is no file name to tell it by");
  r = Run("COPY v FROM STDIN WITH (format npy, ids 'ids.txt')");
  EXPECT_NE(r.status().message().find("COPY FROM STDIN takes no ids file: the ids of npy and "
                                      "fvecs travel over the wire too"),
            std::string::npos) << r.status().ToString();
  r = Run("COPY v TO STDOUT WITH (format csv, overwrite true)");
  EXPECT_EQ(r.status().message(), "COPY TO STDOUT takes no overwrite: the client writes its own file");
  channel_.in[1] = std::string(65, '1');  // over max_copy_ids_bytes
  r = Run("COPY v FROM STDIN WITH (format npy)");
  EXPECT_NE(r.status().message().find("the ids of COPY FROM STDIN take more than 64 bytes"),
            std::string::npos) << r.status().ToString();
  // A session without a channel (an embedded one) has nobody to talk to.
  Session plain(db_.get());
  r = plain.Execute("COPY v TO STDOUT WITH (format csv)");
  EXPECT_EQ(r.status().code(), Status::Code::kNotSupported);
  EXPECT_NE(r.status().message().find("COPY TO STDOUT needs a client that receives the data (the "
                                      "shell's \\copy"),
            std::string::npos) << r.status().ToString();
  EXPECT_EQ(r.status().column(), 1u);
}

}  // namespace
}  // namespace mrldb
