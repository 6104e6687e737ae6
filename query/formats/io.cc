#include "query/formats/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace mrldb::formats {
namespace {

constexpr size_t kBufferSize = 1 << 20;

Status Errno(std::string_view what, const std::string& path) {
  return Status::IOError(fmt::format("{} '{}': {}", what, path, std::strerror(errno)));
}

}  // namespace

Status DataError(const std::string& path, std::string_view what) {
  return Status::InvalidArgument(fmt::format("{}: {}", path, what));
}

// ---- InputFile --------------------------------------------------------------------------------

namespace {

// What a file that is not a regular file is, for the error that refuses it.
std::string_view KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

// Opens `path` without blocking (a FIFO with no peer would block open() and then read() or
// write() for as long as nobody opens its other end: a statement no CANCEL or shutdown could
// stop), refuses anything but a regular file, then makes the descriptor blocking again.
Result<int> OpenRegular(const std::string& path, int flags, std::string_view verb,
                        struct stat* st) {
  const int fd = ::open(path.c_str(), flags | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0) {
    // O_WRONLY | O_NONBLOCK on a FIFO without a reader fails with ENXIO.
    if (errno == ENXIO) {
      return Status::IOError(fmt::format("cannot {} '{}': it is a FIFO (named pipe); COPY "
                                         "takes regular files only", verb, path));
    }
    return Errno(verb == "read" ? "cannot open" : "cannot create", path);
  }
  Status s;
  if (::fstat(fd, st) != 0) {
    s = Errno("cannot stat", path);
  } else if (!S_ISREG(st->st_mode)) {
    s = Status::IOError(fmt::format("cannot {} '{}': it is {}; COPY takes regular files only",
                                    verb, path, KindOf(st->st_mode)));
  } else if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
    s = Errno("cannot open", path);
  }
  if (!s.ok()) {
    ::close(fd);
    return s;
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<InputFile>> InputFile::Open(const std::string& path) {
  struct stat st {};
  MRLDB_ASSIGN_OR_RETURN(const int fd, OpenRegular(path, O_RDONLY, "read", &st));
  return std::unique_ptr<InputFile>(new InputFile(path, fd, static_cast<uint64_t>(st.st_size)));
}

std::unique_ptr<InputFile> InputFile::FromStream(std::string name, StreamRead read) {
  std::unique_ptr<InputFile> f(new InputFile(std::move(name), -1, std::nullopt));
  f->stream_ = std::move(read);
  return f;
}

std::unique_ptr<InputFile> InputFile::FromMemory(std::string name, std::string data) {
  std::unique_ptr<InputFile> f(new InputFile(std::move(name), -1, data.size()));
  f->memory_ = std::move(data);
  return f;
}

InputFile::InputFile(std::string path, int fd, std::optional<uint64_t> size)
    : path_(std::move(path)), fd_(fd), size_(size), buf_(new char[kBufferSize]) {}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

size_t InputFile::ReadSource(char* dst, size_t n, bool some) {
  if (memory_) {
    const uint64_t left = file_pos_ < memory_->size() ? memory_->size() - file_pos_ : 0;
    const size_t c = static_cast<size_t>(std::min<uint64_t>(n, left));
    std::memcpy(dst, memory_->data() + file_pos_, c);
    file_pos_ += c;
    return c;
  }
  // An error after some bytes is held back until they are consumed: the rows before it are good.
  if (!pending_.ok()) {
    status_ = std::move(pending_);
    pending_ = Status::Ok();
    return 0;
  }
  size_t done = 0;
  while (done < n && status_.ok()) {
    if (stream_) {
      auto r = stream_(dst + done, n - done);
      if (!r.ok()) {
        (done == 0 ? status_ : pending_) = r.status();
        break;
      }
      if (*r == 0) break;
      done += *r;
      file_pos_ += *r;
      if (some) break;  // a stream's rows are used as they come, not once a buffer is full
      continue;
    }
    const ssize_t r = ::read(fd_, dst + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      (done == 0 ? status_ : pending_) = Errno("cannot read", path_);
      break;
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
    file_pos_ += static_cast<uint64_t>(r);
  }
  return done;
}

bool InputFile::Refill() {
  pos_ = 0;
  end_ = ReadSource(buf_.get(), kBufferSize, /*some=*/true);
  return end_ > 0;
}

size_t InputFile::Read(void* dst, size_t n) {
  char* out = static_cast<char*>(dst);
  const size_t buffered = std::min(n, end_ - pos_);
  std::memcpy(out, buf_.get() + pos_, buffered);
  pos_ += buffered;
  if (buffered == n) return n;
  if (n - buffered >= kBufferSize / 2) return buffered + ReadSource(out + buffered, n - buffered, /*some=*/false);
  size_t done = buffered;
  while (done < n && Refill()) {
    const size_t c = std::min(n - done, end_);
    std::memcpy(out + done, buf_.get(), c);
    pos_ = c;
    done += c;
  }
  return done;
}

bool InputFile::ReadLine(std::string* line) {
  line->clear();
  bool any = false;
  while (pos_ < end_ || Refill()) {
    any = true;
    const char* begin = buf_.get() + pos_;
    const void* nl = std::memchr(begin, '\n', end_ - pos_);
    if (nl != nullptr) {
      const size_t len = static_cast<const char*>(nl) - begin;
      line->append(begin, len);
      pos_ += len + 1;
      if (!line->empty() && line->back() == '\r') line->pop_back();
      return true;
    }
    line->append(begin, end_ - pos_);
    pos_ = end_;
  }
  if (!line->empty() && line->back() == '\r') line->pop_back();
  return any;
}

bool InputFile::Skip(std::string_view prefix) {
  // A stream may hand out fewer bytes than the prefix at a time: read until there are enough.
  std::memmove(buf_.get(), buf_.get() + pos_, end_ - pos_);
  end_ -= pos_;
  pos_ = 0;
  while (end_ < prefix.size()) {
    const size_t got = ReadSource(buf_.get() + end_, prefix.size() - end_, /*some=*/true);
    if (got == 0) break;
    end_ += got;
  }
  if (std::string_view(buf_.get(), end_).substr(0, prefix.size()) != prefix) return false;
  pos_ = prefix.size();
  return true;
}

Status InputFile::Seek(uint64_t offset) {
  if (stream_) return Status::Internal(fmt::format("{}: a stream cannot seek", path_));
  if (fd_ >= 0 && ::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0) {
    return Errno("cannot seek in", path_);
  }
  file_pos_ = offset;
  pos_ = end_ = 0;
  return Status::Ok();
}

// ---- OutputFile -------------------------------------------------------------------------------

namespace {

// The writers serve COPY TO only, so the error names the COPY option that replaces the file.
Status ExistsError(const std::string& path) {
  return Status::AlreadyExists(
      fmt::format("'{}' exists; add WITH (overwrite true) to the COPY to replace it", path));
}

}  // namespace

Result<std::unique_ptr<OutputFile>> OutputFile::Create(const std::string& path, bool overwrite) {
  struct stat st {};
  if (!overwrite && ::stat(path.c_str(), &st) == 0) {
    return ExistsError(path);
  }
  std::string partial = path + ".partial";
  MRLDB_ASSIGN_OR_RETURN(const int fd, OpenRegular(partial, O_WRONLY | O_CREAT | O_TRUNC, "write", &st));
  return std::unique_ptr<OutputFile>(new OutputFile(path, std::move(partial), fd, overwrite));
}

std::unique_ptr<OutputFile> OutputFile::ToStream(std::string name, StreamWrite write) {
  std::unique_ptr<OutputFile> f(new OutputFile(std::move(name), "", -1, false));
  f->stream_ = std::move(write);
  return f;
}

OutputFile::OutputFile(std::string path, std::string partial, int fd, bool overwrite)
    : path_(std::move(path)), partial_(std::move(partial)), fd_(fd), overwrite_(overwrite) {
  buffer_.reserve(kBufferSize + (kBufferSize >> 2));
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !partial_.empty()) ::unlink(partial_.c_str());
}

Status OutputFile::Append(const void* data, size_t n) {
  buffer_.append(static_cast<const char*>(data), n);
  return MaybeFlush();
}

Status OutputFile::Flush() {
  if (stream_) {
    if (!buffer_.empty()) MRLDB_RETURN_IF_ERROR(stream_(buffer_));
    flushed_ += buffer_.size();
    buffer_.clear();
    return Status::Ok();
  }
  size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t w = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Errno("cannot write", partial_);
    done += static_cast<size_t>(w);
  }
  flushed_ += buffer_.size();
  buffer_.clear();
  return Status::Ok();
}

Status OutputFile::WriteAt(uint64_t offset, const void* data, size_t n) {
  if (stream_) return Status::Internal(fmt::format("{}: a stream cannot be rewritten", path_));
  MRLDB_RETURN_IF_ERROR(Flush());
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::pwrite(fd_, static_cast<const char*>(data) + done, n - done,
                               static_cast<off_t>(offset + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Errno("cannot write", partial_);
    done += static_cast<size_t>(w);
  }
  return Status::Ok();
}

Status OutputFile::Close() {
  MRLDB_RETURN_IF_ERROR(Flush());
  if (stream_) return Status::Ok();
  if (::fdatasync(fd_) != 0) return Errno("cannot sync", partial_);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return Errno("cannot close", partial_);
  return Status::Ok();
}

Status OutputFile::Commit() {
  if (stream_) {
    committed_ = true;
    return Status::Ok();
  }
  if (overwrite_) {
    if (::rename(partial_.c_str(), path_.c_str()) != 0) return Errno("cannot rename to", path_);
  } else {
    // link() fails if `path` exists, so a file created since Create() is never replaced.
    if (::link(partial_.c_str(), path_.c_str()) != 0) {
      if (errno == EEXIST) return ExistsError(path_);
      return Errno("cannot create", path_);
    }
    ::unlink(partial_.c_str());
  }
  committed_ = true;
  return Status::Ok();
}

}  // namespace mrldb::formats
