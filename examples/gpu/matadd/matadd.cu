// matadd — C = A + B for N×N single-precision matrices on the GPU
// (matadd_kernel.cuh: float4 loads and stores in a grid-stride loop), checked
// against the CPU.
//
//   matadd N [REPEATS] [--out FILE]
//
// N: 1..32768; REPEATS (default 20): timed runs after 2 warm-up runs.
// --out FILE: also writes the summary lines to FILE (a result file of the
// GPUJob). Prints GB/s (3·4·N² bytes moved per run) and GFLOP/s (N² adds per
// run). The check compares every entry with the CPU's float sum (IEEE
// addition is exactly rounded on both, so the max error should be 0; an
// entry passes within 1e-6 relative).
// Exit: 0 PASS, 1 FAIL, 2 usage or no CUDA device, 3 a CUDA error.
#include <cmath>
#include <string>

#include "gpu_common.h"
#include "matadd_kernel.cuh"

const char* g_prog = "matadd";

namespace {

[[noreturn]] void usage() {
  die(kExitUsage, "usage: matadd N [REPEATS] [--out FILE]  (N 1..32768, REPEATS 1..1000)");
}

}  // namespace

int main(int argc, char** argv) {
  long n_arg = -1, repeats = 20;
  const char* out_path = nullptr;
  int positional = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--out") {
      if (++i >= argc) usage();
      out_path = argv[i];
    } else if (a == "-h" || a == "--help") {
      usage();
    } else if (!a.empty() && a[0] == '-') {
      die(kExitUsage, "unknown option '%s' (usage: matadd N [REPEATS] [--out FILE])", argv[i]);
    } else if (positional == 0) {
      n_arg = parse_long(argv[i], "N", 1, 32768), ++positional;
    } else if (positional == 1) {
      repeats = parse_long(argv[i], "REPEATS", 1, 1000), ++positional;
    } else {
      usage();
    }
  }
  if (n_arg < 0) usage();
  const int n = static_cast<int>(n_arg);
  FILE* out = nullptr;
  if (out_path && !(out = std::fopen(out_path, "w")))
    die(kExitUsage, "--out %s: %s", out_path, std::strerror(errno));

  const cudaDeviceProp prop = require_device();
  const size_t elems = static_cast<size_t>(n) * n;
  const size_t bytes = elems * sizeof(float);
  const unsigned grid = matadd::matadd_grid(elems, prop.multiProcessorCount);
  std::printf(
      "matadd: N=%d, repeats=%ld (+2 warm-up), %u blocks of %d threads, float4 grid-stride\n", n,
      repeats, grid, matadd::kThreads);

  std::vector<float> A(elems), B(elems), C(elems);
  fill(A, 1u);
  fill(B, 2u);
  float *dA = nullptr, *dB = nullptr, *dC = nullptr;
  CUDA_CHECK(cudaMalloc(&dA, bytes));
  CUDA_CHECK(cudaMalloc(&dB, bytes));
  CUDA_CHECK(cudaMalloc(&dC, bytes));
  CUDA_CHECK(cudaMemcpy(dA, A.data(), bytes, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(dB, B.data(), bytes, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemset(dC, 0xff, bytes));  // NaNs: an entry the kernel misses fails the check

  const float ms = time_ms(
      [&] {
        matadd::matadd_kernel<<<grid, matadd::kThreads>>>(elems, dA, dB, dC);
        CUDA_CHECK_LAUNCH();
      },
      2, static_cast<int>(repeats));
  CUDA_CHECK(cudaMemcpy(C.data(), dC, bytes, cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaFree(dA));
  CUDA_CHECK(cudaFree(dB));
  CUDA_CHECK(cudaFree(dC));

  double max_abs = 0;
  bool pass = true;
  for (size_t i = 0; i < elems; ++i) {
    const float ref = A[i] + B[i];
    const double err = std::fabs(static_cast<double>(C[i]) - ref);
    if (std::isnan(err)) max_abs = NAN;
    if (err > max_abs) max_abs = err;
    if (!(err <= 1e-6 * std::fabs(ref) + 1e-30)) pass = false;  // NaN fails too
  }
  const double gbs = 3.0 * bytes / (ms * 1e6);
  const double gflops = static_cast<double>(elems) / (ms * 1e6);
  report_line(out, "kernel: %.3f ms, %.1f GB/s, %.2f GFLOP/s\n", ms, gbs, gflops);
  report_line(out, "check: %zu entries (all), max abs error %.3e: %s\n", elems, max_abs,
              pass ? "PASS" : "FAIL");
  report_line(
      out,
      "RESULT matadd N=%d device=\"%s\" kernel_ms=%.3f gbs=%.1f gflops=%.2f max_abs_err=%.3e %s\n",
      n, prop.name, ms, gbs, gflops, max_abs, pass ? "PASS" : "FAIL");
  if (out && std::fclose(out) != 0) die(kExitUsage, "--out %s: %s", out_path, std::strerror(errno));
  return pass ? 0 : kExitFail;
}
