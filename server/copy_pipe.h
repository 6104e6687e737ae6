// The CopyChannel of one connection (COPY ... FROM STDIN / TO STDOUT over the wire,
// docs/protocol.md "COPY over the wire"): the statement thread reads the client's COPY_DATA
// frames from it and writes its own through it, blocking while there is nothing to read or the
// client is behind; the connection's strand pushes frames in, reports frames written, and fails
// the pipe when the statement is cancelled or the connection closes.
//
// Memory is bounded both ways: the strand stops reading frames once kInBytes of the client's
// bytes wait (and is resumed when the statement has taken them below that), and Write waits
// while kOutBytes of COPY_DATA frames are queued and not yet written to the socket.
//
// Thread safety: every method may be called from any thread; the hooks are called without the
// lock held.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include "mrldb/session.h"

namespace mrldb::server_internal {

class CopyPipe final : public CopyChannel {
 public:
  static constexpr size_t kInBytes = size_t{4} << 20;
  static constexpr size_t kOutBytes = size_t{8} << 20;

  struct Hooks {
    // Queues a frame for the client (thread-safe: posts to the strand). `begin_in`: the frame is
    // COPY_IN, after which the client owes COPY_DONE or COPY_FAIL; `ids`: it sends an ids part.
    std::function<void(std::string frame, bool begin_in, bool ids)> send;
    // The client's bytes fell below kInBytes after Push returned false: read frames again.
    std::function<void()> resume;
  };
  explicit CopyPipe(Hooks hooks) : hooks_(std::move(hooks)) {}

  // CopyChannel, on the statement thread.
  Status BeginIn(std::string_view format, bool ids) override;
  Result<size_t> Read(CopyPart part, char* dst, size_t n) override;
  Status BeginOut(std::string_view format, bool ids) override;
  Status Write(CopyPart part, std::string_view bytes) override;

  // A statement starts: forgets what the previous one left.
  void Reset();
  // COPY_DATA from the client, for a statement that reads (BeginIn came). False when the pipe
  // is full: read no more frames until `resume`.
  bool Push(CopyPart part, std::string_view bytes);
  // COPY_DONE: the data ends.
  void Finish();
  // COPY_FAIL, a CANCEL, the connection closing: Read and Write return `why` from now on.
  void Fail(Status why);
  // A COPY_DATA frame of `frame_bytes` left the queue (written, or dropped with the connection).
  void Sent(size_t frame_bytes);
  // Whether the statement waits for the client: to send data it has not sent (the pipe empty),
  // or to read what was queued (the window full). The idle timeout applies then.
  bool WaitingForClient();

 private:
  struct Chunk {
    CopyPart part;
    std::string bytes;
  };

  Hooks hooks_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> in_;     // GUARDED_BY(mu_)
  size_t in_offset_ = 0;     // GUARDED_BY(mu_): bytes of in_.front() already read
  size_t in_bytes_ = 0;      // GUARDED_BY(mu_)
  bool reading_ = false;     // GUARDED_BY(mu_): BeginIn came; Push keeps the bytes
  bool done_ = false;        // GUARDED_BY(mu_): COPY_DONE
  bool paused_ = false;      // GUARDED_BY(mu_): Push returned false, resume not yet called
  bool waiting_ = false;     // GUARDED_BY(mu_): Read or Write is blocked on the client
  size_t out_bytes_ = 0;     // GUARDED_BY(mu_): COPY_DATA frame bytes queued, not yet sent
  Status failed_;            // GUARDED_BY(mu_)
};

}  // namespace mrldb::server_internal
