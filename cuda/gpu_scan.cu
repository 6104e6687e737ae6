// The fused prefix scan + top-k's launch (see scan_kernels.cuh for the kernel).
#include "cuda/gpu_scan.cuh"

#include <algorithm>

#include "cuda/cuda_raii.cuh"

namespace mrldb::gpu {
namespace {

using kernels::FusedScanKernel;
using kernels::kScanThreads;
using kernels::ScanArgs;

// Queries per block: 4 for batches that small (more blocks fit a multiprocessor), else as many as
// the shared memory of the k-best segments allows at about 64-128 KiB per block (a segment of P
// keys is 8 * P bytes per query).
uint32_t GroupFor(uint32_t k, uint32_t nq) {
  if (nq <= 4) return 4;
  return kernels::ScanSegment(k) <= 512 ? 16 : 8;
}

size_t SharedBytes(const ScanArgs& a, uint32_t group) {
  return size_t{group} * a.segment * sizeof(unsigned long long) + size_t{group} * a.dims * sizeof(float);
}

template <typename T, int Q, bool kVec>
Status Launch(const ScanArgs& a, cudaStream_t stream) {
  const size_t smem = SharedBytes(a, Q);
  auto kernel = FusedScanKernel<T, Q, kVec>;
  MRLDB_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  const size_t groups = (a.nq + Q - 1) / Q;
  kernel<<<unsigned(groups * a.splits), kScanThreads, smem, stream>>>(a);
  MRLDB_CUDA(cudaGetLastError());
  return Status::Ok();
}

template <typename T, int Q>
Status LaunchAligned(const ScanArgs& a, cudaStream_t stream) {
  // 16-byte loads need every row start and the prefix end on a 16-byte boundary.
  constexpr uint32_t kV = kernels::Vec<T>::kValues;
  if (a.dim % kV == 0 && a.dims % kV == 0) return Launch<T, Q, true>(a, stream);
  return Launch<T, Q, false>(a, stream);
}

template <typename T>
Status LaunchTyped(const ScanArgs& a, uint32_t group, cudaStream_t stream) {
  if (group == 16) return LaunchAligned<T, 16>(a, stream);
  if (group == 8) return LaunchAligned<T, 8>(a, stream);
  return LaunchAligned<T, 4>(a, stream);
}

}  // namespace

FusedScanShape ShapeFusedScan(uint64_t rows, uint32_t nq, uint32_t k, int multiprocessors) {
  FusedScanShape s;
  s.group = GroupFor(k, nq);
  const uint64_t groups = (uint64_t{nq} + s.group - 1) / s.group;
  // About four blocks per multiprocessor, but splits of at least 8 tiles and 4k rows, so that
  // each split's selection still shrinks its rows.
  const uint64_t want = (uint64_t(std::max(1, multiprocessors)) * 4 + groups - 1) / groups;
  const uint64_t min_rows = std::max<uint64_t>(8 * kScanThreads, uint64_t{4} * k);
  const uint64_t most = std::max<uint64_t>(1, rows / min_rows);
  const uint64_t splits = std::max<uint64_t>(1, std::min(want, most));
  s.split_rows = ((rows + splits - 1) / splits + kScanThreads - 1) / kScanThreads * kScanThreads;
  s.split_rows = std::max<uint64_t>(s.split_rows, kScanThreads);
  s.splits = uint32_t((rows + s.split_rows - 1) / s.split_rows);
  s.splits = std::max<uint32_t>(1, s.splits);
  return s;
}

Status LaunchFusedScan(const ScanArgs& a, Precision precision, uint32_t group, cudaStream_t stream) {
  if (!FusedScanFits(a.dims, a.k)) return Status::InvalidArgument("fused scan: dims or k out of range");
  if (group != 4 && group != 8 && group != 16) {
    return Status::InvalidArgument("fused scan: a group of 4, 8 or 16 queries");
  }
  if (precision == Precision::kFloat32) return LaunchTyped<float>(a, group, stream);
  return LaunchTyped<__half>(a, group, stream);
}

}  // namespace mrldb::gpu
