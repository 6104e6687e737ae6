// Internal to mrldb::formats: buffered file input and output with Status errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mrldb/status.h"
#include "query/formats/formats.h"  // StreamRead, StreamWrite

namespace mrldb::formats {

// "<path>: <what>" as InvalidArgument: the shape of every data error.
Status DataError(const std::string& path, std::string_view what);

// A file, a stream (COPY ... FROM STDIN) or bytes in memory, read front to back through a 1 MiB
// buffer.
class InputFile {
 public:
  // Errors: IOError naming the file and the reason.
  static Result<std::unique_ptr<InputFile>> Open(const std::string& path);
  // A stream: it has no size and cannot Seek. `name` stands for the path in errors ("STDIN").
  static std::unique_ptr<InputFile> FromStream(std::string name, StreamRead read);
  // Bytes held in memory: sized and seekable, as a file.
  static std::unique_ptr<InputFile> FromMemory(std::string name, std::string data);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  // The size when opened; unset for a stream.
  std::optional<uint64_t> size() const { return size_; }
  // Bytes consumed so far.
  uint64_t offset() const { return file_pos_ - (end_ - pos_); }
  // The first read error (reads after it see the end of the file); OK if none.
  const Status& status() const { return status_; }

  // The next byte, or -1 at the end of the file (or after a read error).
  int Get() { return pos_ < end_ || Refill() ? static_cast<unsigned char>(buf_[pos_++]) : -1; }
  int Peek() { return pos_ < end_ || Refill() ? static_cast<unsigned char>(buf_[pos_]) : -1; }
  // Reads up to n bytes into dst; returns how many (fewer only at the end or on an error).
  size_t Read(void* dst, size_t n);
  // Reads the next line into *line, without its "\n" (nor a "\r" before it); false at the end of
  // the file. A last line without "\n" counts.
  bool ReadLine(std::string* line);
  // Skips `prefix` (at most a few bytes, e.g. a byte order mark) when the input continues with
  // it; returns whether it did.
  bool Skip(std::string_view prefix);
  // Continues reading at byte `offset`. A stream cannot (Internal).
  Status Seek(uint64_t offset);

 private:
  InputFile(std::string path, int fd, std::optional<uint64_t> size);
  bool Refill();
  // Up to n bytes from the file, stream or memory (fewer only at the end or on an error, or,
  // with `some`, once a stream has handed out any).
  size_t ReadSource(char* dst, size_t n, bool some);

  std::string path_;
  int fd_;                        // -1 for a stream or memory
  StreamRead stream_;             // a stream's source
  std::optional<std::string> memory_;
  std::optional<uint64_t> size_;
  uint64_t file_pos_ = 0;  // the fd's position
  std::unique_ptr<char[]> buf_;
  size_t pos_ = 0, end_ = 0;
  Status status_;
  Status pending_;  // an error that came after bytes still in the buffer
};

// A file written through a buffer into "<path>.partial", renamed to `path` by Commit(); or a
// stream (COPY ... TO STDOUT) the buffer is handed to as it fills.
class OutputFile {
 public:
  // Errors: AlreadyExists when `path` exists and !overwrite; IOError.
  static Result<std::unique_ptr<OutputFile>> Create(const std::string& path, bool overwrite);
  // A stream: Flush passes the buffer to `write`; WriteAt is refused (Internal); Close and Commit
  // only flush. `name` stands for the path in errors.
  static std::unique_ptr<OutputFile> ToStream(std::string name, StreamWrite write);
  // Removes the partial file unless committed.
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  const std::string& path() const { return path_; }
  // Bytes written so far (including the buffer).
  uint64_t size() const { return flushed_ + buffer_.size(); }
  // Text to append; call MaybeFlush() after appending.
  std::string& buffer() { return buffer_; }
  // Writes the buffer out once it holds 1 MiB or more.
  Status MaybeFlush() { return buffer_.size() >= (1u << 20) ? Flush() : Status::Ok(); }
  Status Flush();
  Status Append(const void* data, size_t n);
  // Overwrites bytes already written at `offset` (flushes first).
  Status WriteAt(uint64_t offset, const void* data, size_t n);
  // Flushes, syncs and closes the partial file (step 1 of committing; may fail).
  Status Close();
  // Moves the closed partial file to `path` (for !overwrite: fails with AlreadyExists if `path`
  // appeared meanwhile). REQUIRES: Close() succeeded.
  Status Commit();

 private:
  OutputFile(std::string path, std::string partial, int fd, bool overwrite);

  std::string path_, partial_;
  int fd_;  // -1 for a stream (or once closed)
  StreamWrite stream_;
  bool overwrite_;
  bool committed_ = false;
  uint64_t flushed_ = 0;
  std::string buffer_;
};

}  // namespace mrldb::formats
