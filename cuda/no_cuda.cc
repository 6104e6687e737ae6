// The cuda/ layer of a build without the CUDA toolkit: every call says so.
#include "cuda/gpu_info.h"

namespace mrldb::gpu {

bool BuiltWithCuda() { return false; }

Result<std::vector<GpuDevice>> ListDevices() {
  return Status::NotSupported("this build of mrldb has no CUDA support (MRLDB_WITH_CUDA=OFF or "
                              "no CUDA toolkit at configure time)");
}

Status SelfTest(int) { return ListDevices().status(); }

}  // namespace mrldb::gpu
