// matadd_kernel.cuh — C = A + B over n floats (an N×N row-major matrix is
// n = N² contiguous floats, so the matrix is added as one flat array).
//
// Memory-bound: the kernel is written for bandwidth. Each thread handles
// float4s (16-byte loads and stores, coalesced across the warp) in a
// grid-stride loop over the n/4 whole float4s; the last n % 4 floats are done
// by the first threads of the grid. The base pointers must be 16-byte aligned
// (cudaMalloc gives 256). Launch with matadd_grid() blocks of kThreads.
//
// Also compiled by the host-side emulator (test/e2e/gpu_kernel_emu.cc
// through gpu_emu.h); keep to what that header provides.
#pragma once

#include <cstddef>

namespace matadd {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    matadd_kernel(size_t n, const float* __restrict__ A, const float* __restrict__ B,
                  float* __restrict__ C) {
  const size_t n4 = n / 4;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  const size_t first = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const float4* a4 = reinterpret_cast<const float4*>(A);
  const float4* b4 = reinterpret_cast<const float4*>(B);
  float4* c4 = reinterpret_cast<float4*>(C);
  for (size_t i = first; i < n4; i += stride) {
    const float4 a = a4[i];
    const float4 b = b4[i];
    c4[i] = make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
  }
  const size_t tail = n4 * 4 + first;  // at most 3 floats
  if (tail < n) C[tail] = A[tail] + B[tail];
}

// Enough blocks to fill every SM (8 blocks of 256 threads = 2048 threads per
// SM), fewer when n is small; at least 1.
inline unsigned matadd_grid(size_t n, int sm_count) {
  const size_t need = (n / 4 + kThreads - 1) / kThreads;
  const size_t cap = static_cast<size_t>(sm_count > 0 ? sm_count : 1) * 8;
  const size_t blocks = need < cap ? need : cap;
  return static_cast<unsigned>(blocks > 0 ? blocks : 1);
}

}  // namespace matadd
