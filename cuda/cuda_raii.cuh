// RAII owners of CUDA and cuBLAS resources (device buffers, streams, events, cuBLAS handles,
// the current-device scope) and the conversion of their errors into Status. Internal to cuda/.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <utility>

#include "mrldb/status.h"

namespace mrldb::gpu {

inline Status FromCuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::Ok();
  std::string msg = std::string(what) + ": " + cudaGetErrorName(err) + " (" +
                    cudaGetErrorString(err) + ")";
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) {
    return Status::NotSupported("no usable CUDA device: " + msg);
  }
  return Status::IOError(msg);
}

inline Status FromCublas(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return Status::IOError(std::string(what) + ": " + cublasGetStatusName(st) + " (" +
                         cublasGetStatusString(st) + ")");
}

#define MRLDB_CUDA(call) MRLDB_RETURN_IF_ERROR(::mrldb::gpu::FromCuda((call), #call))
#define MRLDB_CUBLAS(call) MRLDB_RETURN_IF_ERROR(::mrldb::gpu::FromCublas((call), #call))

// Makes `device` current for the scope and restores the previous one (the calling thread may
// serve other collections on other devices).
class DeviceScope {
 public:
  explicit DeviceScope(int device)
      : previous_(Current()), status_(FromCuda(cudaSetDevice(device), "cudaSetDevice")) {}
  ~DeviceScope() { cudaSetDevice(previous_); }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;
  const Status& status() const { return status_; }

 private:
  static int Current() {
    int d = 0;
    cudaGetDevice(&d);
    return d;
  }
  int previous_ = 0;
  Status status_;
};

// A device array of T that only grows (scratch space reused across calls).
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { Release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      Release();
      ptr_ = std::exchange(o.ptr_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }

  // Makes room for n elements; the old contents are lost when it grows.
  Status EnsureCapacity(size_t n) {
    if (n <= n_) return Status::Ok();
    Release();
    void* p = nullptr;
    MRLDB_CUDA(cudaMalloc(&p, (n ? n : 1) * sizeof(T)));
    ptr_ = static_cast<T*>(p);
    n_ = n;
    return Status::Ok();
  }
  // Copies n host elements in (growing as needed).
  Status Upload(const T* src, size_t n, cudaStream_t stream) {
    MRLDB_RETURN_IF_ERROR(EnsureCapacity(n));
    if (n == 0) return Status::Ok();
    return FromCuda(cudaMemcpyAsync(ptr_, src, n * sizeof(T), cudaMemcpyHostToDevice, stream),
                    "cudaMemcpyAsync (upload)");
  }
  T* get() const { return ptr_; }
  size_t size() const { return n_; }

 private:
  void Release() {
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    n_ = 0;
  }
  T* ptr_ = nullptr;
  size_t n_ = 0;
};

// Page-locked host memory (transfers from it run asynchronously at full speed); only grows.
template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer() {
    if (ptr_) cudaFreeHost(ptr_);
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  Status EnsureCapacity(size_t n) {
    if (n <= n_) return Status::Ok();
    if (ptr_) cudaFreeHost(ptr_);
    ptr_ = nullptr;
    n_ = 0;
    void* p = nullptr;
    MRLDB_CUDA(cudaMallocHost(&p, (n ? n : 1) * sizeof(T)));
    ptr_ = static_cast<T*>(p);
    n_ = n;
    return Status::Ok();
  }
  T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
  size_t n_ = 0;
};

class Stream {
 public:
  Stream() = default;
  ~Stream() {
    if (s_) cudaStreamDestroy(s_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  Status Create() { return FromCuda(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), "cudaStreamCreate"); }
  cudaStream_t get() const { return s_; }
  Status Sync() const { return FromCuda(cudaStreamSynchronize(s_), "cudaStreamSynchronize"); }

 private:
  cudaStream_t s_ = nullptr;
};

class Event {
 public:
  Event() = default;
  ~Event() {
    if (e_) cudaEventDestroy(e_);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  Status Create() { return FromCuda(cudaEventCreate(&e_), "cudaEventCreate"); }
  Status Record(cudaStream_t s) { return FromCuda(cudaEventRecord(e_, s), "cudaEventRecord"); }
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

// Seconds between two recorded events (after both completed).
inline Result<double> Elapsed(const Event& a, const Event& b) {
  float ms = 0;
  MRLDB_CUDA(cudaEventElapsedTime(&ms, a.get(), b.get()));
  return ms * 1e-3;
}

class CublasHandle {
 public:
  CublasHandle() = default;
  ~CublasHandle() {
    if (h_) cublasDestroy(h_);
  }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  Status Create(cudaStream_t stream) {
    MRLDB_CUBLAS(cublasCreate(&h_));
    MRLDB_CUBLAS(cublasSetStream(h_, stream));
    // Exact search is the ground truth: plain float32 products, no TF32 shortcut.
    MRLDB_CUBLAS(cublasSetMathMode(h_, CUBLAS_DEFAULT_MATH));
    return Status::Ok();
  }
  cublasHandle_t get() const { return h_; }

 private:
  cublasHandle_t h_ = nullptr;
};

}  // namespace mrldb::gpu
