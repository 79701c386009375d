// Runs the examples/gpu/ kernels (sgemm_kernel.cuh, matadd_kernel.cuh) on the
// CPU through gpu_emu.h and compares them with a double-precision reference,
// over shapes that are not multiples of the tiles, K and N not multiples of 4
// (the scalar-load path), one-element and one-tile matrices. Each matrix is
// its own heap allocation of exactly its size, so ASan catches any access
// past an edge; UBSan's alignment check catches a misaligned float4.
// Prints one line per case and "emu: all N cases PASS"; exits 1 on a wrong
// entry (or earlier, on a sanitizer report).
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "gpu_emu.h"
// clang-format off
#include "matmul/sgemm_kernel.cuh"
#include "matadd/matadd_kernel.cuh"
// clang-format on

namespace {

void fill(std::vector<float>& v, uint32_t seed) {
  uint32_t x = seed;
  for (float& f : v) {
    x = x * 1664525u + 1013904223u;
    f = static_cast<float>(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
}

bool sgemm_case(int M, int N, int K) {
  std::vector<float> A(static_cast<size_t>(M) * K), B(static_cast<size_t>(K) * N),
      C(static_cast<size_t>(M) * N, NAN);
  fill(A, 7u + M);
  fill(B, 11u + N);
  const float* a = A.data();
  const float* b = B.data();
  float* c = C.data();
  emu_launch(sgemm::sgemm_grid(M, N), sgemm::kThreads,
             [&] { sgemm::sgemm_kernel(M, N, K, a, b, c); });
  double max_rel = 0;
  long bad = 0;
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      double ref = 0, sabs = 0;
      for (int k = 0; k < K; ++k) {
        const double p = static_cast<double>(A[static_cast<size_t>(i) * K + k]) *
                         B[static_cast<size_t>(k) * N + j];
        ref += p;
        sabs += std::fabs(p);
      }
      const double rel = std::fabs(C[static_cast<size_t>(i) * N + j] - ref) / (sabs > 0 ? sabs : 1);
      if (!(rel <= (K + 2) * static_cast<double>(FLT_EPSILON))) {
        if (bad++ < 3)
          std::printf("  sgemm %dx%dx%d: C[%d][%d] = %g, want %g\n", M, N, K, i, j,
                      C[static_cast<size_t>(i) * N + j], ref);
      }
      if (rel > max_rel || std::isnan(rel)) max_rel = rel;
    }
  }
  std::printf("emu sgemm M=%d N=%d K=%d: max rel error %.3e, %ld wrong: %s\n", M, N, K, max_rel,
              bad, bad ? "FAIL" : "PASS");
  return bad == 0;
}

bool matadd_case(size_t n, int sms) {
  std::vector<float> A(n), B(n), C(n, NAN);
  fill(A, 3u);
  fill(B, 5u);
  const float* a = A.data();
  const float* b = B.data();
  float* c = C.data();
  emu_launch(dim3(matadd::matadd_grid(n, sms)), matadd::kThreads,
             [&] { matadd::matadd_kernel(n, a, b, c); });
  long bad = 0;
  for (size_t i = 0; i < n; ++i)
    if (!(C[i] == A[i] + B[i])) ++bad;
  std::printf("emu matadd n=%zu (grid %u): %ld wrong: %s\n", n, matadd::matadd_grid(n, sms), bad,
              bad ? "FAIL" : "PASS");
  return bad == 0;
}

}  // namespace

int main() {
  struct Shape {
    int m, n, k;
  };
  // Whole tiles; one element; edges in every dimension; K and N not
  // multiples of 4 (scalar loads and stores); K < one stage; several stages.
  const Shape shapes[] = {{128, 128, 8},  {1, 1, 1},     {256, 128, 64}, {129, 130, 131},
                          {200, 257, 37}, {64, 96, 4},   {130, 132, 5},  {3, 300, 2},
                          {300, 3, 17},   {128, 256, 24}};
  int cases = 0, failed = 0;
  for (const Shape& s : shapes) {
    ++cases;
    if (!sgemm_case(s.m, s.n, s.k)) ++failed;
  }
  // Whole float4s, a tail of 1..3, fewer elements than one float4, and more
  // float4s than the grid has threads (the grid-stride loop goes round).
  const size_t lens[] = {1, 3, 4, 7, 1024, 1025, 1027, 130 * 130, 2 * 8 * 256 * 4 + 5};
  for (size_t n : lens) {
    ++cases;
    if (!matadd_case(n, 2)) ++failed;
  }
  if (failed) {
    std::printf("emu: %d of %d cases FAIL\n", failed, cases);
    return 1;
  }
  std::printf("emu: all %d cases PASS\n", cases);
  return 0;
}
