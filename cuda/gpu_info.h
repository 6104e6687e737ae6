// GPU discovery and a device self-test. Plain C++ header: no CUDA types leak out of cuda/.
// Built from device.cu when the CUDA toolkit is present, from no_cuda.cc otherwise.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "mrldb/status.h"

namespace mrldb::gpu {

struct GpuDevice {
  int index = 0;
  std::string name;
  int compute_major = 0, compute_minor = 0;
  size_t total_memory = 0;
  int multiprocessors = 0;
};

// True when this build includes the CUDA layer.
bool BuiltWithCuda();

// The CUDA devices this process can use. Errors: NotSupported (built without CUDA, or no
// driver/device: the message says which), IOError (a CUDA call failed).
Result<std::vector<GpuDevice>> ListDevices();

// Free memory of device `index` now (cudaMemGetInfo: starts a CUDA context on it when the
// process has none). Errors as ListDevices.
Result<size_t> FreeMemory(int index);

// Runs a small dot-product kernel on device `index` and checks it against the CPU.
// Errors as ListDevices, plus Internal when the device computes a wrong result.
Status SelfTest(int index);

}  // namespace mrldb::gpu
