// LoadGate: holds a database's background loader (DatabaseOptions::load_hook) before one part
// of a collection, so that a test sees the database while that part is still in storage.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "mrldb/options.h"

namespace mrldb::testing {

// Holds the background loader before one part ("graph", "rows", "blocks") until Release.
class LoadGate {
 public:
  explicit LoadGate(std::string part) : part_(std::move(part)) {}
  ~LoadGate() { Release(); }
  // DatabaseOptions::load_hook's body: blocks in it at part_ until Release.
  void Hook(std::string_view part) {
    if (part != part_) return;
    std::unique_lock l(mu_);
    reached_ = true;
    cv_.notify_all();
    cv_.wait(l, [&] { return released_; });
  }
  void WaitReached() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return reached_; });
  }
  void Release() {
    std::lock_guard l(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  const std::string part_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool reached_ = false, released_ = false;
};

// `o` with its load_hook blocking at `gate`'s part.
inline DatabaseOptions HookedTo(LoadGate* gate, DatabaseOptions o) {
  o.load_hook = [gate](std::string_view, std::string_view part) { gate->Hook(part); };
  return o;
}

}  // namespace mrldb::testing
