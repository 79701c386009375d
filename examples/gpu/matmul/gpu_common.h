// gpu_common.h — what matadd.cu and matmul.cu share: error checks on every
// CUDA call, the "is there a GPU" check, argument parsing, deterministic
// inputs and the summary file. Each example directory carries its own copy
// (a job uploads one directory); test/e2e/gpu_examples.sh checks the copies
// are identical.
#pragma once

#include <cuda_runtime.h>

#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

// The program's name in messages ("matmul", "matadd"); set by main.
extern const char* g_prog;

[[noreturn]] inline void die(int code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "%s: ", g_prog);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
  std::exit(code);
}

// Exit codes: 0 PASS, 1 FAIL (wrong result), 2 usage or no CUDA device,
// 3 a CUDA (or cuBLAS) call failed.
constexpr int kExitFail = 1;
constexpr int kExitUsage = 2;
constexpr int kExitCuda = 3;

#define CUDA_CHECK(expr)                                                            \
  do {                                                                              \
    cudaError_t err_ = (expr);                                                      \
    if (err_ != cudaSuccess)                                                        \
      die(kExitCuda, "CUDA error at %s:%d: %s: %s (%s)", __FILE__, __LINE__, #expr, \
          cudaGetErrorString(err_), cudaGetErrorName(err_));                        \
  } while (0)

// After a kernel launch: launch errors now, execution errors at the next sync.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

// Picks device 0 and prints it; exits 2 with a clear line when there is no
// usable CUDA device (no GPU, no driver, driver too old for this runtime).
inline cudaDeviceProp require_device() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    die(kExitUsage,
        "no usable CUDA device: cudaGetDeviceCount: %s (%s, %d devices); this program needs an "
        "NVIDIA "
        "GPU and its driver (submit it as a GPUJob to a partition with GPUs)",
        err == cudaSuccess ? "no devices" : cudaGetErrorString(err),
        err == cudaSuccess ? "cudaSuccess" : cudaGetErrorName(err), count);
  }
  CUDA_CHECK(cudaSetDevice(0));
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  int rt = 0, drv = 0;
  CUDA_CHECK(cudaRuntimeGetVersion(&rt));
  CUDA_CHECK(cudaDriverGetVersion(&drv));
  std::printf("%s: device 0 of %d: %s (sm_%d%d, %d SMs, %.1f GiB), runtime %d.%d, driver %d.%d\n",
              g_prog, count, prop.name, prop.major, prop.minor, prop.multiProcessorCount,
              prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), rt / 1000, (rt % 1000) / 10,
              drv / 1000, (drv % 1000) / 10);
  return prop;
}

// Parses a decimal integer in [lo, hi]; exits 2 naming `what` otherwise.
inline long parse_long(const char* s, const char* what, long lo, long hi) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    die(kExitUsage, "%s must be an integer in [%ld, %ld], got '%s'", what, lo, hi, s);
  return v;
}

// Deterministic inputs in [-1, 1): a 32-bit LCG per matrix (seed differs).
inline void fill(std::vector<float>& v, uint32_t seed) {
  uint32_t x = seed;
  for (float& f : v) {
    x = x * 1664525u + 1013904223u;
    f = static_cast<float>(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
}

// Appends one line to the summary file (if any) and to stdout.
inline void report_line(FILE* out, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  if (out) {
    va_start(ap, fmt);
    std::vfprintf(out, fmt, ap);
    va_end(ap);
  }
}

// Times `repeats` runs of launch() with CUDA events after `warmup` untimed
// ones; returns the mean milliseconds per run.
template <typename Launch>
float time_ms(Launch launch, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) launch();
  CUDA_CHECK(cudaDeviceSynchronize());
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  CUDA_CHECK(cudaEventRecord(start));
  for (int i = 0; i < repeats; ++i) launch();
  CUDA_CHECK(cudaEventRecord(stop));
  CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0.f;
  CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
  return ms / static_cast<float>(repeats);
}
