#include "server/copy_pipe.h"

#include <algorithm>
#include <cstring>

#include "client/wire.h"

namespace mrldb::server_internal {

Status CopyPipe::BeginIn(std::string_view format, bool ids) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.ok()) return failed_;
    reading_ = true;
  }
  hooks_.send(wire::EncodeCopyBegin(wire::FrameType::kCopyIn, {std::string(format), ids}),
              /*begin_in=*/true, ids);
  return Status::Ok();
}

Result<size_t> CopyPipe::Read(CopyPart part, char* dst, size_t n) {
  bool resume = false;
  size_t c = 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    waiting_ = true;
    cv_.wait(lock, [&] { return !in_.empty() || done_ || !failed_.ok(); });
    waiting_ = false;
    if (!failed_.ok()) return failed_;
    // The ids part ends where the data part begins (the strand checks that the client sends
    // them in that order), and both end with COPY_DONE.
    if (in_.empty() || in_.front().part != part) return size_t{0};
    Chunk& front = in_.front();
    c = std::min(n, front.bytes.size() - in_offset_);
    std::memcpy(dst, front.bytes.data() + in_offset_, c);
    in_offset_ += c;
    in_bytes_ -= c;
    if (in_offset_ == front.bytes.size()) {
      in_.pop_front();
      in_offset_ = 0;
    }
    if (paused_ && in_bytes_ < kInBytes) {
      paused_ = false;
      resume = true;
    }
  }
  if (resume) hooks_.resume();
  return c;
}

Status CopyPipe::BeginOut(std::string_view format, bool ids) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.ok()) return failed_;
  }
  hooks_.send(wire::EncodeCopyBegin(wire::FrameType::kCopyOut, {std::string(format), ids}),
              /*begin_in=*/false, ids);
  return Status::Ok();
}

Status CopyPipe::Write(CopyPart part, std::string_view bytes) {
  std::string frame = wire::EncodeCopyData(wire::FrameType::kCopyDataOut, part, bytes);
  {
    std::unique_lock<std::mutex> lock(mu_);
    waiting_ = true;
    cv_.wait(lock, [&] { return out_bytes_ < kOutBytes || !failed_.ok(); });
    waiting_ = false;
    if (!failed_.ok()) return failed_;
    out_bytes_ += frame.size();
  }
  hooks_.send(std::move(frame), /*begin_in=*/false, false);
  return Status::Ok();
}

void CopyPipe::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  in_.clear();
  in_offset_ = in_bytes_ = 0;
  reading_ = done_ = paused_ = waiting_ = false;
  failed_ = Status::Ok();
  // out_bytes_ stays: frames of an earlier COPY TO may still wait to be written.
}

bool CopyPipe::Push(CopyPart part, std::string_view bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!reading_ || done_ || !failed_.ok()) return true;  // the statement ended: discarded
  if (bytes.empty()) return true;
  in_.push_back({part, std::string(bytes)});
  in_bytes_ += bytes.size();
  cv_.notify_all();
  if (in_bytes_ < kInBytes) return true;
  paused_ = true;
  return false;
}

void CopyPipe::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  done_ = true;
  cv_.notify_all();
}

void CopyPipe::Fail(Status why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_.ok()) failed_ = std::move(why);
  cv_.notify_all();
}

void CopyPipe::Sent(size_t frame_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  out_bytes_ -= std::min(out_bytes_, frame_bytes);
  cv_.notify_all();
}

bool CopyPipe::WaitingForClient() {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_;
}

}  // namespace mrldb::server_internal
