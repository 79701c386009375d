// sgemm_kernel.cuh — C = A · B in single precision, row-major, any M, N, K.
//
// A is M×K, B is K×N, C is M×N, each densely packed (leading dimension = the
// column count). Launch with sgemm_grid(M, N) blocks of kThreads threads.
//
// Tiling (the classic register-blocked SGEMM):
//   - a block computes a kBM×kBN (128×128) tile of C and walks K in steps of
//     kBK (8): each step it stages a 128×8 slice of A (stored transposed,
//     k-major, so a thread reads its 8 rows as two float4) and an 8×128 slice
//     of B in shared memory;
//   - each of the 256 threads owns 8×8 outputs in 64 registers: rows
//     ty*4+{0..3} and 64+ty*4+{0..3}, columns tx*4+{0..3} and 64+tx*4+{0..3}
//     (ty = tid/16, tx = tid%16). Splitting the 8 into two groups of 4 that
//     sit 64 apart makes the shared-memory reads of a warp conflict-free
//     (16 lanes read 16 consecutive float4 of B; A's reads are broadcasts)
//     and the C stores coalesced float4;
//   - double buffering: two shared-memory buffers; while the block computes
//     on one, each thread already holds the next slice (one float4 of A and
//     one of B) in registers, fetched from global memory before the math so
//     its latency hides behind 8×64 FMAs; one __syncthreads per K step.
//
// Edges: N, M and K need not be multiples of the tile. A load that would
// cross the matrix edge, or is not 16-byte aligned (K or N not a multiple of
// 4), falls back to guarded scalar loads that read zeros outside the matrix;
// stores are guarded the same way. The base pointers must be 16-byte aligned
// (cudaMalloc gives 256).
//
// This header is also compiled by the host-side emulator
// (test/e2e/gpu_kernel_emu.cc, through gpu_emu.h) that runs the kernel's
// index arithmetic on the CPU with one std::thread per CUDA thread; keep it
// to what gpu_emu.h provides (threadIdx, blockIdx, __syncthreads, float4,
// __shared__, __restrict__, __launch_bounds__).
#pragma once

namespace sgemm {

constexpr int kBM = 128;  // rows of C per block
constexpr int kBN = 128;  // columns of C per block
constexpr int kBK = 8;    // K per shared-memory stage
constexpr int kTM = 8;    // rows of C per thread
constexpr int kTN = 8;    // columns of C per thread
// As rows are padded by 4 floats: the transposed stores of a warp (k = 0 and
// k = 4, rows 0..15) then land on different banks; 132 floats keep the float4
// reads 16-byte aligned.
constexpr int kAPad = 4;
constexpr int kThreads = (kBM / kTM) * (kBN / kTN);  // 256
static_assert(kBM * kBK == 4 * kThreads, "one float4 of A per thread per stage");
static_assert(kBK * kBN == 4 * kThreads, "one float4 of B per thread per stage");

// Loads 4 consecutive floats p[col..col+3] of a row with `cols` columns,
// zeros past the edge; `vec` means the float4 load is aligned and in bounds.
__device__ __forceinline__ float4 load4(const float* __restrict__ row, int col, int cols,
                                        bool row_ok, bool vec) {
  float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
  if (!row_ok) return v;
  if (vec && col + 3 < cols) return *reinterpret_cast<const float4*>(row + col);
  if (col + 0 < cols) v.x = row[col + 0];
  if (col + 1 < cols) v.y = row[col + 1];
  if (col + 2 < cols) v.z = row[col + 2];
  if (col + 3 < cols) v.w = row[col + 3];
  return v;
}

__global__ void __launch_bounds__(kThreads, 2)
    sgemm_kernel(int M, int N, int K, const float* __restrict__ A, const float* __restrict__ B,
                 float* __restrict__ C) {
  // As[buf][k][m] (A transposed), Bs[buf][k][n]: about 16.5 KiB.
  __shared__ __align__(16) float As[2][kBK][kBM + kAPad];
  __shared__ __align__(16) float Bs[2][kBK][kBN];

  const int tid = threadIdx.x;
  const int tx = tid % (kBN / kTN);  // 0..15: column group
  const int ty = tid / (kBN / kTN);  // 0..15: row group
  const int block_row = blockIdx.y * kBM;
  const int block_col = blockIdx.x * kBN;

  // Global → shared assignment: A slice 128×8 (thread: row tid/2, k (tid%2)*4),
  // B slice 8×128 (thread: k tid/32, column (tid%32)*4).
  const int a_row = tid / 2;
  const int a_k = (tid % 2) * 4;
  const int b_k = tid / 32;
  const int b_col = (tid % 32) * 4;
  const bool a_row_ok = block_row + a_row < M;
  const float* a_ptr = A + static_cast<size_t>(a_row_ok ? block_row + a_row : 0) * K;
  const bool vec_a = (K % 4) == 0;
  const bool vec_b = (N % 4) == 0;

  const int k_tiles = (K + kBK - 1) / kBK;

  // Stage 0.
  float4 a_next = load4(a_ptr, a_k, K, a_row_ok, vec_a);
  float4 b_next =
      load4(B + static_cast<size_t>(b_k < K ? b_k : 0) * N, block_col + b_col, N, b_k < K, vec_b);
  As[0][a_k + 0][a_row] = a_next.x;
  As[0][a_k + 1][a_row] = a_next.y;
  As[0][a_k + 2][a_row] = a_next.z;
  As[0][a_k + 3][a_row] = a_next.w;
  *reinterpret_cast<float4*>(&Bs[0][b_k][b_col]) = b_next;
  __syncthreads();

  float acc[kTM][kTN];
#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int j = 0; j < kTN; ++j) acc[i][j] = 0.f;

  for (int kt = 0; kt < k_tiles; ++kt) {
    const int cur = kt & 1;
    const bool has_next = kt + 1 < k_tiles;
    if (has_next) {  // fetch the next slice into registers; used after the math
      const int k0 = (kt + 1) * kBK;
      a_next = load4(a_ptr, k0 + a_k, K, a_row_ok, vec_a);
      const int bk = k0 + b_k;
      b_next =
          load4(B + static_cast<size_t>(bk < K ? bk : 0) * N, block_col + b_col, N, bk < K, vec_b);
    }
#pragma unroll
    for (int k = 0; k < kBK; ++k) {
      float a_frag[kTM], b_frag[kTN];
      const float4 a0 = *reinterpret_cast<const float4*>(&As[cur][k][ty * 4]);
      const float4 a1 = *reinterpret_cast<const float4*>(&As[cur][k][kBM / 2 + ty * 4]);
      const float4 b0 = *reinterpret_cast<const float4*>(&Bs[cur][k][tx * 4]);
      const float4 b1 = *reinterpret_cast<const float4*>(&Bs[cur][k][kBN / 2 + tx * 4]);
      a_frag[0] = a0.x, a_frag[1] = a0.y, a_frag[2] = a0.z, a_frag[3] = a0.w;
      a_frag[4] = a1.x, a_frag[5] = a1.y, a_frag[6] = a1.z, a_frag[7] = a1.w;
      b_frag[0] = b0.x, b_frag[1] = b0.y, b_frag[2] = b0.z, b_frag[3] = b0.w;
      b_frag[4] = b1.x, b_frag[5] = b1.y, b_frag[6] = b1.z, b_frag[7] = b1.w;
#pragma unroll
      for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] += a_frag[i] * b_frag[j];
    }
    if (has_next) {  // the other buffer: nobody reads it until the barrier below
      const int nxt = cur ^ 1;
      As[nxt][a_k + 0][a_row] = a_next.x;
      As[nxt][a_k + 1][a_row] = a_next.y;
      As[nxt][a_k + 2][a_row] = a_next.z;
      As[nxt][a_k + 3][a_row] = a_next.w;
      *reinterpret_cast<float4*>(&Bs[nxt][b_k][b_col]) = b_next;
    }
    // Orders this step's reads of `cur` before the next step's writes to it,
    // and this step's writes of `nxt` before the next step's reads.
    __syncthreads();
  }

  // Store: row i of the thread's 8 is ty*4+i (i<4) or 64+ty*4+(i-4); its
  // columns are two groups of 4 at tx*4 and 64+tx*4.
#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    const int row = block_row + (i < 4 ? ty * 4 + i : kBM / 2 + ty * 4 + (i - 4));
    if (row >= M) continue;
    float* c_row = C + static_cast<size_t>(row) * N;
#pragma unroll
    for (int g = 0; g < 2; ++g) {
      const int col = block_col + g * (kBN / 2) + tx * 4;
      const float* v = &acc[i][g * 4];
      if (vec_b && col + 3 < N) {
        *reinterpret_cast<float4*>(c_row + col) = make_float4(v[0], v[1], v[2], v[3]);
      } else {
#pragma unroll
        for (int j = 0; j < 4; ++j)
          if (col + j < N) c_row[col + j] = v[j];
      }
    }
  }
}

// Grid for an M×N result: x over column tiles, y over row tiles.
inline dim3 sgemm_grid(int M, int N) { return dim3((N + kBN - 1) / kBN, (M + kBM - 1) / kBM); }

}  // namespace sgemm
