// The boundary between the CUDA layer that every binary links (device.cu: devices, the
// self-test; gpu_module.cc: the loader) and the part that is loaded on first use
// (libmrldb_cuda.so: the device blocks, the kernels, cuBLAS). cuBLAS alone makes a process start 154 MiB larger (its
// relocations and static data, touched by the dynamic loader before main), so a binary that
// never searches on a GPU must not link it: DeviceBlocks::Create and MeasureBandwidth load the
// module with dlopen the first time they run (docs/architecture.md, "GPU", "The CUDA module").
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "cuda/gpu_search.h"

namespace mrldb::gpu {

struct ModuleApi {
  // MRLDB_GPU_ABI of the module's build (a hash of gpu_search.h, this header and mrldb's
  // status.h and types.h; cuda/CMakeLists.txt): a module
  // built from other declarations than the loader's is refused, never called.
  const char* abi = nullptr;
  Result<std::unique_ptr<DeviceBlocks>> (*create_blocks)(const std::vector<uint32_t>& widths,
                                                         const DeviceBlocksOptions& options) = nullptr;
  Result<Bandwidth> (*measure_bandwidth)(int device, size_t bytes, int repeat) = nullptr;
};

// The module's one exported symbol.
inline constexpr const char* kModuleEntry = "mrldb_cuda_module_v1";
inline constexpr const char* kModuleFile = "libmrldb_cuda.so";

// The module's implementations (defined in the module only).
Result<std::unique_ptr<DeviceBlocks>> CreateCudaDeviceBlocks(const std::vector<uint32_t>& widths,
                                                             const DeviceBlocksOptions& options);
Result<Bandwidth> MeasureDeviceBandwidth(int device, size_t bytes, int repeat);

// Where the loader found the module, or why it could not load it (for messages and tests).
struct ModuleState {
  bool loaded = false;
  std::string path;   // the file loaded
  std::string error;  // what failed, with every place looked in
};
// Loads the module once, from the first of the places cuda/gpu_module.cc names that holds it.
const ModuleState& LoadModule();
// One attempt over `candidates` (paths, or a bare file name for the dynamic loader's search),
// uncached; sets *api on success. For tests.
ModuleState TryLoadModule(const std::vector<std::string>& candidates, const ModuleApi** api);

}  // namespace mrldb::gpu

extern "C" __attribute__((visibility("default"))) const mrldb::gpu::ModuleApi* mrldb_cuda_module_v1();
