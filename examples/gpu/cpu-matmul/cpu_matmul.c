/* cpu-matmul — C = A · B for N×N single-precision matrices on the CPU: the
 * GPUJob example for clusters (and CI machines) without a GPU. Same inputs,
 * same check and the same output lines as ../matmul, so the whole GPUJob path
 * (build, Slurm, results) runs for real without a GPU.
 *
 *   cpu-matmul N [REPEATS] [--out FILE]
 *
 * N: 1..4096; REPEATS (default 3): timed runs after 1 warm-up run. The
 * multiply is cache-blocked (64×64×64 blocks, i-k-j inside a block so the
 * inner loop streams a row of B and C and vectorises). GFLOP/s = 2·N³/time.
 * The check: every entry for N ≤ 256; otherwise rows 0 and N-1 in full plus
 * 1024 random entries, against a double-precision reference; an entry passes
 * when |c - ref| ≤ (N+2)·FLT_EPSILON·Σ|a_ik·b_kj|.
 * Exit: 0 PASS, 1 FAIL, 2 usage. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { kBlock = 64 };

static void die(int code, const char *msg, const char *arg) {
  fprintf(stderr, "cpu-matmul: %s%s\n", msg, arg ? arg : "");
  exit(code);
}

static void usage(void) { die(2, "usage: cpu-matmul N [REPEATS] [--out FILE]  (N 1..4096, REPEATS 1..100)", NULL); }

static long parse_long(const char *s, const char *what, long lo, long hi) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
    fprintf(stderr, "cpu-matmul: %s must be an integer in [%ld, %ld], got '%s'\n", what, lo, hi, s);
    exit(2);
  }
  return v;
}

/* Deterministic inputs in [-1, 1): the same LCG as the CUDA examples. */
static void fill(float *v, size_t n, uint32_t seed) {
  uint32_t x = seed;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    v[i] = (float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
}

static void matmul(int n, const float *restrict A, const float *restrict B, float *restrict C) {
  memset(C, 0, sizeof(float) * (size_t)n * n);
  for (int i0 = 0; i0 < n; i0 += kBlock) {
    const int i1 = i0 + kBlock < n ? i0 + kBlock : n;
    for (int k0 = 0; k0 < n; k0 += kBlock) {
      const int k1 = k0 + kBlock < n ? k0 + kBlock : n;
      for (int j0 = 0; j0 < n; j0 += kBlock) {
        const int j1 = j0 + kBlock < n ? j0 + kBlock : n;
        for (int i = i0; i < i1; ++i) {
          float *c = C + (size_t)i * n;
          for (int k = k0; k < k1; ++k) {
            const float a = A[(size_t)i * n + k];
            const float *b = B + (size_t)k * n;
            for (int j = j0; j < j1; ++j) c[j] += a * b[j];
          }
        }
      }
    }
  }
}

struct check {
  long entries;
  double max_abs, max_rel;
  int pass;
};

static void check_entry(struct check *r, float got, double ref, double sabs, int n) {
  const double err = fabs((double)got - ref);
  const double rel = sabs > 0 ? err / sabs : err;
  ++r->entries;
  if (isnan(err)) r->max_abs = NAN;
  if (err > r->max_abs) r->max_abs = err;
  if (rel > r->max_rel) r->max_rel = rel;
  if (!(rel <= (n + 2) * (double)FLT_EPSILON)) r->pass = 0; /* NaN fails too */
}

static void check_one(struct check *r, const float *A, const float *B, const float *C, int n, int i, int j) {
  double ref = 0, sabs = 0;
  for (int k = 0; k < n; ++k) {
    const double p = (double)A[(size_t)i * n + k] * B[(size_t)k * n + j];
    ref += p;
    sabs += fabs(p);
  }
  check_entry(r, C[(size_t)i * n + j], ref, sabs, n);
}

static struct check check(const float *A, const float *B, const float *C, int n) {
  struct check r = {0, 0, 0, 1};
  if (n <= 256) {
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) check_one(&r, A, B, C, n, i, j);
    return r;
  }
  for (int j = 0; j < n; ++j) {
    check_one(&r, A, B, C, n, 0, j);
    check_one(&r, A, B, C, n, n - 1, j);
  }
  uint32_t x = 12345u;
  for (int s = 0; s < 1024; ++s) {
    x = x * 1664525u + 1013904223u;
    const int i = (int)((x >> 8) % (uint32_t)n);
    x = x * 1664525u + 1013904223u;
    const int j = (int)((x >> 8) % (uint32_t)n);
    check_one(&r, A, B, C, n, i, j);
  }
  return r;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Prints a line to stdout and, when given, to the summary file. */
static void report(FILE *out, const char *line) {
  fputs(line, stdout);
  if (out) fputs(line, out);
}

int main(int argc, char **argv) {
  long n_arg = -1, repeats = 3;
  const char *out_path = NULL;
  int positional = 0;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--out") == 0) {
      if (++i >= argc) usage();
      out_path = argv[i];
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage();
    } else if (argv[i][0] == '-') {
      die(2, "unknown option ", argv[i]);
    } else if (positional == 0) {
      n_arg = parse_long(argv[i], "N", 1, 4096), ++positional;
    } else if (positional == 1) {
      repeats = parse_long(argv[i], "REPEATS", 1, 100), ++positional;
    } else {
      usage();
    }
  }
  if (n_arg < 0) usage();
  const int n = (int)n_arg;
  FILE *out = NULL;
  if (out_path && !(out = fopen(out_path, "w"))) {
    fprintf(stderr, "cpu-matmul: --out %s: %s\n", out_path, strerror(errno));
    return 2;
  }
  const size_t elems = (size_t)n * n;
  float *A = malloc(sizeof(float) * elems), *B = malloc(sizeof(float) * elems), *C = malloc(sizeof(float) * elems);
  if (!A || !B || !C) die(2, "out of memory", NULL);
  fill(A, elems, 1u);
  fill(B, elems, 2u);
  printf("cpu-matmul: N=%d, repeats=%ld (+1 warm-up), blocked %dx%dx%d, one thread\n", n, repeats, kBlock, kBlock,
         kBlock);

  matmul(n, A, B, C); /* warm-up */
  const double t0 = now_s();
  for (long r = 0; r < repeats; ++r) matmul(n, A, B, C);
  const double ms = (now_s() - t0) * 1e3 / (double)repeats;
  const double gflops = 2.0 * n * (double)n * n / (ms * 1e6);
  const struct check ck = check(A, B, C, n);

  char line[512];
  snprintf(line, sizeof line, "kernel: %.3f ms, %.2f GFLOP/s\n", ms, gflops);
  report(out, line);
  snprintf(line, sizeof line, "check: %ld entries%s, max abs error %.3e, max rel error %.3e: %s\n", ck.entries,
           n <= 256 ? " (all)" : " (rows 0 and N-1, 1024 random)", ck.max_abs, ck.max_rel, ck.pass ? "PASS" : "FAIL");
  report(out, line);
  snprintf(line, sizeof line, "RESULT cpu-matmul N=%d kernel_ms=%.3f kernel_gflops=%.2f max_abs_err=%.3e %s\n", n,
           ms, gflops, ck.max_abs, ck.pass ? "PASS" : "FAIL");
  report(out, line);
  free(A);
  free(B);
  free(C);
  if (out && fclose(out) != 0) {
    fprintf(stderr, "cpu-matmul: --out %s: %s\n", out_path, strerror(errno));
    return 2;
  }
  return ck.pass ? 0 : 1;
}
