#include <cuda_runtime.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuda/cuda_raii.cuh"
#include "cuda/gpu_info.h"

namespace mrldb::gpu {
namespace {

__global__ void DotKernel(const float* a, const float* b, int n, float* out) {
  __shared__ float partial[256];
  float s = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s += a[i] * b[i];
  partial[threadIdx.x] = s;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = partial[0];
}

}  // namespace

bool BuiltWithCuda() { return true; }

Result<std::vector<GpuDevice>> ListDevices() {
  int count = 0;
  MRLDB_RETURN_IF_ERROR(FromCuda(cudaGetDeviceCount(&count), "cudaGetDeviceCount"));
  if (count == 0) return Status::NotSupported("no CUDA device present");
  std::vector<GpuDevice> out;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    MRLDB_RETURN_IF_ERROR(FromCuda(cudaGetDeviceProperties(&p, i), "cudaGetDeviceProperties"));
    out.push_back({i, p.name, p.major, p.minor, p.totalGlobalMem, p.multiProcessorCount});
  }
  return out;
}

Result<size_t> FreeMemory(int index) {
  DeviceScope scope(index);
  MRLDB_RETURN_IF_ERROR(scope.status());
  size_t free_bytes = 0, total = 0;
  MRLDB_RETURN_IF_ERROR(FromCuda(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo"));
  return free_bytes;
}

Status SelfTest(int index) {
  MRLDB_ASSIGN_OR_RETURN(auto devices, ListDevices());
  if (index < 0 || index >= static_cast<int>(devices.size())) {
    return Status::InvalidArgument("no CUDA device with index " + std::to_string(index));
  }
  MRLDB_RETURN_IF_ERROR(FromCuda(cudaSetDevice(index), "cudaSetDevice"));
  constexpr int n = 1000;
  std::vector<float> a(n), b(n);
  double expect = 0;
  for (int i = 0; i < n; ++i) {
    a[i] = std::sin(0.01f * i);
    b[i] = std::cos(0.02f * i);
    expect += double{a[i]} * b[i];
  }
  DeviceBuffer<float> da, db, dout;
  MRLDB_RETURN_IF_ERROR(da.EnsureCapacity(n));
  MRLDB_RETURN_IF_ERROR(db.EnsureCapacity(n));
  MRLDB_RETURN_IF_ERROR(dout.EnsureCapacity(1));
  MRLDB_RETURN_IF_ERROR(FromCuda(
      cudaMemcpy(da.get(), a.data(), n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy"));
  MRLDB_RETURN_IF_ERROR(FromCuda(
      cudaMemcpy(db.get(), b.data(), n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy"));
  DotKernel<<<1, 256>>>(da.get(), db.get(), n, dout.get());
  MRLDB_RETURN_IF_ERROR(FromCuda(cudaGetLastError(), "launching DotKernel"));
  float got = 0;
  MRLDB_RETURN_IF_ERROR(FromCuda(
      cudaMemcpy(&got, dout.get(), sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy"));
  if (std::fabs(got - expect) > 1e-3 * (1 + std::fabs(expect))) {
    return Status::Internal("GPU self-test: device dot product " + std::to_string(got) +
                            " differs from CPU " + std::to_string(expect));
  }
  return Status::Ok();
}

}  // namespace mrldb::gpu
