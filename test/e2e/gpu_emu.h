// gpu_emu.h — just enough of CUDA's kernel language for the host compiler to
// run the kernels of examples/gpu/ on the CPU, one std::thread per CUDA
// thread, so their index arithmetic, edge handling and barriers are tested
// on machines without a GPU (test/e2e/gpu_examples.sh builds
// gpu_kernel_emu.cc with -fsanitize=address,undefined: a read or write
// outside a matrix, or a misaligned float4 access, stops the test).
//
// Model: blocks run one after another; a block's threads run concurrently
// and meet at __syncthreads() (a std::barrier). __shared__ becomes `static`,
// so shared arrays are one per kernel — right while one block runs at a time.
// Not modelled: warps, the memory model beyond the barrier, launch limits.
#pragma once

#include <barrier>
#include <cstddef>
#include <thread>
#include <vector>

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;
inline std::barrier<>* g_emu_barrier = nullptr;

inline void __syncthreads() { g_emu_barrier->arrive_and_wait(); }

// kernel<<<grid, threads>>>(args...) becomes emu_launch(grid, threads, [&] { kernel(args...); }).
template <typename Body>
void emu_launch(dim3 grid, unsigned threads, Body body) {
  gridDim = grid;
  blockDim = dim3(threads);
  for (unsigned by = 0; by < grid.y; ++by) {
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      std::barrier<> bar(threads);
      g_emu_barrier = &bar;
      std::vector<std::thread> ts;
      ts.reserve(threads);
      for (unsigned t = 0; t < threads; ++t) {
        ts.emplace_back([=, &body] {
          threadIdx = dim3(t);
          blockIdx = dim3(bx, by);
          body();
        });
      }
      for (auto& th : ts) th.join();
      g_emu_barrier = nullptr;
    }
  }
}
