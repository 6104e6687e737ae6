#include "engine/prefix_index.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>
#include <hnswlib/hnswlib.h>

#include "engine/distance.h"
#include "engine/prefix_codes.h"

namespace mrldb {

// An hnswlib space over mrldb's SIMD kernels: float32 prefixes, or their int8 codes
// (engine/prefix_codes.h), in which case the graph stores codes and every vector handed to it
// (Add, Search) is encoded first.
class PrefixIndex::Space final : public hnswlib::SpaceInterface<float> {
 public:
  Space(Metric metric, size_t dims, GraphCodes codes)
      : codes_(codes == GraphCodes::kInt8), dims_(dims) {
    if (codes_) {
      param_ = PrefixCodes::Padded(static_cast<uint32_t>(dims));
      bytes_ = PrefixCodes::Bytes(static_cast<uint32_t>(dims));
      const CodeKernels& k = CodeKernelsForCpu();
      fn_ = metric == Metric::kL2 ? k.l2_distance : k.ip_distance;
    } else {
      param_ = dims;
      bytes_ = dims * sizeof(float);
      const DistanceKernels& k = Kernels();
      fn_ = metric == Metric::kL2 ? k.l2_distance : k.ip_distance;
    }
  }
  size_t get_data_size() override { return bytes_; }
  hnswlib::DISTFUNC<float> get_dist_func() override { return fn_; }
  void* get_dist_func_param() override { return &param_; }

  // What the graph stores for `prefix`: the prefix itself, or its code in `buf`.
  const void* Prepare(const float* prefix, std::vector<uint8_t>* buf) const {
    if (!codes_) return prefix;
    buf->resize(bytes_);
    PrefixCodes::Encode(prefix, static_cast<uint32_t>(dims_), buf->data());
    return buf->data();
  }

 private:
  bool codes_;
  size_t dims_, param_, bytes_;
  hnswlib::DISTFUNC<float> fn_;
};

namespace {

constexpr char kMetaMagic[] = "mrldb-hnsw-1";

uint64_t Fnv1a(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  uint64_t h = 0xcbf29ce484222325ull;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const std::streamsize n = in.gcount();
    // 8 bytes at a time keeps this well above disk speed.
    std::streamsize i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, buf.data() + i, 8);
      h = (h ^ w) * 0x100000001b3ull;
    }
    for (; i < n; ++i) h = (h ^ static_cast<uint8_t>(buf[i])) * 0x100000001b3ull;
  }
  *ok = in.eof();
  return h;
}

Status SyncFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return Status::IOError(fmt::format("cannot open '{}' to sync", path));
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : Status::IOError(fmt::format("fsync of '{}' failed", path));
}

}  // namespace

PrefixIndex::PrefixIndex(Metric metric, uint32_t dims, const HnswParams& params)
    : metric_(metric),
      dims_(dims),
      params_(params),
      space_(std::make_unique<Space>(metric, dims, params.codes)) {}

PrefixIndex::~PrefixIndex() = default;

Status PrefixIndex::Reserve(size_t rows) {
  try {
    if (!graph_) {
      graph_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
          space_.get(), std::max<size_t>(rows, 1024), params_.m, params_.ef_construction,
          /*random_seed=*/100);
      graph_->setEf(1);  // searches pass their own candidate list size (Search)
    } else if (rows > graph_->getMaxElements()) {
      graph_->resizeIndex(std::max(rows, graph_->getMaxElements() * 2));
    }
  } catch (const std::exception& e) {
    return Status::IOError(fmt::format("HNSW index cannot grow to {} rows: {}", rows, e.what()));
  }
  return Status::Ok();
}

Status PrefixIndex::Add(uint64_t row, const float* prefix) {
  try {
    thread_local std::vector<uint8_t> code;
    graph_->addPoint(space_->Prepare(prefix, &code), row);
  } catch (const std::exception& e) {
    return Status::Internal(fmt::format("HNSW insert of row {} failed: {}", row, e.what()));
  }
  return Status::Ok();
}

void PrefixIndex::MarkDeleted(uint64_t row) {
  if (!graph_ || !Contains(row) || IsDeleted(row)) return;
  graph_->markDelete(row);
}

bool PrefixIndex::Contains(uint64_t row) const {
  if (!graph_) return false;
  std::lock_guard<std::mutex> l(graph_->label_lookup_lock);
  return graph_->label_lookup_.count(row) != 0;
}

bool PrefixIndex::IsDeleted(uint64_t row) const {
  if (!graph_) return false;
  std::unique_lock<std::mutex> l(graph_->label_lookup_lock);
  auto it = graph_->label_lookup_.find(row);
  if (it == graph_->label_lookup_.end()) return false;
  const auto internal = it->second;
  l.unlock();
  return graph_->isMarkedDeleted(internal);
}

std::vector<std::pair<float, uint64_t>> PrefixIndex::Search(
    const float* query, size_t count, size_t ef, hnswlib::BaseFilterFunctor* filter) const {
  std::vector<std::pair<float, uint64_t>> out;
  if (!graph_ || graph_->getCurrentElementCount() == 0 || count == 0) return out;
  // hnswlib searches with max(ef_, k) candidates; ef_ is 1, so asking for max(ef, count)
  // results is a search with exactly that candidate list, without touching shared state.
  thread_local std::vector<uint8_t> code;
  auto top = graph_->searchKnn(space_->Prepare(query, &code), std::max(ef, count), filter);
  out.resize(top.size());
  for (size_t i = top.size(); i-- > 0;) {
    out[i] = {top.top().first, static_cast<uint64_t>(top.top().second)};
    top.pop();
  }
  if (out.size() > count) out.resize(count);
  return out;
}

Status PrefixIndex::Save(const std::string& path, uint64_t covered_rows) const {
  if (!graph_) return Status::Ok();
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp", meta = path + ".meta", meta_tmp = meta + ".tmp";
  try {
    graph_->saveIndex(tmp);
  } catch (const std::exception& e) {
    return Status::IOError(fmt::format("saving HNSW index to '{}': {}", tmp, e.what()));
  }
  MRLDB_RETURN_IF_ERROR(SyncFile(tmp));
  bool ok = false;
  const uint64_t sum = Fnv1a(tmp, &ok);
  if (!ok) return Status::IOError(fmt::format("cannot read back '{}'", tmp));
  {
    std::ofstream m(meta_tmp, std::ios::trunc);
    m << kMetaMagic << ' ' << covered_rows << ' ' << dims_ << ' ' << int(metric_) << ' '
      << params_.m << ' ' << params_.ef_construction << ' ' << fs::file_size(tmp, ec) << ' '
      << sum << ' ' << GraphCodesName(params_.codes) << '\n';
    if (!m.flush()) return Status::IOError(fmt::format("cannot write '{}'", meta_tmp));
  }
  MRLDB_RETURN_IF_ERROR(SyncFile(meta_tmp));
  // Graph first, header second: a crash in between leaves a header whose checksum does not
  // match the new graph, and Load refuses the pair (the owner rebuilds).
  fs::rename(tmp, path, ec);
  if (!ec) fs::rename(meta_tmp, meta, ec);
  if (ec) return Status::IOError(fmt::format("cannot install '{}': {}", path, ec.message()));
  return SyncFile(fs::path(path).parent_path().string());
}

Status PrefixIndex::Load(const std::string& path, uint64_t* covered_rows) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec) || !fs::exists(path + ".meta", ec)) {
    return Status::NotFound(fmt::format("no saved HNSW index at '{}'", path));
  }
  std::ifstream m(path + ".meta");
  std::string magic;
  uint64_t rows = 0, size = 0, sum = 0;
  uint32_t dims = 0, m_param = 0, efc = 0;
  int metric = 0;
  std::string codes = "float32";  // headers written before graphs had codes
  m >> magic >> rows >> dims >> metric >> m_param >> efc >> size >> sum;
  if (!m || magic != kMetaMagic) {
    return Status::Corruption(fmt::format("'{}.meta' is not an mrldb HNSW header", path));
  }
  if (std::string word; m >> word) codes = word;
  if (dims != dims_ || metric != int(metric_) || m_param != params_.m ||
      efc != params_.ef_construction || codes != GraphCodesName(params_.codes)) {
    return Status::Corruption(fmt::format(
        "'{}' was built with dims {} metric {} m {} ef_construction {} codes {}, the collection "
        "has {} {} {} {} {}", path, dims, metric, m_param, efc, codes, dims_, int(metric_),
        params_.m, params_.ef_construction, GraphCodesName(params_.codes)));
  }
  bool ok = false;
  if (fs::file_size(path, ec) != size || Fnv1a(path, &ok) != sum || !ok) {
    return Status::Corruption(fmt::format("'{}' does not match its checksum", path));
  }
  try {
    auto g = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), path);
    g->setEf(1);
    graph_ = std::move(g);
  } catch (const std::exception& e) {
    return Status::Corruption(fmt::format("hnswlib cannot load '{}': {}", path, e.what()));
  }
  *covered_rows = rows;
  return Status::Ok();
}

size_t PrefixIndex::size() const { return graph_ ? graph_->getCurrentElementCount() : 0; }

size_t PrefixIndex::capacity() const { return graph_ ? graph_->getMaxElements() : 0; }

size_t PrefixIndex::deleted() const { return graph_ ? graph_->getDeletedCount() : 0; }

size_t PrefixIndex::MemoryBytes() const {
  if (!graph_) return 0;
  const auto& g = *graph_;
  size_t bytes = g.max_elements_ * (g.size_data_per_element_ + sizeof(void*) + sizeof(int));
  for (size_t i = 0; i < g.cur_element_count; ++i) {
    if (g.element_levels_[i] > 0) bytes += g.size_links_per_element_ * g.element_levels_[i];
  }
  // label map: node + bucket, roughly
  return bytes + g.label_lookup_.size() * (sizeof(void*) * 2 + 16) +
         g.label_lookup_.bucket_count() * sizeof(void*);
}

}  // namespace mrldb
