// matmul — C = A · B for N×N single-precision matrices on the GPU with a
// tiled, register-blocked shared-memory kernel (sgemm_kernel.cuh), checked
// against a CPU reference in double precision; optionally cuBLAS SGEMM on the
// same inputs in the same run.
//
//   matmul N [REPEATS] [--cublas] [--out FILE]
//
// N: 1..16384; REPEATS (default 10): timed runs after 2 warm-up runs.
// --cublas: also times cublasSgemm (FP32, default math: no TF32) and prints
// its GFLOP/s and the kernel/cuBLAS ratio. --out FILE: also writes the
// summary lines to FILE (a result file of the GPUJob).
// GFLOP/s = 2·N³ / time. The check: every entry for N ≤ 512; otherwise rows
// 0 and N-1 in full plus 4096 entries drawn at random. An entry passes when
// |c - ref| ≤ (N+2)·FLT_EPSILON·Σ|a_ik·b_kj| (the bound of FP32 summation).
// Exit: 0 PASS, 1 FAIL, 2 usage or no CUDA device, 3 a CUDA/cuBLAS error.
#include <cfloat>
#include <cmath>
#include <string>

#ifndef MATMUL_NO_CUBLAS
#include <cublas_v2.h>
#endif

#include "gpu_common.h"
#include "sgemm_kernel.cuh"

const char* g_prog = "matmul";

namespace {

struct CheckResult {
  long entries = 0;
  double max_abs = 0;  // max |c - ref|
  double max_rel = 0;  // max |c - ref| / Σ|a·b|
  bool pass = true;
};

void check_entry(CheckResult& r, float got, double ref, double sabs, int n) {
  const double err = std::fabs(static_cast<double>(got) - ref);
  const double rel = sabs > 0 ? err / sabs : err;
  ++r.entries;
  if (std::isnan(err)) r.max_abs = NAN;  // sticks: NaN > x is false
  if (err > r.max_abs) r.max_abs = err;
  if (rel > r.max_rel) r.max_rel = rel;
  if (!(rel <= (n + 2) * static_cast<double>(FLT_EPSILON))) r.pass = false;  // NaN fails too
}

void check_row(CheckResult& r, const std::vector<float>& A, const std::vector<float>& B,
               const std::vector<float>& C, int n, int i) {
  std::vector<double> ref(n, 0.0), sabs(n, 0.0);
  for (int k = 0; k < n; ++k) {
    const double a = A[static_cast<size_t>(i) * n + k];
    const float* b = &B[static_cast<size_t>(k) * n];
    for (int j = 0; j < n; ++j) {
      ref[j] += a * b[j];
      sabs[j] += std::fabs(a * b[j]);
    }
  }
  for (int j = 0; j < n; ++j) check_entry(r, C[static_cast<size_t>(i) * n + j], ref[j], sabs[j], n);
}

CheckResult check(const std::vector<float>& A, const std::vector<float>& B,
                  const std::vector<float>& C, int n) {
  CheckResult r;
  if (n <= 512) {
    for (int i = 0; i < n; ++i) check_row(r, A, B, C, n, i);
    return r;
  }
  check_row(r, A, B, C, n, 0);
  check_row(r, A, B, C, n, n - 1);
  uint32_t x = 12345u;
  for (int s = 0; s < 4096; ++s) {
    x = x * 1664525u + 1013904223u;
    const int i = static_cast<int>((x >> 8) % static_cast<uint32_t>(n));
    x = x * 1664525u + 1013904223u;
    const int j = static_cast<int>((x >> 8) % static_cast<uint32_t>(n));
    double ref = 0, sabs = 0;
    for (int k = 0; k < n; ++k) {
      const double p = static_cast<double>(A[static_cast<size_t>(i) * n + k]) *
                       B[static_cast<size_t>(k) * n + j];
      ref += p;
      sabs += std::fabs(p);
    }
    check_entry(r, C[static_cast<size_t>(i) * n + j], ref, sabs, n);
  }
  return r;
}

#ifndef MATMUL_NO_CUBLAS
#define CUBLAS_CHECK(expr)                                                            \
  do {                                                                                \
    cublasStatus_t st_ = (expr);                                                      \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                                 \
      die(kExitCuda, "cuBLAS error at %s:%d: %s: %s (%d)", __FILE__, __LINE__, #expr, \
          cublasGetStatusString(st_), static_cast<int>(st_));                         \
  } while (0)
#endif

[[noreturn]] void usage() {
  die(kExitUsage,
      "usage: matmul N [REPEATS] [--cublas] [--out FILE]  (N 1..16384, REPEATS 1..1000)");
}

}  // namespace

int main(int argc, char** argv) {
  long n_arg = -1, repeats = 10;
  bool use_cublas = false;
  const char* out_path = nullptr;
  int positional = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--cublas") {
      use_cublas = true;
    } else if (a == "--out") {
      if (++i >= argc) usage();
      out_path = argv[i];
    } else if (a == "-h" || a == "--help") {
      usage();
    } else if (!a.empty() && a[0] == '-') {
      die(kExitUsage, "unknown option '%s' (usage: matmul N [REPEATS] [--cublas] [--out FILE])",
          argv[i]);
    } else if (positional == 0) {
      n_arg = parse_long(argv[i], "N", 1, 16384), ++positional;
    } else if (positional == 1) {
      repeats = parse_long(argv[i], "REPEATS", 1, 1000), ++positional;
    } else {
      usage();
    }
  }
  if (n_arg < 0) usage();
#ifdef MATMUL_NO_CUBLAS
  if (use_cublas)
    die(kExitUsage,
        "--cublas: this binary was built without cuBLAS (no libcublas found at build time)");
#endif
  const int n = static_cast<int>(n_arg);
  FILE* out = nullptr;
  if (out_path && !(out = std::fopen(out_path, "w")))
    die(kExitUsage, "--out %s: %s", out_path, std::strerror(errno));

  const cudaDeviceProp prop = require_device();
  const size_t elems = static_cast<size_t>(n) * n;
  const size_t bytes = elems * sizeof(float);
  const double flops = 2.0 * n * static_cast<double>(n) * n;
  std::printf(
      "matmul: N=%d, repeats=%ld (+2 warm-up), kernel tiled %dx%dx%d, %dx%d outputs per thread, %d "
      "threads\n",
      n, repeats, sgemm::kBM, sgemm::kBN, sgemm::kBK, sgemm::kTM, sgemm::kTN, sgemm::kThreads);

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

  const dim3 grid = sgemm::sgemm_grid(n, n);
  const float ms = time_ms(
      [&] {
        sgemm::sgemm_kernel<<<grid, sgemm::kThreads>>>(n, n, n, dA, dB, dC);
        CUDA_CHECK_LAUNCH();
      },
      2, static_cast<int>(repeats));
  const double gflops = flops / (ms * 1e6);
  CUDA_CHECK(cudaMemcpy(C.data(), dC, bytes, cudaMemcpyDeviceToHost));
  const CheckResult ck = check(A, B, C, n);
  bool pass = ck.pass;

  report_line(out, "kernel: %.3f ms, %.1f GFLOP/s\n", ms, gflops);
  report_line(out, "check: %ld entries%s, max abs error %.3e, max rel error %.3e: %s\n", ck.entries,
              n <= 512 ? " (all)" : " (rows 0 and N-1, 4096 random)", ck.max_abs, ck.max_rel,
              ck.pass ? "PASS" : "FAIL");

  double cublas_gflops = 0;
  if (use_cublas) {
#ifndef MATMUL_NO_CUBLAS
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));  // FP32 FFMA, no TF32 tensor cores
    if (std::getenv("NVIDIA_TF32_OVERRIDE"))
      std::printf("matmul: note: NVIDIA_TF32_OVERRIDE is set in the environment\n");
    CUDA_CHECK(cudaMemset(dC, 0xff, bytes));
    const float one = 1.f, zero = 0.f;
    // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: pass B first.
    const float cms = time_ms(
        [&] {
          CUBLAS_CHECK(
              cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, dB, n, dA, n, &zero, dC, n));
        },
        2, static_cast<int>(repeats));
    cublas_gflops = flops / (cms * 1e6);
    CUDA_CHECK(cudaMemcpy(C.data(), dC, bytes, cudaMemcpyDeviceToHost));
    const CheckResult cc = check(A, B, C, n);
    CUBLAS_CHECK(cublasDestroy(h));
    pass = pass && cc.pass;
    report_line(out, "cublas: %.3f ms, %.1f GFLOP/s; kernel/cublas %.2f\n", cms, cublas_gflops,
                gflops / cublas_gflops);
    report_line(out, "cublas check: max abs error %.3e, max rel error %.3e: %s\n", cc.max_abs,
                cc.max_rel, cc.pass ? "PASS" : "FAIL");
#endif
  }

  CUDA_CHECK(cudaFree(dA));
  CUDA_CHECK(cudaFree(dB));
  CUDA_CHECK(cudaFree(dC));
  // One line for scripts (bench/gpu_bench.sh reads it).
  report_line(out,
              "RESULT matmul N=%d device=\"%s\" kernel_ms=%.3f kernel_gflops=%.1f "
              "cublas_gflops=%.1f max_abs_err=%.3e %s\n",
              n, prop.name, ms, gflops, cublas_gflops, ck.max_abs, pass ? "PASS" : "FAIL");
  if (out && std::fclose(out) != 0) die(kExitUsage, "--out %s: %s", out_path, std::strerror(errno));
  return pass ? 0 : kExitFail;
}
