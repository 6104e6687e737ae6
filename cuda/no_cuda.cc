// The cuda/ layer of a build without the CUDA toolkit: every call says so.
#include "cuda/gpu_info.h"
#include "cuda/gpu_module.h"
#include "cuda/gpu_search.h"

namespace mrldb::gpu {
namespace {

Status NotBuilt() {
  return Status::NotSupported("this build of mrldb has no CUDA support (MRLDB_WITH_CUDA=OFF or "
                              "no CUDA toolkit at configure time)");
}

}  // namespace

bool BuiltWithCuda() { return false; }

Result<std::vector<GpuDevice>> ListDevices() { return NotBuilt(); }

Result<size_t> FreeMemory(int) { return NotBuilt(); }

Status SelfTest(int) { return NotBuilt(); }

Result<std::unique_ptr<DeviceBlocks>> DeviceBlocks::Create(const std::vector<uint32_t>&,
                                                           const DeviceBlocksOptions&) {
  return NotBuilt();
}

Result<Bandwidth> MeasureBandwidth(int, size_t, int) { return NotBuilt(); }

ModuleState TryLoadModule(const std::vector<std::string>&, const ModuleApi**) {
  return ModuleState{false, "", std::string(NotBuilt().message())};
}

const ModuleState& LoadModule() {
  static const ModuleState state = TryLoadModule({}, nullptr);
  return state;
}

}  // namespace mrldb::gpu
