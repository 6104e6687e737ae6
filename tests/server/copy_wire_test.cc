// COPY over the wire (docs/protocol.md, "COPY over the wire"): Client::CopyFrom / CopyTo round
// trips in every format, bad data named by its place, and clients that misbehave mid-COPY (an
// oversized frame, a disconnect, silence, frames out of order): none leaves part of a batch
// behind, and the server keeps serving.
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/server/server_test_util.h"

namespace mrldb::testing {
namespace {

constexpr char kCreate[] = "CREATE COLLECTION t (id BIGINT PRIMARY KEY, embedding VECTOR(2) METRIC L2, tag TEXT)";

int64_t Count(Client& c, const std::string& collection = "t") {
  auto r = c.Execute("SELECT COUNT(*) FROM " + collection);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::get<int64_t>(r->rows[0][0]) : -1;
}

// A client of `ts`, with the collection t created.
std::unique_ptr<Client> ConnectWithT(TestServer& ts) {
  auto c = ts.Connect();
  if (c != nullptr) {
    EXPECT_TRUE(c->Execute(kCreate).ok());
  }
  return c;
}

std::string Csv(int rows, int first = 0) {
  std::string csv = "id,embedding,tag\n";
  for (int i = first; i < first + rows; ++i) csv += fmt::format("{},\"[{}, 1]\",t{}\n", i, i, i);
  return csv;
}

// A version 1.0 .npy header of float32 rows x dim.
std::string NpyHeader(int rows, int dim) {
  std::string header = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", rows, dim);
  header.resize(128 - 10 - 1, ' ');
  header += '\n';
  return "\x93NUMPY" + std::string("\x01\x00", 2) + static_cast<char>(header.size()) + '\0' + header;
}

// Reads frames up to a PROGRESS frame (a COPY batch committed) and returns its rows_done.
uint64_t ReadProgress(RawConnection& raw) {
  uint8_t type = 0;
  std::string payload;
  while (raw.ReadFrame(&type, &payload)) {
    if (type == static_cast<uint8_t>(wire::FrameType::kProgress)) return wire::DecodeProgress(payload)->rows_done;
  }
  return 0;
}

// A raw connection inside COPY ... FROM STDIN: HELLO, the QUERY, and its COPY_IN.
void StartCopyIn(RawConnection& raw, std::string_view sql) {
  raw.Handshake();
  raw.Send(wire::EncodeQuery(sql, {}));
  uint8_t type = 0;
  std::string payload;
  ASSERT_TRUE(raw.ReadFrame(&type, &payload));
  ASSERT_EQ(type, static_cast<uint8_t>(wire::FrameType::kCopyIn)) << payload;
  auto begin = wire::DecodeCopyBegin(payload);
  ASSERT_TRUE(begin.ok());
}

TEST(CopyWire, EveryFormatRoundTripsThroughTheClientsFiles) {
  TestServer ts;
  auto c = ConnectWithT(ts);
  ASSERT_NE(c, nullptr);
  std::istringstream csv(Csv(25));
  auto r = c->CopyFrom("COPY t FROM STDIN WITH (format csv, batch_size 10)", csv);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tag, "COPY 25");
  EXPECT_EQ(Count(*c), 25);

  // Out in each format and into a fresh collection again: the same rows.
  for (const char* format : {"csv", "jsonl", "npy", "fvecs"}) {
    SCOPED_TRACE(format);
    const bool vectors_only = std::string_view(format) == "npy" || std::string_view(format) == "fvecs";
    std::ostringstream data, ids;
    r = c->CopyTo(fmt::format("COPY t TO STDOUT WITH (format {})", format), data,
                  vectors_only ? &ids : nullptr);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->tag, "COPY 25");
    EXPECT_EQ(ids.str().empty(), !vectors_only);
    ASSERT_TRUE(c->Execute(fmt::format("CREATE COLLECTION {} (id BIGINT PRIMARY KEY, embedding "
                                       "VECTOR(2) METRIC L2, tag TEXT)", format)).ok());
    std::istringstream back(data.str()), back_ids(ids.str());
    r = c->CopyFrom(fmt::format("COPY {} FROM STDIN WITH (format {})", format, format), back,
                    vectors_only ? &back_ids : nullptr);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(Count(*c, format), 25);
    auto row = c->Execute(fmt::format("SELECT embedding, tag FROM {} WHERE id = 7", format));
    ASSERT_TRUE(row.ok());
    ASSERT_EQ(row->rows.size(), 1u);
    EXPECT_EQ(std::get<std::vector<float>>(row->rows[0][0]), (std::vector<float>{7, 1}));
    if (!vectors_only) {
      EXPECT_EQ(std::get<std::string>(row->rows[0][1]), "t7");
    }
  }

  // Local files: written whole or not at all.
  TempDir files;
  std::filesystem::create_directories(files.path());
  const std::string path = files.path() + "/t.npy", ids = files.path() + "/t.ids.txt";
  ASSERT_TRUE(c->CopyTo("COPY t TO STDOUT WITH (format npy)", path, ids).ok());
  auto again = c->CopyTo("COPY t TO STDOUT WITH (format npy)", path, ids);
  EXPECT_EQ(again.status().code(), Status::Code::kAlreadyExists) << again.status().ToString();
  ASSERT_TRUE(c->Execute("DELETE FROM t WHERE id >= 0").ok());
  r = c->CopyFrom("COPY t FROM STDIN WITH (format npy)", path, ids);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Count(*c), 25);
  EXPECT_FALSE(c->CopyTo("COPY nope TO STDOUT WITH (format csv)", files.path() + "/n.csv").ok());
  EXPECT_FALSE(std::filesystem::exists(files.path() + "/n.csv"));
  EXPECT_FALSE(std::filesystem::exists(files.path() + "/n.csv.partial"));
}

// More data than the server holds for one connection: it stops reading until the statement has
// taken it (and the client keeps sending), so the whole file arrives in order.
TEST(CopyWire, AFileLargerThanTheServersBufferStreamsThrough) {
  TestServer ts;
  auto c = ts.Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Execute("CREATE COLLECTION big (id BIGINT PRIMARY KEY, embedding VECTOR(32))").ok());
  constexpr int kRows = 40000;  // 5 MB of vectors, more than the 4 MiB the server buffers
  std::string npy = NpyHeader(kRows, 32);
  std::string ids;
  for (int i = 0; i < kRows; ++i) {
    for (int j = 0; j < 32; ++j) {
      const float v = static_cast<float>(i % 97 + j);
      npy.append(reinterpret_cast<const char*>(&v), 4);
    }
    ids += std::to_string(i) + "\n";
  }
  std::istringstream data(npy), id_stream(ids);
  std::vector<uint64_t> progress;
  ClientOptions o;
  o.progress = [&](const CopyProgress& p) {
    progress.push_back(p.rows_done);
    return true;
  };
  auto c2 = ts.Connect(o);
  auto r = c2->CopyFrom("COPY big FROM STDIN WITH (format npy)", data, &id_stream);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tag, "COPY 40000");
  EXPECT_EQ(Count(*c, "big"), kRows);
  auto row = c->Execute("SELECT embedding FROM big WHERE id = 39999");
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(std::get<std::vector<float>>(row->rows[0][0])[31], static_cast<float>(39999 % 97 + 31));
  ASSERT_FALSE(progress.empty());
  EXPECT_LE(progress.back(), 40000u);
}

TEST(CopyWire, BadDataIsAnErrorNamingItsPlaceAndTheConnectionGoesOn) {
  TestServer ts;
  auto c = ConnectWithT(ts);
  ASSERT_NE(c, nullptr);
  std::string csv = Csv(5);
  csv += "5,\"[5, x]\",t5\n" + Csv(3000, 6).substr(17);  // line 7; more data follows it
  std::istringstream in(csv);
  auto r = c->CopyFrom("COPY t FROM STDIN WITH (format csv, batch_size 2)", in);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("STDIN: line 7, column 'embedding'"), std::string::npos)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find("(4 rows committed before the error)"), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(r.status().line(), 1u);
  EXPECT_EQ(r.status().column(), 1u);
  EXPECT_EQ(Count(*c), 4);  // rows 0..3; the batch of rows 4 and 5 failed whole
  // Statements that are not COPY ... FROM STDIN refuse to take data, and the other way round.
  std::istringstream unused("x");
  r = c->CopyFrom("COPY t TO STDOUT WITH (format csv)", unused);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("run it with Client::CopyTo"), std::string::npos) << r.status().ToString();
  r = c->Execute("COPY t FROM STDIN WITH (format csv)");
  EXPECT_NE(r.status().message().find("the client gave the COPY up: COPY ... FROM STDIN needs the data"),
            std::string::npos) << r.status().ToString();
  std::istringstream npy("");
  r = c->CopyFrom("COPY t FROM STDIN WITH (format npy)", npy);
  EXPECT_NE(r.status().message().find("npy holds vectors only: the server wants the ids first"),
            std::string::npos) << r.status().ToString();
  EXPECT_EQ(Count(*c), 4);
}

// A COPY_DATA frame over the frame limit is refused before its payload is read: the COPY ends
// with the batches committed before it, and the server serves others.
// (One statement thread: a statement of another client runs once the COPY has ended, so the
// counts below are its final ones.)
TEST(CopyWire, AnOversizedFrameEndsTheConnectionNotTheServer) {
  ServerOptions o;
  o.max_frame_bytes = 1 << 16;
  o.statement_threads = 1;
  TestServer ts(o);
  auto c = ConnectWithT(ts);
  ASSERT_NE(c, nullptr);
  RawConnection raw(ts.port());
  ASSERT_NO_FATAL_FAILURE(StartCopyIn(raw, "COPY t FROM STDIN WITH (format csv, batch_size 4)"));
  raw.Send(wire::EncodeCopyData(wire::FrameType::kCopyData, CopyPart::kData, Csv(6)));
  ASSERT_EQ(ReadProgress(raw), 4u);  // the first batch is committed; rows 4, 5 wait for more
  raw.Send(Le32(1 << 20) + '\x07');
  const wire::ErrorFrame e = raw.ReadError();
  EXPECT_EQ(e.code, wire::CodeOf(wire::ErrorCode::kLimit)) << e.message;
  EXPECT_TRUE(e.fatal);
  EXPECT_NE(e.message.find("a COPY_DATA frame of 1048575 bytes exceeds this server's limit of "
                           "65536 bytes"), std::string::npos) << e.message;
  ASSERT_TRUE(WaitForConnections(ts.server(), 1));
  EXPECT_EQ(Count(*c), 4);  // the second batch (rows 4, 5) was never complete
}

TEST(CopyWire, AClientLeavingMidCopyLeavesNoPartOfABatch) {
  ServerOptions o;
  o.statement_threads = 1;
  TestServer ts(o);
  auto c = ConnectWithT(ts);
  ASSERT_NE(c, nullptr);
  {
    RawConnection raw(ts.port());
    ASSERT_NO_FATAL_FAILURE(StartCopyIn(raw, "COPY t FROM STDIN WITH (format csv, batch_size 4)"));
    raw.Send(wire::EncodeCopyData(wire::FrameType::kCopyData, CopyPart::kData, Csv(4)));
    ASSERT_EQ(ReadProgress(raw), 4u);
    raw.Send(wire::EncodeCopyData(wire::FrameType::kCopyData, CopyPart::kData, Csv(3, 4).substr(17)));
  }  // closed without COPY_DONE, inside the second batch
  ASSERT_TRUE(WaitForConnections(ts.server(), 1));
  EXPECT_EQ(Count(*c), 4);
  std::istringstream more(Csv(3, 100));
  ASSERT_TRUE(c->CopyFrom("COPY t FROM STDIN WITH (format csv)", more).ok());
  EXPECT_EQ(Count(*c), 7);
}

TEST(CopyWire, ASilentClientTimesOut) {
  ServerOptions o;
  o.idle_timeout_s = 0.3;
  o.statement_threads = 1;
  TestServer ts(o);
  ASSERT_NE(ConnectWithT(ts), nullptr);
  RawConnection raw(ts.port());
  ASSERT_NO_FATAL_FAILURE(StartCopyIn(raw, "COPY t FROM STDIN WITH (format csv, batch_size 2)"));
  raw.Send(wire::EncodeCopyData(wire::FrameType::kCopyData, CopyPart::kData, Csv(3)));
  // ... and nothing more: no COPY_DONE. (Row 2's batch never ends; the first may or may not have
  // been committed when the timeout cancelled the COPY.)
  const wire::ErrorFrame e = raw.ReadError();
  EXPECT_EQ(e.code, wire::CodeOf(wire::ErrorCode::kTimeout)) << e.message;
  EXPECT_TRUE(e.fatal);
  EXPECT_NE(e.message.find("idle timeout: the COPY waited 0.3 s for the client"), std::string::npos) << e.message;
  auto c = ts.Connect();  // its statement runs once the COPY's has ended
  ASSERT_NE(c, nullptr);
  const int64_t n = Count(*c);
  EXPECT_TRUE(n == 0 || n == 2) << n;
}

// A client that asks for COPY ... TO STDOUT and reads nothing: the server queues a bounded
// window, then the COPY waits, and the idle timeout ends it; the statement thread is free again.
TEST(CopyWire, AClientThatReadsNothingTimesOut) {
  ServerOptions o;
  o.idle_timeout_s = 0.5;
  o.statement_threads = 1;
  TestServer ts(o);
  {
    auto c = ts.Connect();
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(c->Execute("CREATE COLLECTION w (id BIGINT PRIMARY KEY, embedding VECTOR(64))").ok());
    // 50,000 rows: about 35 MB as csv, far more than the window and the socket buffers.
    std::ostringstream npy, ids;
    npy << NpyHeader(50000, 64);
    for (int i = 0; i < 50000; ++i) {
      for (int j = 0; j < 64; ++j) {
        const float v = 0.001f * float(i) + 1e-7f * float(j) + 0.123456f;
        npy.write(reinterpret_cast<const char*>(&v), 4);
      }
      ids << i << "\n";
    }
    std::istringstream in(npy.str()), id_in(ids.str());
    ASSERT_TRUE(c->CopyFrom("COPY w FROM STDIN WITH (format npy)", in, &id_in).ok());
  }
  RawConnection raw(ts.port());
  raw.Handshake();
  raw.Send(wire::EncodeQuery("COPY w TO STDOUT WITH (format csv)", {}));
  // ... and no read: the server closes the connection.
  ASSERT_TRUE(WaitForConnections(ts.server(), 0));
  auto c = ts.Connect();  // its statement runs, so the COPY gave its thread back
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(Count(*c, "w"), 50000);
}

TEST(CopyWire, FramesOutOfPlaceAreProtocolErrors) {
  TestServer ts;
  auto c = ConnectWithT(ts);
  ASSERT_NE(c, nullptr);
  const uint8_t protocol = wire::CodeOf(wire::ErrorCode::kProtocol);
  struct Case {
    const char* what;
    const char* sql;  // a COPY ... FROM STDIN started first, or none
    std::string bytes;
    const char* message;
  };
  const std::string ids = wire::EncodeCopyData(wire::FrameType::kCopyData, CopyPart::kIds, "1\n");
  const std::string data = wire::EncodeCopyData(wire::FrameType::kCopyData, CopyPart::kData, "x");
  const Case cases[] = {
      {"COPY_DATA without a COPY", nullptr, data, "unexpected COPY_DATA frame: no COPY ... FROM STDIN waits"},
      {"COPY_DONE without a COPY", nullptr, wire::EncodeEmpty(wire::FrameType::kCopyDone), "unexpected COPY_DONE"},
      {"ids for csv", "COPY t FROM STDIN WITH (format csv)", ids, "this COPY takes no ids part"},
      {"ids after the data", "COPY t FROM STDIN WITH (format npy)", data + ids, "after the data part began"},
      {"part 2", "COPY t FROM STDIN WITH (format csv)", RawFrame(0x07, "\x02"), "part 2 (0: the data, 1: the ids)"},
      {"a QUERY inside the COPY", "COPY t FROM STDIN WITH (format csv)", wire::EncodeQuery("SHOW COLLECTIONS", {}),
       "a QUERY arrived before COPY_DONE or COPY_FAIL"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    RawConnection raw(ts.port());
    if (k.sql) {
      ASSERT_NO_FATAL_FAILURE(StartCopyIn(raw, k.sql));
    } else {
      raw.Handshake();
    }
    raw.Send(k.bytes);
    const wire::ErrorFrame e = raw.ReadError();
    EXPECT_EQ(e.code, protocol) << e.message;
    EXPECT_TRUE(e.fatal);
    EXPECT_NE(e.message.find(k.message), std::string::npos) << e.message;
  }
  // COPY_FAIL gives the COPY up with the client's reason; the connection stays.
  RawConnection raw(ts.port());
  ASSERT_NO_FATAL_FAILURE(StartCopyIn(raw, "COPY t FROM STDIN WITH (format csv)"));
  raw.Send(wire::EncodeCopyFail("disk on fire"));
  const wire::ErrorFrame e = raw.ReadError();
  EXPECT_FALSE(e.fatal);
  EXPECT_NE(e.message.find("the client gave the COPY up: disk on fire"), std::string::npos) << e.message;
  raw.Send(wire::EncodeEmpty(wire::FrameType::kPing));
  uint8_t type = 0;
  std::string payload;
  ASSERT_TRUE(raw.ReadFrame(&type, &payload));
  EXPECT_EQ(type, static_cast<uint8_t>(wire::FrameType::kPong));
  EXPECT_EQ(Count(*c), 0);
}

// CANCEL (here from the progress callback) stops a COPY ... FROM STDIN between batches or while
// it waits for data; the batches committed stay and the connection goes on.
TEST(CopyWire, CancelStopsACopyFromStdin) {
  TestServer ts;
  ClientOptions o;
  o.progress = [](const CopyProgress& p) { return p.rows_done < 10; };
  auto c = ts.Connect(o);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Execute(kCreate).ok());
  std::istringstream in(Csv(50000));
  auto r = c->CopyFrom("COPY t FROM STDIN WITH (format csv, batch_size 10)", in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCancelled) << r.status().ToString();
  const int64_t n = Count(*c);
  EXPECT_GE(n, 10);
  EXPECT_LT(n, 50000);
  EXPECT_EQ(n % 10, 0);  // whole batches only
}

}  // namespace
}  // namespace mrldb::testing
