#include "engine/graph_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace mrldb {
namespace {

// Sequential reads of a file through a 1 MiB buffer; a read at least that large goes straight
// into its destination.
class SequentialReader {
 public:
  explicit SequentialReader(const std::string& path)
      : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), buf_(kBuffer) {
    struct stat st;
    if (fd_ >= 0 && ::fstat(fd_, &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
  }
  ~SequentialReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool open() const { return fd_ >= 0; }
  uint64_t size() const { return size_; }
  uint64_t position() const { return pos_ - (end_ - at_); }
  uint64_t left() const { return size_ - position(); }

  // Reads n bytes, or returns false (a read error or the end of the file).
  bool Read(void* dst, size_t n) {
    char* out = static_cast<char*>(dst);
    while (n > 0) {
      if (at_ == end_) {
        if (n >= kBuffer) return Fill(out, n);
        const ssize_t got = Pread(buf_.data(), kBuffer);
        if (got <= 0) return false;
        at_ = 0;
        end_ = static_cast<size_t>(got);
      }
      const size_t take = std::min(n, end_ - at_);
      std::memcpy(out, buf_.data() + at_, take);
      at_ += take;
      out += take;
      n -= take;
    }
    return true;
  }
  template <typename T> bool Pod(T* v) { return Read(v, sizeof *v); }

 private:
  static constexpr size_t kBuffer = 1u << 20;
  ssize_t Pread(char* dst, size_t n) {
    ssize_t got;
    do {
      got = ::pread(fd_, dst, n, static_cast<off_t>(pos_));
    } while (got < 0 && errno == EINTR);
    if (got > 0) pos_ += static_cast<uint64_t>(got);
    return got;
  }
  bool Fill(char* out, size_t n) {
    while (n > 0) {
      const ssize_t got = Pread(out, n);
      if (got <= 0) return false;
      out += got;
      n -= static_cast<size_t>(got);
    }
    return true;
  }

  int fd_;
  std::vector<char> buf_;
  size_t at_ = 0, end_ = 0;  // the unread part of buf_
  uint64_t pos_ = 0;         // file offset after buf_'s end
  uint64_t size_ = 0;
};

}  // namespace

Result<std::unique_ptr<hnswlib::HierarchicalNSW<float>>> ReadGraphFile(
    const std::string& file, hnswlib::SpaceInterface<float>* space) {
  using Graph = hnswlib::HierarchicalNSW<float>;
  SequentialReader in(file);
  if (!in.open()) return Status::IOError(fmt::format("cannot open '{}'", file));
  auto corrupt = [&](std::string_view what) {
    return Status::Corruption(fmt::format("'{}' is not a graph file: {} (at byte {} of {})", file,
                                          what, in.position(), in.size()));
  };
  auto g = std::make_unique<Graph>(space);
  size_t count = 0;
  bool ok = in.Pod(&g->offsetLevel0_) && in.Pod(&g->max_elements_) && in.Pod(&count) &&
            in.Pod(&g->size_data_per_element_) && in.Pod(&g->label_offset_) &&
            in.Pod(&g->offsetData_) && in.Pod(&g->maxlevel_) && in.Pod(&g->enterpoint_node_) &&
            in.Pod(&g->maxM_) && in.Pod(&g->maxM0_) && in.Pod(&g->M_) && in.Pod(&g->mult_) &&
            in.Pod(&g->ef_construction_);
  if (!ok) return corrupt("the header is cut short");
  g->data_size_ = space->get_data_size();
  g->fstdistfunc_ = space->get_dist_func();
  g->dist_func_param_ = space->get_dist_func_param();
  const size_t per = g->size_data_per_element_;
  if (count > g->max_elements_ || per == 0 || g->label_offset_ + sizeof(hnswlib::labeltype) > per ||
      g->offsetData_ + g->data_size_ > per || g->maxM0_ == 0 || g->maxM_ == 0 ||
      !(g->mult_ > 0) || (count > 0 && g->enterpoint_node_ >= count)) {
    return corrupt("the header's sizes do not fit together");
  }
  if (count > in.left() / per) return corrupt("fewer nodes than the header says");
  if (g->max_elements_ > SIZE_MAX / per) return corrupt("the capacity overflows");
  const size_t capacity = std::max<size_t>(g->max_elements_, 1);
  g->data_level0_memory_ = static_cast<char*>(std::malloc(capacity * per));
  g->linkLists_ = static_cast<char**>(std::calloc(capacity, sizeof(void*)));
  if (!g->data_level0_memory_ || !g->linkLists_) {
    return Status::Internal(fmt::format("no memory to load '{}'", file));
  }
  g->element_levels_.assign(capacity, 0);
  if (!in.Read(g->data_level0_memory_, count * per)) return corrupt("the nodes are cut short");
  g->size_links_per_element_ = g->maxM_ * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
  g->size_links_level0_ = g->maxM0_ * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
  std::vector<std::mutex>(capacity).swap(g->link_list_locks_);
  std::vector<std::mutex>(Graph::MAX_LABEL_OPERATION_LOCKS).swap(g->label_op_locks_);
  g->visited_list_pool_ = std::make_unique<hnswlib::VisitedListPool>(1, capacity);
  g->revSize_ = 1.0 / g->mult_;
  g->ef_ = 10;
  g->label_lookup_.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    // Counted as loaded before its links are read: clear() then frees what was allocated.
    g->cur_element_count = i + 1;
    g->label_lookup_[g->getExternalLabel(static_cast<hnswlib::tableint>(i))] =
        static_cast<hnswlib::tableint>(i);
    unsigned int bytes = 0;
    if (!in.Pod(&bytes)) return corrupt("the upper layers are cut short");
    if (bytes == 0) continue;
    if (bytes % g->size_links_per_element_ != 0 || bytes > in.left()) {
      return corrupt(fmt::format("node {} has {} bytes of upper-layer links", i, bytes));
    }
    g->element_levels_[i] = static_cast<int>(bytes / g->size_links_per_element_);
    g->linkLists_[i] = static_cast<char*>(std::malloc(bytes));
    if (!g->linkLists_[i]) return Status::Internal(fmt::format("no memory to load '{}'", file));
    if (!in.Read(g->linkLists_[i], bytes)) return corrupt("the upper layers are cut short");
  }
  if (in.left() != 0) return corrupt("bytes after the last node");
  for (size_t i = 0; i < count; ++i) {
    if (g->isMarkedDeleted(static_cast<hnswlib::tableint>(i))) g->num_deleted_ += 1;
  }
  return g;
}

}  // namespace mrldb
