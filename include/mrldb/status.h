// Status and Result<T>: errors are values in mrldb. No exception crosses a module
// boundary; RocksDB, hnswlib, Boost.Asio and CUDA errors are converted where they occur.
#pragma once

#include <cassert>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace mrldb {

class [[nodiscard]] Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kInvalidArgument,  // the caller's input is wrong (bad dims, NaN, bad ladder, wrong type)
    kNotFound,         // unknown collection or id
    kAlreadyExists,    // duplicate id or collection name
    kCorruption,       // stored data does not decode
    kIOError,          // the file system or RocksDB failed
    kNotSupported,     // a valid request this build or format cannot serve
    kVersionMismatch,  // on-disk format version differs from this build's
    kInternal,         // a bug: an invariant did not hold
    kCancelled,        // the caller asked a running statement to stop (Session::Cancel)
    kReadOnly,         // storage cannot write now (disk full, I/O error): writes are refused,
                       // reads work; retry once the fault clears (docs/reliability.md)
  };

  Status() = default;  // OK
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status AlreadyExists(std::string msg) { return Status(Code::kAlreadyExists, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status NotSupported(std::string msg) { return Status(Code::kNotSupported, std::move(msg)); }
  static Status VersionMismatch(std::string msg) { return Status(Code::kVersionMismatch, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }
  static Status Cancelled(std::string msg) { return Status(Code::kCancelled, std::move(msg)); }
  static Status ReadOnly(std::string msg) { return Status(Code::kReadOnly, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsAlreadyExists() const { return code_ == Code::kAlreadyExists; }
  bool IsReadOnly() const { return code_ == Code::kReadOnly; }

  // "Invalid argument: <message>", or "OK".
  std::string ToString() const;
  static std::string_view CodeName(Code code);

  // Explicitly discards this status (greppable, like RocksDB's PermitUncheckedError).
  void IgnoreError() const {}

  // Where in a statement the error is (1-based line and column; 0 when unknown). Set by the
  // query layer so that front-ends can print the statement with a caret under the token.
  Status WithPosition(uint32_t line, uint32_t column) const {
    Status s = *this;
    s.line_ = line;
    s.column_ = column;
    return s;
  }
  uint32_t line() const { return line_; }
  uint32_t column() const { return column_; }

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
  uint32_t line_ = 0, column_ = 0;
};

// A value or an error. REQUIRES: ok() before value().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace mrldb

#define MRLDB_RETURN_IF_ERROR(expr)           \
  do {                                        \
    ::mrldb::Status _mrldb_s = (expr);        \
    if (!_mrldb_s.ok()) return _mrldb_s;      \
  } while (0)

#define MRLDB_CONCAT_INNER(a, b) a##b
#define MRLDB_CONCAT(a, b) MRLDB_CONCAT_INNER(a, b)
#define MRLDB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
// MRLDB_ASSIGN_OR_RETURN(auto x, F()): x = F().value(), or return F()'s error.
#define MRLDB_ASSIGN_OR_RETURN(lhs, expr) \
  MRLDB_ASSIGN_OR_RETURN_IMPL(MRLDB_CONCAT(_mrldb_r_, __LINE__), lhs, expr)
