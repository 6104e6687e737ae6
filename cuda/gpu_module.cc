// Loads libmrldb_cuda.so on first use (cuda/gpu_module.h) and forwards DeviceBlocks::Create
// and MeasureBandwidth to it.
#include "cuda/gpu_module.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace mrldb::gpu {
namespace {

namespace fs = std::filesystem;

const ModuleApi* g_api = nullptr;

void AddOnce(const std::string& path, std::vector<std::string>* out) {
  if (std::find(out->begin(), out->end(), path) == out->end()) out->push_back(path);
}

void AddBeside(const fs::path& object, std::vector<std::string>* out) {
  if (object.empty()) return;
  const fs::path dir = object.parent_path();
  AddOnce((dir / kModuleFile).lexically_normal().string(), out);
  AddOnce((dir / ".." / "lib" / kModuleFile).lexically_normal().string(), out);
}

// Where to look, in order: $MRLDB_CUDA_MODULE alone when it is set; beside the object holding
// this code (libmrldb.so or the executable) and in its ../lib; beside the executable; the build
// tree; the installed library directory; the dynamic loader's own search (LD_LIBRARY_PATH).
std::vector<std::string> Candidates() {
  if (const char* env = std::getenv("MRLDB_CUDA_MODULE"); env != nullptr && *env != '\0') {
    return {env};
  }
  std::vector<std::string> out;
  Dl_info info{};
  std::error_code ec;
  if (dladdr(reinterpret_cast<void*>(&Candidates), &info) != 0 && info.dli_fname != nullptr &&
      info.dli_fname[0] == '/') {
    AddBeside(fs::canonical(info.dli_fname, ec), &out);
  }
  AddBeside(fs::read_symlink("/proc/self/exe", ec), &out);
  for (const char* p : {MRLDB_CUDA_MODULE_BUILD, MRLDB_CUDA_MODULE_INSTALL, kModuleFile}) AddOnce(p, &out);
  return out;
}

}  // namespace

ModuleState TryLoadModule(const std::vector<std::string>& candidates, const ModuleApi** api) {
  ModuleState st;
  std::string tried;
  for (const std::string& path : candidates) {
    // A bare file name goes to the dynamic loader's search; a path is tried only if it exists.
    if (path.find('/') != std::string::npos && !fs::exists(path)) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      if (path.find('/') == std::string::npos) {  // not on the search path: one more place tried
        tried += (tried.empty() ? "" : ", ") + path + " (the dynamic loader's search path)";
        continue;
      }
      st.error = fmt::format("the CUDA module {} could not be loaded: {}", path,
                             why != nullptr ? why : "unknown dlopen error");
      return st;
    }
    auto entry = reinterpret_cast<const ModuleApi* (*)()>(dlsym(handle, kModuleEntry));
    const ModuleApi* found = entry != nullptr ? entry() : nullptr;
    if (found == nullptr || found->abi == nullptr || std::string(found->abi) != MRLDB_GPU_ABI ||
        found->create_blocks == nullptr || found->measure_bandwidth == nullptr) {
      st.error = fmt::format(
          "{} is not the CUDA module of this build ({}): rebuild it with this build, or set "
          "MRLDB_CUDA_MODULE to the one built beside this binary", path,
          entry == nullptr ? std::string("no ") + kModuleEntry
                           : fmt::format("interface {} where this build has {}",
                                         found && found->abi ? found->abi : "?", MRLDB_GPU_ABI));
      dlclose(handle);
      return st;
    }
    // The module stays loaded for the life of the process: device blocks it made may outlive
    // any caller.
    *api = found;
    st.loaded = true;
    st.path = path;
    return st;
  }
  st.error = fmt::format("this build's CUDA module {} was not found (looked in: {}); install it "
                         "beside the mrldb library or binary, or set MRLDB_CUDA_MODULE to its "
                         "path", kModuleFile, tried);
  return st;
}

const ModuleState& LoadModule() {
  static std::once_flag once;
  static ModuleState state;
  std::call_once(once, [] { state = TryLoadModule(Candidates(), &g_api); });
  return state;
}

Result<std::unique_ptr<DeviceBlocks>> DeviceBlocks::Create(const std::vector<uint32_t>& widths,
                                                           const DeviceBlocksOptions& options) {
  const ModuleState& m = LoadModule();
  if (!m.loaded) return Status::NotSupported(m.error);
  return g_api->create_blocks(widths, options);
}

Result<Bandwidth> MeasureBandwidth(int device, size_t bytes, int repeat) {
  const ModuleState& m = LoadModule();
  if (!m.loaded) return Status::NotSupported(m.error);
  return g_api->measure_bandwidth(device, bytes, repeat);
}

}  // namespace mrldb::gpu
