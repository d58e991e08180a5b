// The Hopper GEMM (gemm_wgmma.h): out[m, n] = x[m, k] . w[n, k]^T, bf16 operands, f32 accumulators.
//
// Shape: the products run as out^T = w . x^T, so a weight tile gives the wgmma's 64 rows and the tokens its N
//   (128, 192 or 256: any m pads to the next of these, not to a power of two). A block computes 128 weight
//   rows x N tokens: warpgroup 0 issues the copies, warpgroups 1 and 2 take 64 weight rows each against the
//   whole token tile, 64 k per stage (one 128-byte swizzled row of bf16: the layout wgmma reads), 4 to 6
//   stages in 192-200 KB of shared memory, one block per SM.
// Copies: the Tensor Memory Accelerator lands each stage's w tile (128 x 64) and x tile (N x 64) as boxes of
//   two tensor maps, swizzled on the way, counted on the stage's full barrier. Two blocks of neighbouring
//   weight tiles form a cluster and share the x tile: each copies half of it to both (multicast), so L2
//   delivers 16 + N / 2 x 128 bytes per stage and block instead of 16 + N x 128. A stage is refilled once
//   the consumers of both blocks released it (its empty barrier counts 4 arrivals).
// Persistent: one launch-sized grid of resident clusters walks the units (a token tile against a cluster's
//   two weight tiles), the copies running on across units. On the H100 this, not the products, set the
//   rate: one block per unit spent each block's first stages waiting for copies and left the tensor cores
//   idle while it stored; as many blocks as units ran at 0.16-0.49x cuBLASLt, persistent at 0.8-0.98x from
//   1,024 rows (docs/BENCHMARKS.md). Units go token tiles first, so the blocks running at once share weight
//   tiles: each is read from HBM about once per call and from L2 by its other token tiles.
// Every output element is one chain of 16-deep products over k in order, whatever m is or which token tile
//   the row falls in (no split over k): a row's results do not depend on its batch.
#include "backend/cuda/kernels/gemm_wgmma.h"

#include <cuda.h>
#include <cudaTypedefs.h>

#include <algorithm>

#include "backend/cuda/kernels/bulk_copy.cuh"
#include "backend/cuda/kernels/wgmma.cuh"

namespace autoglm::cuda_kernels {
namespace {

constexpr int kWeightRows = 128;  // per block: 64 per consumer warpgroup
constexpr int kDepth = 64;        // k per stage: 128 bytes of bf16
constexpr int kRowBytes = kDepth * 2;
constexpr int kThreads = 3 * wgmma::kWarpgroupThreads;
constexpr int kClusterBlocks = 2;
constexpr int kWeightTileBytes = kWeightRows * kRowBytes;

template <int N>
struct Tiles {
  static constexpr int kTokenTileBytes = N * kRowBytes;
  static constexpr int kStageBytes = kWeightTileBytes + kTokenTileBytes;
  static constexpr int kStages = (200 * 1024) / kStageBytes;  // 4 at N = 256, 5 at 192, 6 at 128
  // kSwiglu's results of a unit, per consumer warpgroup: N tokens x 32 columns of bf16, gathered so that
  // they leave as 16-byte stores along the token rows (2-byte stores scattered over rows half-fill L2
  // sectors).
  static constexpr int kGatherBytes = N * 32 * 2;
  // Stages, the two gathers, 1 KB to align (the swizzle repeats every 1,024 bytes), the barriers.
  static constexpr int kSharedBytes = kStages * kStageBytes + 2 * kGatherBytes + 1024 + 2 * kStages * 8;
};

struct Params {
  void* out;
  const float* addend;
  int64_t ldo;
  int m;
  int k_steps;
  int token_tiles;
  int weight_groups;  // weight tiles / kClusterBlocks
};

#if AUTOGLM_WGMMA_ARCH
__device__ __forceinline__ float silu_times(float g, float u) {
  return g / (1.0f + expf(-g)) * u;
}

template <int N, GemmEpilogue kEpilogue>
__device__ __forceinline__ void store_tile(const Params& p, const float (&d)[N / 2], int token_base, int r0) {
  // Accumulator layout: d[4 j + i] is weight row r0 (i < 2) or r0 + 8, token column 8 j + 2 q + (i & 1).
  const int q = threadIdx.x % 4;
#pragma unroll
  for (int j = 0; j < N / 8; ++j) {
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      const int t = token_base + 8 * j + 2 * q + c;
      if (t >= p.m) continue;
      const float lo = d[4 * j + c], hi = d[4 * j + 2 + c];
      if constexpr (kEpilogue == GemmEpilogue::kF32) {
        float* row = static_cast<float*>(p.out) + t * p.ldo;
        const float* add = p.addend != nullptr ? p.addend + t * p.ldo : nullptr;
        row[r0] = add != nullptr ? add[r0] + lo : lo;
        row[r0 + 8] = add != nullptr ? add[r0 + 8] + hi : hi;
      } else {
        static_assert(kEpilogue == GemmEpilogue::kBf16, "kSwiglu stores through store_swiglu_tile");
        __nv_bfloat16* row = static_cast<__nv_bfloat16*>(p.out) + t * p.ldo;
        row[r0] = __float2bfloat16_rn(lo);
        row[r0 + 8] = __float2bfloat16_rn(hi);
      }
    }
  }
}

// Barrier over one consumer warpgroup (ids 1 and 2; 0 is the block's).
__device__ __forceinline__ void warpgroup_barrier(int consumer) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(1 + consumer), "n"(wgmma::kWarpgroupThreads) : "memory");
}

// silu(gate) * up of a unit's 64 interleaved rows (rows 16 i .. 16 i + 7 gate, the next 8 up: 32 output
// columns from (r0 - r0 % 64) / 2 on) into `gather` as [token][32] bf16, then out to the token rows in
// 16-byte pieces, 4 threads per 64-byte row. Piece k of token t sits at piece k ^ ((t / 2) % 4) of its row,
// so the 4 token pairs a warp writes at once fall in different banks.
template <int N>
__device__ __forceinline__ void store_swiglu_tile(const Params& p, const float (&d)[N / 2], int token_base,
                                                  int r0, __nv_bfloat16* gather, int consumer) {
  const int q = threadIdx.x % 4;
  const int column = (r0 % 64 >> 4) * 8 + (r0 & 7);
#pragma unroll
  for (int j = 0; j < N / 8; ++j) {
#pragma unroll
    for (int c = 0; c < 2; ++c)
      gather[(8 * j + 2 * q + c) * 32 + (column ^ (q * 8))] =
          __float2bfloat16_rn(silu_times(d[4 * j + c], d[4 * j + 2 + c]));
  }
  warpgroup_barrier(consumer);
  const int first_column = (r0 - r0 % 64) / 2;
  const int thread = threadIdx.x % wgmma::kWarpgroupThreads;
#pragma unroll
  for (int i = thread; i < N * 4; i += wgmma::kWarpgroupThreads) {
    const int t = i / 4, piece = i % 4;
    if (token_base + t >= p.m) continue;
    const uint4 v = *reinterpret_cast<const uint4*>(gather + t * 32 + (piece ^ ((t >> 1) & 3)) * 8);
    *reinterpret_cast<uint4*>(static_cast<__nv_bfloat16*>(p.out) + (token_base + t) * p.ldo + first_column +
                              piece * 8) = v;
  }
  warpgroup_barrier(consumer);  // read out before the next unit writes it
}

#endif  // AUTOGLM_WGMMA_ARCH

// Persistent: the grid holds as many clusters as fit at once; cluster c takes units c, c + clusters, ...,
// a unit being one token tile against a pair of neighbouring weight tiles (one per block of the cluster),
// token tiles fastest. The copies run on across units (stage and phase count on), so the next unit's first
// stages land while the consumers store the last one's results.
template <int N, GemmEpilogue kEpilogue>
__global__ void __launch_bounds__(kThreads, 1)
    gemm_wgmma_kernel(const __grid_constant__ CUtensorMap w_map, const __grid_constant__ CUtensorMap x_map,
                      const Params p) {
#if AUTOGLM_WGMMA_ARCH
  using T = Tiles<N>;
  namespace bc = bulk_copy;
  extern __shared__ uint8_t shared_raw[];
  uint8_t* shared =
      reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(shared_raw) + 1023) & ~uintptr_t{1023});
  uint8_t* gathers = shared + T::kStages * T::kStageBytes;
  uint64_t* full = reinterpret_cast<uint64_t*>(gathers + 2 * T::kGatherBytes);
  uint64_t* empty = full + T::kStages;
  const int warpgroup = threadIdx.x / wgmma::kWarpgroupThreads;
  const uint32_t rank = bc::cluster_rank();
  const int clusters = gridDim.x / kClusterBlocks;
  const int cluster = blockIdx.x / kClusterBlocks;
  const int units = p.token_tiles * p.weight_groups;

  if (threadIdx.x == 0) {
    for (int s = 0; s < T::kStages; ++s) {
      bc::barrier_init(&full[s], 1);
      bc::barrier_init(&empty[s], 2 * kClusterBlocks);
    }
    bc::fence_barrier_init();
  }
  bc::cluster_sync();  // the peer's barriers exist before a copy or an arrival names them

  if (warpgroup == 0) {
    if (threadIdx.x == 0) {
      constexpr int kHalf = N / 2;
      int g = 0;  // steps issued, over all units
      for (int unit = cluster; unit < units; unit += clusters) {
        const int token_base = (unit % p.token_tiles) * N;
        const int weight_base =
            ((unit / p.token_tiles) * kClusterBlocks + static_cast<int>(rank)) * kWeightRows;
        for (int step = 0; step < p.k_steps; ++step, ++g) {
          const int s = g % T::kStages;
          bc::wait_phase(&empty[s], ((g / T::kStages) & 1) ^ 1);
          uint8_t* stage = shared + s * T::kStageBytes;
          bc::arrive_expecting(&full[s], T::kStageBytes);
          bc::copy_tile_to_shared(stage, &w_map, step * kDepth, weight_base, &full[s]);
          bc::copy_tile_to_cluster(stage + kWeightTileBytes + rank * kHalf * kRowBytes, &x_map, step * kDepth,
                                   token_base + static_cast<int>(rank) * kHalf, &full[s], 0x3);
        }
      }
    }
  } else {
    const int consumer = warpgroup - 1;
    const int lane = threadIdx.x % 32;
    const int warp = (threadIdx.x % wgmma::kWarpgroupThreads) / 32;
    // Thread r of the warpgroup's first warp releases stages in block r of the cluster.
    const bool releases = threadIdx.x % wgmma::kWarpgroupThreads < kClusterBlocks;
    int g = 0;
    float d[N / 2];
    for (int unit = cluster; unit < units; unit += clusters) {
      const int token_base = (unit % p.token_tiles) * N;
      const int weight_base =
          ((unit / p.token_tiles) * kClusterBlocks + static_cast<int>(rank)) * kWeightRows;
#pragma unroll
      for (int i = 0; i < N / 2; ++i)
        d[i] = 0.0f;
      for (int step = 0; step < p.k_steps; ++step, ++g) {
        const int s = g % T::kStages;
        bc::wait_phase(&full[s], (g / T::kStages) & 1);
        const uint32_t stage = bc::shared_address(shared + s * T::kStageBytes);
        const uint32_t a = stage + consumer * 64 * kRowBytes;
        const uint32_t b = stage + kWeightTileBytes;
        wgmma::fence();
#pragma unroll
        for (int kk = 0; kk < kDepth / 16; ++kk)
          wgmma::mma_64xNx16<N>(d, wgmma::k_major(a + kk * 32), wgmma::k_major(b + kk * 32), true);
        wgmma::commit();
        wgmma::wait<1>();  // the step before's products are done: its stage may be refilled
        if (step > 0 && releases)
          bc::arrive_in_cluster(&empty[(g - 1) % T::kStages], threadIdx.x % wgmma::kWarpgroupThreads);
      }
      wgmma::wait<0>();
      wgmma::fence_registers(d);
      if (releases)
        bc::arrive_in_cluster(&empty[(g - 1) % T::kStages], threadIdx.x % wgmma::kWarpgroupThreads);
      const int r0 = weight_base + consumer * 64 + warp * 16 + lane / 4;
      if constexpr (kEpilogue == GemmEpilogue::kSwiglu)
        store_swiglu_tile<N>(p, d, token_base, r0,
                             reinterpret_cast<__nv_bfloat16*>(gathers + consumer * T::kGatherBytes),
                             consumer);
      else
        store_tile<N, kEpilogue>(p, d, token_base, r0);
    }
  }
  bc::cluster_sync();  // no block leaves while its peer may still copy into it or arrive on its barriers
#endif
}

template <int N, GemmEpilogue kEpilogue>
bool kernel_built_for_hopper() {
  static const bool built = [] {
    cudaFuncAttributes attributes{};
    return cudaFuncGetAttributes(&attributes, gemm_wgmma_kernel<N, kEpilogue>) == cudaSuccess &&
           attributes.ptxVersion >= 90;
  }();
  return built;
}

PFN_cuTensorMapEncodeTiled_v12000 encode_function() {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &found) !=
            cudaSuccess ||
        found != cudaDriverEntryPointSuccess)
      return static_cast<PFN_cuTensorMapEncodeTiled_v12000>(nullptr);
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  }();
  return fn;
}

// A [rows, k] bf16 row-major matrix read in boxes of box_rows x 64, 128-byte swizzled.
bool encode_rows(CUtensorMap* map, const __nv_bfloat16* base, int64_t rows, int64_t k, int box_rows) {
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(k), static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(k) * 2};
  const cuuint32_t box[2] = {kDepth, static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t element_strides[2] = {1, 1};
  return encode_function()(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<__nv_bfloat16*>(base), dims,
                           strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                           CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                           CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

template <int N, GemmEpilogue kEpilogue>
cudaError_t launch_tiles(const GemmWgmmaArgs& args, cudaStream_t stream) {
  using T = Tiles<N>;
  CUtensorMap w_map, x_map;
  if (!encode_rows(&w_map, args.w, args.n, args.k, kWeightRows) ||
      !encode_rows(&x_map, args.x, args.m, args.k, N / 2))
    return cudaErrorInvalidValue;
  static const cudaError_t opted_in = cudaFuncSetAttribute(
      gemm_wgmma_kernel<N, kEpilogue>, cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSharedBytes);
  if (opted_in != cudaSuccess) return opted_in;
  const int token_tiles = static_cast<int>((args.m + N - 1) / N);
  const int weight_groups = static_cast<int>(args.n / (kWeightRows * kClusterBlocks));
  const Params p{
      args.out,    args.addend,  args.ldo, static_cast<int>(args.m), static_cast<int>(args.k / kDepth),
      token_tiles, weight_groups};
  cudaLaunchConfig_t config{};
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = T::kSharedBytes;
  config.stream = stream;
  cudaLaunchAttribute cluster{};
  cluster.id = cudaLaunchAttributeClusterDimension;
  cluster.val.clusterDim.x = kClusterBlocks;
  cluster.val.clusterDim.y = 1;
  cluster.val.clusterDim.z = 1;
  config.attrs = &cluster;
  config.numAttrs = 1;
  // As many clusters as are resident at once (a GPC holds whole clusters only), found once per kernel (the
  // GPUs of one process are of one kind).
  static const int resident = [&config] {
    int device = 0, sms = 0, clusters = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
      return 0;
    config.gridDim = dim3(static_cast<unsigned>(sms / kClusterBlocks * kClusterBlocks));
    return cudaOccupancyMaxActiveClusters(&clusters, gemm_wgmma_kernel<N, kEpilogue>, &config) == cudaSuccess
               ? clusters
               : 0;
  }();
  if (resident <= 0) return cudaErrorInvalidConfiguration;
  const int clusters = std::min(resident, token_tiles * weight_groups);
  config.gridDim = dim3(static_cast<unsigned>(clusters * kClusterBlocks));
  return cudaLaunchKernelEx(&config, gemm_wgmma_kernel<N, kEpilogue>, w_map, x_map, p);
}

template <int N>
cudaError_t launch_epilogue(const GemmWgmmaArgs& args, cudaStream_t stream) {
  switch (args.epilogue) {
    case GemmEpilogue::kF32:
      return launch_tiles<N, GemmEpilogue::kF32>(args, stream);
    case GemmEpilogue::kBf16:
      return launch_tiles<N, GemmEpilogue::kBf16>(args, stream);
    case GemmEpilogue::kSwiglu:
      return launch_tiles<N, GemmEpilogue::kSwiglu>(args, stream);
  }
  return cudaErrorInvalidValue;
}

// The token tile that pads m least; the wider one on a tie (fewer blocks, each weight tile read fewer times).
int token_tile(int64_t m) {
  int best = 256;
  int64_t best_padded = (m + 255) / 256 * 256;
  for (int n : {192, 128}) {
    const int64_t padded = (m + n - 1) / n * n;
    if (padded < best_padded) best = n, best_padded = padded;
  }
  return best;
}

}  // namespace

bool gemm_wgmma_supported(int device, const GemmWgmmaArgs& args) {
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess)
    return false;
  const bool shape = args.m >= 1 && args.m <= (int64_t{1} << 30) && args.k % kDepth == 0 && args.k > 0 &&
                     args.n % (kClusterBlocks * kWeightRows) == 0 && args.n <= (int64_t{1} << 30) &&
                     args.k <= (int64_t{1} << 30);
  const int64_t columns = args.epilogue == GemmEpilogue::kSwiglu ? args.n / 2 : args.n;
  const bool aligned = args.ldo >= columns && reinterpret_cast<uintptr_t>(args.x) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(args.w) % 16 == 0 && args.out != nullptr &&
                       (args.addend == nullptr || args.epilogue == GemmEpilogue::kF32) &&
                       (args.epilogue != GemmEpilogue::kSwiglu ||
                        (reinterpret_cast<uintptr_t>(args.out) % 16 == 0 && args.ldo % 8 == 0));
  return major == 9 && minor == 0 && shape && aligned && encode_function() != nullptr &&
         kernel_built_for_hopper<256, GemmEpilogue::kF32>();
}

cudaError_t launch_gemm_wgmma(const GemmWgmmaArgs& args, cudaStream_t stream) {
  switch (token_tile(args.m)) {
    case 128:
      return launch_epilogue<128>(args, stream);
    case 192:
      return launch_epilogue<192>(args, stream);
    default:
      return launch_epilogue<256>(args, stream);
  }
}

int64_t source_row_of_interleaved(int64_t r, int64_t f) {
  const int64_t group = r / 16, within = r % 16;
  return within < 8 ? group * 8 + within : f + group * 8 + within - 8;
}

}  // namespace autoglm::cuda_kernels
