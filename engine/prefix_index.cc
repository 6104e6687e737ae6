#include "engine/prefix_index.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>
#include <hnswlib/hnswlib.h>

#include "engine/distance.h"
#include "engine/graph_file.h"
#include "engine/graph_search.h"
#include "engine/prefix_codes.h"

namespace mrldb {

// An hnswlib space over mrldb's SIMD kernels: float32 prefixes, or their int8 codes
// (engine/prefix_codes.h), in which case the graph stores codes and every vector handed to it
// (Add, Search) is encoded first with the graph's trained scale.
class PrefixIndex::Space final : public hnswlib::SpaceInterface<float> {
 public:
  Space(Metric metric, size_t dims, GraphCodes codes)
      : codes_(codes == GraphCodes::kInt8), dims_(dims) {
    if (codes_) {
      code_param_ = {PrefixCodes::Bytes(static_cast<uint32_t>(dims)), 1.0f};
      bytes_ = code_param_.bytes;
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
  void* get_dist_func_param() override { return codes_ ? static_cast<void*>(&code_param_) : &param_; }

  bool codes() const { return codes_; }
  float scale() const { return scale_; }
  // REQUIRES: no graph distance is being computed (before the first add, or at load).
  void SetScale(float s) {
    scale_ = s;
    code_param_.scale_sq = s * s;
  }

  // What the graph stores for `prefix`: the prefix itself, or its code in `buf`. `clipped`
  // (may be null) tells whether a value was beyond the trained range.
  const void* Prepare(const float* prefix, std::vector<uint8_t>* buf, bool* clipped = nullptr) const {
    if (!codes_) return prefix;
    buf->resize(bytes_);
    const bool c = PrefixCodes::Encode(prefix, static_cast<uint32_t>(dims_), scale_, buf->data());
    if (clipped) *clipped = c;
    return buf->data();
  }

 private:
  bool codes_;
  size_t dims_, param_ = 0, bytes_;
  CodeParam code_param_{};
  float scale_ = 1.0f;
  hnswlib::DISTFUNC<float> fn_;
};

namespace {

constexpr char kMetaMagicV1[] = "mrldb-hnsw-1";  // graph at <path>, no generation
constexpr char kMetaMagic[] = "mrldb-hnsw-2";
constexpr size_t kChunk = 1 << 20;

// FNV-1a over 8-byte words of a chunk (bytes for its tail). A file's checksum hashes it in
// chunks of kChunk bytes (only the last may be shorter), when written and when read back.
uint64_t HashChunk(uint64_t h, const char* data, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
  }
  for (; i < n; ++i) h = (h ^ static_cast<uint8_t>(data[i])) * 0x100000001b3ull;
  return h;
}
constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ull;

uint64_t Fnv1a(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  uint64_t h = kFnvBasis;
  std::vector<char> buf(kChunk);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h = HashChunk(h, buf.data(), static_cast<size_t>(in.gcount()));
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

// A file written in kChunk pieces, hashing what it writes; every error is reported.
class HashingWriter {
 public:
  explicit HashingWriter(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    buf_.reserve(kChunk);
  }
  ~HashingWriter() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status status() const {
    return fd_ < 0 || failed_ ? Status::IOError(fmt::format("cannot write '{}'", path_))
                              : Status::Ok();
  }
  template <typename T> void Pod(const T& v) { Append(reinterpret_cast<const char*>(&v), sizeof v); }
  void Append(const char* p, size_t n) {
    while (n > 0) {
      const size_t take = std::min(n, kChunk - buf_.size());
      buf_.insert(buf_.end(), p, p + take);
      p += take;
      n -= take;
      if (buf_.size() == kChunk) Flush();
    }
  }
  // Writes what is buffered and fsyncs. Returns the file's size and checksum.
  Status Finish(uint64_t* size, uint64_t* sum) {
    Flush();
    if (fd_ >= 0 && ::fsync(fd_) != 0) failed_ = true;
    *size = size_;
    *sum = hash_;
    return status();
  }

 private:
  void Flush() {
    hash_ = HashChunk(hash_, buf_.data(), buf_.size());
    size_ += buf_.size();
    const char* p = buf_.data();
    size_t left = buf_.size();
    while (fd_ >= 0 && !failed_ && left > 0) {
      const ssize_t w = ::write(fd_, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        failed_ = true;
        break;
      }
      p += w;
      left -= static_cast<size_t>(w);
    }
    buf_.clear();
  }

  std::string path_;
  int fd_ = -1;
  bool failed_ = false;
  std::vector<char> buf_;
  uint64_t size_ = 0, hash_ = kFnvBasis;
};

struct Meta {
  bool v1 = false;
  uint64_t rows = 0, size = 0, sum = 0, generation = 0;
  uint32_t dims = 0, m = 0, efc = 0;
  int metric = 0;
  std::string codes = "float32";  // headers written before graphs had codes
  float scale = 0;                // int8 codes: their trained scale
  uint64_t trained_rows = 0;      // and the rows they were trained on
};

// Reads `<path>.meta`. Errors: NotFound, Corruption.
Status ReadMeta(const std::string& path, Meta* out) {
  std::error_code ec;
  if (!std::filesystem::exists(path + ".meta", ec)) {
    return Status::NotFound(fmt::format("no saved HNSW index at '{}'", path));
  }
  std::ifstream m(path + ".meta");
  std::string magic;
  m >> magic >> out->rows >> out->dims >> out->metric >> out->m >> out->efc >> out->size >>
      out->sum;
  out->v1 = magic == kMetaMagicV1;
  if (!out->v1) m >> out->generation;
  if (!m || (!out->v1 && magic != kMetaMagic)) {
    return Status::Corruption(fmt::format("'{}.meta' is not an mrldb HNSW header", path));
  }
  if (std::string word; m >> word) out->codes = word;
  if (std::string scale; m >> scale >> out->trained_rows) out->scale = std::strtof(scale.c_str(), nullptr);
  return Status::Ok();
}

std::string GenerationFile(const std::string& path, uint64_t generation) {
  return fmt::format("{}.{}", path, generation);
}

// Every file of the checkpoint at `path` but `keep` (a file name; empty: none).
std::vector<std::filesystem::path> CheckpointFiles(const std::string& path,
                                                   const std::string& keep) {
  namespace fs = std::filesystem;
  std::vector<fs::path> out;
  const fs::path p(path);
  const std::string base = p.filename().string(), dotted = base + ".";
  std::error_code ec;
  for (fs::directory_iterator it(p.parent_path(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name == keep) continue;
    if (name == base || name.compare(0, dotted.size(), dotted) == 0) out.push_back(it->path());
  }
  return out;
}

}  // namespace

PrefixIndex::PrefixIndex(Metric metric, uint32_t dims, const HnswParams& params)
    : metric_(metric),
      dims_(dims),
      params_(params),
      space_(std::make_unique<Space>(metric, dims, params.codes)),
      code_bytes_(PrefixCodes::Bytes(dims)),
      trained_(params.codes != GraphCodes::kInt8) {}

bool PrefixIndex::NeedsTraining() const { return !trained_; }

float PrefixIndex::code_scale() const { return space_->codes() ? space_->scale() : 0.0f; }

// The header's word for the codes: "int8s" for int8 codes with one trained scale (graphs of the
// earlier per-vector int8 format, "int8", are rebuilt from storage).
std::string PrefixIndex::CodesWord() const {
  return space_->codes() ? "int8s" : std::string(GraphCodesName(params_.codes));
}

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
    if (space_->codes()) GrowCodes(graph_->getMaxElements());
  } catch (const std::exception& e) {
    return Status::IOError(fmt::format("HNSW index cannot grow to {} rows: {}", rows, e.what()));
  }
  return Status::Ok();
}

void PrefixIndex::GrowCodes(size_t rows) {
  if (rows <= codes_capacity_) return;
  // 64-byte aligned, so that a code of up to 64 bytes is one cache line.
  const size_t bytes = (rows * code_bytes_ + 63) / 64 * 64;
  std::unique_ptr<uint8_t[], FreeDeleter> grown(static_cast<uint8_t*>(std::aligned_alloc(64, bytes)));
  if (!grown) throw std::bad_alloc();
  if (codes_) std::memcpy(grown.get(), codes_.get(), codes_capacity_ * code_bytes_);
  codes_ = std::move(grown);
  codes_capacity_ = rows;
}

void PrefixIndex::Train(const float* prefixes, size_t n, uint64_t population) {
  float max_abs = 0;
  for (size_t i = 0; i < n * dims_; ++i) max_abs = std::max(max_abs, std::fabs(prefixes[i]));
  space_->SetScale(PrefixCodes::ScaleFor(max_abs));
  trained_rows_ = population;
  trained_ = true;
}

Status PrefixIndex::Add(uint64_t row, const float* prefix) {
  if (!trained_) {
    return Status::Internal(fmt::format("HNSW insert of row {}: int8 codes not trained", row));
  }
  try {
    thread_local std::vector<uint8_t> code;
    bool clipped = false;
    const void* data = space_->Prepare(prefix, &code, &clipped);
    // What the public addPoint does without replacing deleted nodes, keeping the node's id.
    hnswlib::tableint id;
    {
      std::unique_lock<std::mutex> label(graph_->getLabelOpMutex(row));
      id = graph_->addPoint(data, row, /*level=*/-1);
    }
    upper_levels_.fetch_add(graph_->element_levels_[id], std::memory_order_relaxed);
    if (space_->codes()) {
      std::memcpy(codes_.get() + size_t{id} * code_bytes_, data, code_bytes_);
      if (clipped) clipped_rows_.fetch_add(1, std::memory_order_relaxed);
    }
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

void PrefixIndex::Search(const float* query, size_t count, size_t ef,
                         const std::vector<uint8_t>* allowed,
                         std::vector<std::pair<float, uint64_t>>* out) const {
  out->clear();
  if (!graph_) return;
  thread_local std::vector<uint8_t> code;
  const GraphVectors own{codes_.get(), code_bytes_};
  SearchGraph(*graph_, space_->Prepare(query, &code), count, ef, allowed, out,
              space_->codes() ? &own : nullptr);
}

Status PrefixIndex::Save(const std::string& path, uint64_t covered_rows) {
  if (!graph_) return Status::Ok();
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path dir = fs::path(path).parent_path();
  fs::create_directories(dir, ec);
  auto stop = [&](int step) {
    return save_hook_ && !save_hook_(step)
               ? Status::IOError(fmt::format("HNSW save of '{}' stopped at step {}", path, step))
               : Status::Ok();
  };
  // A new generation: never the file the current header names, whatever this object saw.
  Meta current;
  if (ReadMeta(path, &current).ok()) generation_ = std::max(generation_, current.generation);
  const uint64_t generation = generation_ + 1;
  const std::string file = GenerationFile(path, generation);
  const std::string meta = path + ".meta", meta_tmp = meta + ".tmp";
  // A save that fails before its commit leaves nothing behind (on a full disk a partial
  // generation file would hold space the database needs to recover).
  struct Cleanup {
    const std::string &file, &meta_tmp;
    bool committed = false;
    ~Cleanup() {
      if (committed) return;
      std::error_code e;
      std::filesystem::remove(file, e);
      std::filesystem::remove(meta_tmp, e);
    }
  } cleanup{file, meta_tmp};
  uint64_t size = 0, sum = 0;
  {
    // hnswlib 0.8.0's saveIndex format, written here so that write errors are seen and the
    // checksum is computed on the way. Reads only: searches may run meanwhile.
    const auto& g = *graph_;
    const size_t count = g.cur_element_count;
    HashingWriter w(file);
    w.Pod(g.offsetLevel0_);
    w.Pod(g.max_elements_);
    w.Pod(count);
    w.Pod(g.size_data_per_element_);
    w.Pod(g.label_offset_);
    w.Pod(g.offsetData_);
    w.Pod(g.maxlevel_);
    w.Pod(g.enterpoint_node_);
    w.Pod(g.maxM_);
    w.Pod(g.maxM0_);
    w.Pod(g.M_);
    w.Pod(g.mult_);
    w.Pod(g.ef_construction_);
    w.Append(g.data_level0_memory_, count * g.size_data_per_element_);
    for (size_t i = 0; i < count; ++i) {
      const unsigned int bytes =
          g.element_levels_[i] > 0 ? unsigned(g.size_links_per_element_ * g.element_levels_[i]) : 0;
      w.Pod(bytes);
      if (bytes) w.Append(g.linkLists_[i], bytes);
    }
    MRLDB_RETURN_IF_ERROR(stop(1));
    MRLDB_RETURN_IF_ERROR(w.Finish(&size, &sum));
  }
  MRLDB_RETURN_IF_ERROR(SyncFile(dir.string()));
  MRLDB_RETURN_IF_ERROR(stop(2));
  {
    std::ofstream m(meta_tmp, std::ios::trunc);
    m << kMetaMagic << ' ' << covered_rows << ' ' << dims_ << ' ' << int(metric_) << ' '
      << params_.m << ' ' << params_.ef_construction << ' ' << size << ' ' << sum << ' '
      << generation << ' ' << CodesWord();
    if (space_->codes()) m << ' ' << fmt::format("{:a}", space_->scale()) << ' ' << trained_rows_;
    m << '\n';
    if (!m.flush()) return Status::IOError(fmt::format("cannot write '{}'", meta_tmp));
  }
  MRLDB_RETURN_IF_ERROR(SyncFile(meta_tmp));
  MRLDB_RETURN_IF_ERROR(stop(3));
  // The commit: until this rename the old header names the old, complete graph file.
  fs::rename(meta_tmp, meta, ec);
  if (ec) return Status::IOError(fmt::format("cannot install '{}': {}", meta, ec.message()));
  cleanup.committed = true;
  generation_ = generation;
  MRLDB_RETURN_IF_ERROR(stop(4));
  MRLDB_RETURN_IF_ERROR(SyncFile(dir.string()));
  MRLDB_RETURN_IF_ERROR(stop(5));
  for (const fs::path& old : CheckpointFiles(path, fs::path(meta).filename().string())) {
    if (old.filename() != fs::path(file).filename()) fs::remove(old, ec);
  }
  return Status::Ok();
}

Status PrefixIndex::CopyFiles(const std::string& path, const std::string& to, uint64_t* bytes) {
  namespace fs = std::filesystem;
  Meta meta;
  if (Status st = ReadMeta(path, &meta); !st.ok()) return st.IsNotFound() ? Status::Ok() : st;
  const std::string file = meta.v1 ? path : GenerationFile(path, meta.generation);
  const std::string to_file = meta.v1 ? to : GenerationFile(to, meta.generation);
  std::error_code ec;
  fs::create_directories(fs::path(to).parent_path(), ec);
  for (const auto& [from, into] : {std::pair{file, to_file}, std::pair{path + ".meta", to + ".meta"}}) {
    fs::copy_file(from, into, fs::copy_options::overwrite_existing, ec);
    if (ec) return Status::IOError(fmt::format("cannot copy '{}' to '{}': {}", from, into, ec.message()));
    MRLDB_RETURN_IF_ERROR(SyncFile(into));
    *bytes += fs::file_size(into, ec);
  }
  return SyncFile(fs::path(to).parent_path().string());
}

Status PrefixIndex::Load(const std::string& path, uint64_t* covered_rows) {
  namespace fs = std::filesystem;
  std::error_code ec;
  Meta meta;
  MRLDB_RETURN_IF_ERROR(ReadMeta(path, &meta));
  if (meta.dims != dims_ || meta.metric != int(metric_) || meta.m != params_.m ||
      meta.efc != params_.ef_construction || meta.codes != CodesWord() ||
      (space_->codes() && !(meta.scale > 0))) {
    return Status::Corruption(fmt::format(
        "'{}' was built with dims {} metric {} m {} ef_construction {} codes {}, the collection "
        "has {} {} {} {} {}", path, meta.dims, meta.metric, meta.m, meta.efc, meta.codes, dims_,
        int(metric_), params_.m, params_.ef_construction, CodesWord()));
  }
  const std::string file = meta.v1 ? path : GenerationFile(path, meta.generation);
  if (!fs::exists(file, ec)) {
    return Status::Corruption(fmt::format("'{}.meta' names '{}', which is missing", path, file));
  }
  bool ok = false;
  if (fs::file_size(file, ec) != meta.size || Fnv1a(file, &ok) != meta.sum || !ok) {
    return Status::Corruption(fmt::format("'{}' does not match its checksum", file));
  }
  if (space_->codes()) space_->SetScale(meta.scale);
  MRLDB_ASSIGN_OR_RETURN(std::unique_ptr<hnswlib::HierarchicalNSW<float>> g,
                         ReadGraphFile(file, space_.get()));
  g->setEf(1);
  graph_ = std::move(g);
  upper_levels_ = UpperLevels(*graph_);
  trained_rows_ = meta.trained_rows;
  clipped_rows_ = 0;
  trained_ = true;
  if (space_->codes()) {
    GrowCodes(graph_->max_elements_);
    for (size_t i = 0; i < graph_->cur_element_count; ++i) {
      std::memcpy(codes_.get() + i * code_bytes_, graph_->getDataByInternalId(static_cast<hnswlib::tableint>(i)), code_bytes_);
    }
  }
  generation_ = meta.generation;
  *covered_rows = meta.rows;
  return Status::Ok();
}

bool PrefixIndex::Saved(const std::string& path, uint64_t* graph_bytes) {
  *graph_bytes = 0;
  Meta meta;
  const Status st = ReadMeta(path, &meta);
  if (st.IsNotFound()) return false;
  if (!st.ok()) return true;
  *graph_bytes = meta.size;
  // The file holds the level-0 records and the upper links; loaded, the graph also takes what
  // MemoryBytes counts beyond them: per slot of the capacity its level, lock, pointer and
  // visited marks, the label map, and an int8 graph's aligned copy of the codes. Read from the
  // file's header (hnswlib's layout: offset, capacity, count, record size, label and data
  // offsets), so that the budget does not plan on half the graph while it loads (10M x 768
  // int8: 1.4 GiB file, 2.9 GiB loaded).
  std::ifstream in(meta.v1 ? path : GenerationFile(path, meta.generation), std::ios::binary);
  uint64_t h[6];
  if (!in.read(reinterpret_cast<char*>(h), sizeof(h))) return true;
  const uint64_t capacity = h[1], count = h[2], record = h[3], data_offset = h[5];
  if (count > capacity || record < data_offset + sizeof(uint64_t) || capacity > (uint64_t{1} << 40)) {
    return true;  // not a layout it could load: the file's size stands
  }
  const uint64_t data = record - data_offset - sizeof(uint64_t);
  *graph_bytes += capacity * (sizeof(void*) + sizeof(int) + sizeof(std::mutex) + 2 * sizeof(unsigned short)) +
                  count * (sizeof(void*) * 3 + 16) + (meta.codes != "float32" ? count * data : 0);
  return true;
}

void PrefixIndex::RemoveFiles(const std::string& path) {
  std::error_code ec;
  for (const auto& f : CheckpointFiles(path, "")) std::filesystem::remove(f, ec);
}

size_t PrefixIndex::size() const { return graph_ ? graph_->getCurrentElementCount() : 0; }

size_t PrefixIndex::capacity() const { return graph_ ? graph_->getMaxElements() : 0; }

size_t PrefixIndex::deleted() const { return graph_ ? graph_->getDeletedCount() : 0; }

uint64_t PrefixIndex::UpperLevels(const hnswlib::HierarchicalNSW<float>& g) {
  uint64_t levels = 0;
  for (size_t i = 0; i < g.cur_element_count; ++i) levels += std::max(0, g.element_levels_[i]);
  return levels;
}

size_t PrefixIndex::MemoryBytes() const {
  if (!graph_) return 0;
  const auto& g = *graph_;
  // What is resident: the level-0 records and codes of the rows added (the capacity past them,
  // up to as much again after a doubling, is malloc'd and never written, so never resident),
  // and per slot of the capacity what hnswlib does write: the element level, the link-list
  // lock and pointer, and its visited lists (two, of 2 bytes a slot).
  // The upper levels' link lists are counted as nodes are added (upper_levels_): a loop over
  // every node here took 97% of a thread that polled the indexer's progress at 4M rows.
  const size_t rows = g.cur_element_count;
  size_t bytes = rows * g.size_data_per_element_ +
                 g.max_elements_ * (sizeof(void*) + sizeof(int) + sizeof(std::mutex) +
                                    2 * sizeof(unsigned short));
  bytes += g.size_links_per_element_ * upper_levels_.load(std::memory_order_relaxed);
  bytes += rows * code_bytes_;
  // label map: node + bucket, roughly
  return bytes + g.label_lookup_.size() * (sizeof(void*) * 2 + 16) +
         g.label_lookup_.bucket_count() * sizeof(void*);
}

uint64_t ChecksumBytes(const char* data, size_t n) {
  uint64_t h = kFnvBasis;
  for (size_t at = 0; at < n; at += kChunk) h = HashChunk(h, data + at, std::min(kChunk, n - at));
  return h;
}

}  // namespace mrldb
