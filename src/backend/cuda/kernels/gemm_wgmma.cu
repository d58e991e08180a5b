// The Hopper GEMM (gemm_wgmma.h): out[m, n] = x[m, k] . w[n, k]^T, bf16 operands, f32 accumulators.
//
// Shape: the products run as out^T = w . x^T, so a weight tile gives the wgmma's 64 rows and the tokens its N
//   (128, 192 or 256: gemm_wgmma_token_tile weighs the rounds of units a tile needs against its cost per
//   row). A block computes 128 weight rows x N tokens: warpgroup 0 issues the copies, warpgroups 1 and 2 take
//   64 weight rows each against the whole token tile, 64 k per stage (one 128-byte swizzled row of bf16: the
//   layout wgmma reads), 4 to 6 stages in 192-200 KB of shared memory, one block per SM.
// Copies: the Tensor Memory Accelerator lands each stage's w tile (128 x 64) and x tile (N x 64) as boxes of
//   two tensor maps, swizzled on the way, counted on the stage's full barrier. Two blocks of neighbouring
//   weight tiles form a cluster and share the x tile: each copies half of it to both (multicast), so L2
//   delivers 16 + N / 2 x 128 bytes per stage and block instead of 16 + N x 128. A stage is refilled once
//   the consumers of both blocks released it (its empty barrier counts 4 arrivals).
// Persistent: one launch-sized grid of resident clusters walks the units (a token tile against a cluster's
//   two weight tiles), the copies running on across units. On the H100 this, not the products, set the
//   rate: one block per unit spent each block's first stages waiting for copies and left the tensor cores
//   idle while it stored; as many blocks as units ran at 0.16-0.49x cuBLASLt, persistent at 0.8-0.98x from
//   1,024 rows (docs/BENCHMARKS.md). Units go token tiles first (unit_place), so the blocks running at once
//   share weight tiles: each is read from HBM about once per call and from L2 by its other token tiles; where
//   the token rows outgrow L2, in raster groups of a few weight-tile pairs, so that they are read from HBM
//   once per group rather than once per pair. A last round that would fill at most half the clusters runs as
//   halves of its units' token tiles (N / 2 rows, boxes of their own maps) on up to all of them: at 300-800
//   rows the call lasts 3-6 rounds, and a fraction of a round left idle most of the device for a whole one.
// Every output element is one chain of 16-deep products over k in order, whatever m is or which token tile
//   the row falls in (no split over k): a row's results do not depend on its batch.
#include "backend/cuda/kernels/gemm_wgmma.h"

#include <algorithm>

#include "backend/cuda/kernels/bulk_copy.cuh"
#include "backend/cuda/kernels/tensor_map.h"
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
  int group_pairs;    // weight-tile pairs per raster group
  int whole_units;    // work items that are whole units; the rest are halves of the units after them
  int items;          // work items in all
};

#if AUTOGLM_WGMMA_ARCH
// Unit u's token tile (its first row) and weight-tile pair. Units go in groups of group_pairs pairs, token
// tiles before pairs within a group: the clusters at work at once share a few pairs' weights and the token
// tiles, so the weights come from HBM about once per call and the token rows once per group.
struct UnitPlace {
  int token_base, weight_group;
};
__device__ __forceinline__ UnitPlace unit_place(int unit, const Params& p, int n) {
  const int span = p.group_pairs * p.token_tiles;
  const int group = unit / span, within = unit % span;
  const int pairs = p.weight_groups - group * p.group_pairs < p.group_pairs
                        ? p.weight_groups - group * p.group_pairs
                        : p.group_pairs;
  return {within / pairs * n, group * p.group_pairs + within % pairs};
}

// Work item i: a whole unit (i < whole_units) or, past those, half of one of the last units' token tile (the
// last round split so that it spreads over every cluster, see split_last_round).
struct Item {
  int token_base, weight_group;
  bool half;
};
__device__ __forceinline__ Item item_place(int item, const Params& p, int n) {
  if (item < p.whole_units) {
    const UnitPlace u = unit_place(item, p, n);
    return {u.token_base, u.weight_group, false};
  }
  const int h = item - p.whole_units;
  const UnitPlace u = unit_place(p.whole_units + h / 2, p, n);
  return {u.token_base + h % 2 * (n / 2), u.weight_group, true};
}

// The first of the kWeightRows rows this block of the cluster takes in item `it` (its half of the pair).
__device__ __forceinline__ int block_weight_base(const Item& it, uint32_t rank) {
  return (it.weight_group * kClusterBlocks + static_cast<int>(rank)) * kWeightRows;
}

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

// silu(gate) * up of a unit's 64 tile rows (rows 16 i .. 16 i + 7 gate, the next 8 up: 32 output columns
// from (r0 - r0 % 64) / 2 on) into `gather` as [token][32] bf16 in the 64-byte swizzle (16-byte piece
// k of token t at piece k ^ ((t / 2) % 4): the 4 token pairs a warp writes at once fall in different banks),
// then one tensor store of the whole [N, 32] box, which leaves rows past m unwritten. The store runs on while
// the warpgroup goes on to its next unit's products; the next epilogue waits until it has read the gather.
template <int N>
__device__ __forceinline__ void store_swiglu_tile(const CUtensorMap& out_map, const float (&d)[N / 2],
                                                  int token_base, int r0, __nv_bfloat16* gather,
                                                  int consumer) {
  const int q = threadIdx.x % 4;
  const bool leader = threadIdx.x % wgmma::kWarpgroupThreads == 0;
  const int column = (r0 % 64 >> 4) * 8 + (r0 & 7);
  if (leader) bulk_copy::wait_stores_read();
  warpgroup_barrier(consumer);
#pragma unroll
  for (int j = 0; j < N / 8; ++j) {
#pragma unroll
    for (int c = 0; c < 2; ++c)
      gather[(8 * j + 2 * q + c) * 32 + (column ^ (q * 8))] =
          __float2bfloat16_rn(silu_times(d[4 * j + c], d[4 * j + 2 + c]));
  }
  bulk_copy::fence_shared_for_async_proxy();
  warpgroup_barrier(consumer);
  if (leader) {
    bulk_copy::store_tile_from_shared(&out_map, (r0 - r0 % 64) / 2, token_base, gather);
    bulk_copy::commit_stores();
  }
}

#endif  // AUTOGLM_WGMMA_ARCH

#if AUTOGLM_WGMMA_ARCH
// The shared memory of a block: kStages stages of [weight tile | token tile], the two consumers' gathers and
// the stages' full and empty barriers.
struct SharedLayout {
  uint8_t* stages;
  uint8_t* gathers;
  uint64_t* full;
  uint64_t* empty;
};

// Queues the k steps of one work item of NT token rows (N or N / 2): each stage's weight tile, and this
// block's half of the token rows multicast to both blocks of the cluster. `g` counts steps over all items.
template <int N, int NT, GemmEpilogue kEpilogue>
__device__ __forceinline__ void produce_item(const SharedLayout& sh, const CUtensorMap* w_map,
                                             const CUtensorMap* x_map, const Params& p, int token_base,
                                             int weight_base, uint32_t rank, int& g) {
  using T = Tiles<N>;
  namespace bc = bulk_copy;
  constexpr int kHalf = NT / 2;
  constexpr uint32_t kBytes = kWeightTileBytes + NT * kRowBytes;
  for (int step = 0; step < p.k_steps; ++step, ++g) {
    const int s = g % T::kStages;
    bc::wait_phase(&sh.empty[s], ((g / T::kStages) & 1) ^ 1);
    uint8_t* stage = sh.stages + s * T::kStageBytes;
    bc::arrive_expecting(&sh.full[s], kBytes);
    if constexpr (kEpilogue == GemmEpilogue::kSwiglu) {
      // w = [gate | up] seen as [f / 8][gate, up][8][k] (launch_tiles): tile rows 16 i .. 16 i + 7 are gate
      // rows, the next 8 the matching up rows, so a thread's accumulators hold a gate and its up.
      bc::copy_box4_to_shared(stage, w_map, step * kDepth, 0, 0, weight_base / 16, &sh.full[s]);
    } else {
      bc::copy_tile_to_shared(stage, w_map, step * kDepth, weight_base, &sh.full[s]);
    }
    bc::copy_tile_to_cluster(stage + kWeightTileBytes + rank * kHalf * kRowBytes, x_map, step * kDepth,
                             token_base + static_cast<int>(rank) * kHalf, &sh.full[s], 0x3);
  }
}

// The products of one work item of NT token rows against this consumer's 64 weight rows, then its epilogue.
template <int N, int NT, GemmEpilogue kEpilogue>
__device__ __forceinline__ void consume_item(const SharedLayout& sh, float (&d)[NT / 2],
                                             const CUtensorMap& out_map, const Params& p, int token_base,
                                             int weight_base, int consumer, int& g) {
  using T = Tiles<N>;
  namespace bc = bulk_copy;
  const int lane = threadIdx.x % 32;
  const int warp = (threadIdx.x % wgmma::kWarpgroupThreads) / 32;
  // Thread r of the warpgroup's first warp releases stages in block r of the cluster.
  const bool releases = threadIdx.x % wgmma::kWarpgroupThreads < kClusterBlocks;
#pragma unroll
  for (int i = 0; i < NT / 2; ++i)
    d[i] = 0.0f;
  for (int step = 0; step < p.k_steps; ++step, ++g) {
    const int s = g % T::kStages;
    bc::wait_phase(&sh.full[s], (g / T::kStages) & 1);
    const uint32_t stage = bc::shared_address(sh.stages + s * T::kStageBytes);
    const uint32_t a = stage + consumer * 64 * kRowBytes;
    const uint32_t b = stage + kWeightTileBytes;
    wgmma::fence();
#pragma unroll
    for (int kk = 0; kk < kDepth / 16; ++kk)
      wgmma::mma_64xNx16<NT>(d, wgmma::k_major(a + kk * 32), wgmma::k_major(b + kk * 32), true);
    wgmma::commit();
    wgmma::wait<1>();  // the step before's products are done: its stage may be refilled
    if (step > 0 && releases)
      bc::arrive_in_cluster(&sh.empty[(g - 1) % T::kStages], threadIdx.x % wgmma::kWarpgroupThreads);
  }
  wgmma::wait<0>();
  wgmma::fence_registers(d);
  if (releases)
    bc::arrive_in_cluster(&sh.empty[(g - 1) % T::kStages], threadIdx.x % wgmma::kWarpgroupThreads);
  const int r0 = weight_base + consumer * 64 + warp * 16 + lane / 4;
  if constexpr (kEpilogue == GemmEpilogue::kSwiglu)
    store_swiglu_tile<NT>(out_map, d, token_base, r0,
                          reinterpret_cast<__nv_bfloat16*>(sh.gathers + consumer * T::kGatherBytes),
                          consumer);
  else
    store_tile<NT, kEpilogue>(p, d, token_base, r0);
}
#endif  // AUTOGLM_WGMMA_ARCH

// Persistent: the grid holds as many clusters as fit at once; cluster c takes work items c, c + clusters,
// ..., an item being one token tile (or half of one, in the last round) against a pair of neighbouring weight
// tiles (one per block of the cluster), token tiles fastest. The copies run on across items (stage and phase
// count on), so the next item's first stages land while the consumers store the last one's results. The
// `half` maps are the token rows' and the results' in boxes of half the token tile.
template <int N, GemmEpilogue kEpilogue>
__global__ void __launch_bounds__(kThreads, 1)
    gemm_wgmma_kernel(const __grid_constant__ CUtensorMap w_map, const __grid_constant__ CUtensorMap x_map,
                      const __grid_constant__ CUtensorMap x_half_map,
                      const __grid_constant__ CUtensorMap out_map,
                      const __grid_constant__ CUtensorMap out_half_map, const Params p) {
#if AUTOGLM_WGMMA_ARCH
  using T = Tiles<N>;
  namespace bc = bulk_copy;
  extern __shared__ uint8_t shared_raw[];
  uint8_t* shared =
      reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(shared_raw) + 1023) & ~uintptr_t{1023});
  SharedLayout sh;
  sh.stages = shared;
  sh.gathers = shared + T::kStages * T::kStageBytes;
  sh.full = reinterpret_cast<uint64_t*>(sh.gathers + 2 * T::kGatherBytes);
  sh.empty = sh.full + T::kStages;
  const int warpgroup = threadIdx.x / wgmma::kWarpgroupThreads;
  const uint32_t rank = bc::cluster_rank();
  const int clusters = gridDim.x / kClusterBlocks;
  const int cluster = blockIdx.x / kClusterBlocks;

  if (threadIdx.x == 0) {
    for (int s = 0; s < T::kStages; ++s) {
      bc::barrier_init(&sh.full[s], 1);
      bc::barrier_init(&sh.empty[s], 2 * kClusterBlocks);
    }
    bc::fence_barrier_init();
  }
  bc::cluster_sync();  // the peer's barriers exist before a copy or an arrival names them

  // Producer and consumers walk the same items and skip the same ones (halves wholly past m), so their step
  // counts stay in step.
  if (warpgroup == 0) {
    if (threadIdx.x == 0) {
      int g = 0;
      for (int item = cluster; item < p.items; item += clusters) {
        const Item it = item_place(item, p, N);
        if (it.token_base >= p.m) continue;
        const int weight_base = block_weight_base(it, rank);
        if (it.half)
          produce_item<N, N / 2, kEpilogue>(sh, &w_map, &x_half_map, p, it.token_base, weight_base, rank, g);
        else
          produce_item<N, N, kEpilogue>(sh, &w_map, &x_map, p, it.token_base, weight_base, rank, g);
      }
    }
  } else {
    const int consumer = warpgroup - 1;
    int g = 0;
    float d[N / 2];
    for (int item = cluster; item < p.items; item += clusters) {
      const Item it = item_place(item, p, N);
      if (it.token_base >= p.m) continue;
      const int weight_base = block_weight_base(it, rank);
      if (it.half) {
        // The half's accumulators are the first N / 4 of the whole's: no registers beside them.
        float(&dh)[N / 4] = *reinterpret_cast<float(*)[N / 4]>(&d[0]);
        consume_item<N, N / 2, kEpilogue>(sh, dh, out_half_map, p, it.token_base, weight_base, consumer, g);
      } else {
        consume_item<N, N, kEpilogue>(sh, d, out_map, p, it.token_base, weight_base, consumer, g);
      }
    }
    if (kEpilogue == GemmEpilogue::kSwiglu && threadIdx.x % wgmma::kWarpgroupThreads == 0)
      bc::wait_stores();  // the gather stays in place until the last store has read it
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

// An operand [rows, k] read in boxes of box_rows x 64, 128-byte swizzled (the layout wgmma reads).
bool encode_operand(CUtensorMap* map, const __nv_bfloat16* base, int64_t rows, int64_t k, int box_rows) {
  return encode_bf16_map(map, base, {static_cast<uint64_t>(k), static_cast<uint64_t>(rows)},
                         {static_cast<uint64_t>(k) * 2}, {kDepth, static_cast<uint32_t>(box_rows)},
                         CU_TENSOR_MAP_SWIZZLE_128B);
}

// w = [gate (f rows) | up (f rows)] as a 4-D map [f / 8][2][8][k] (innermost last here; the map lists them
// innermost first): a box of 8 x (gate, up) x 8 rows x 64 k lands a weight tile as 16-row groups of 8 gate
// rows and their 8 up rows, in one copy. (The row strides do not nest -- the group stride, 8 rows, is below
// the gate/up one, f rows -- which the copy unit takes; 16 copies of 8 rows each ran 20-25% slower.)
bool encode_gate_up(CUtensorMap* map, const __nv_bfloat16* w, int64_t f, int64_t k) {
  const uint64_t row = static_cast<uint64_t>(k) * 2;
  return encode_bf16_map(map, w, {static_cast<uint64_t>(k), 8, 2, static_cast<uint64_t>(f / 8)},
                         {row, static_cast<uint64_t>(f) * row, 8 * row}, {kDepth, 8, 2, kWeightRows / 16},
                         CU_TENSOR_MAP_SWIZZLE_128B);
}

// A launch of `blocks` blocks of kThreads in clusters of kClusterBlocks; the config points at `cluster`.
cudaLaunchConfig_t cluster_launch(cudaLaunchAttribute& cluster, int blocks, size_t shared_bytes,
                                  cudaStream_t stream) {
  cluster = {};
  cluster.id = cudaLaunchAttributeClusterDimension;
  cluster.val.clusterDim.x = kClusterBlocks;
  cluster.val.clusterDim.y = 1;
  cluster.val.clusterDim.z = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(blocks));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  config.attrs = &cluster;
  config.numAttrs = 1;
  return config;
}

// Clusters resident at once: every instantiation holds one block per SM in 190-230 KB of shared memory, so
// the count is one kernel's, found once (the GPUs of one process are of one kind). A GPC holds whole clusters
// only: on the H100, 66 of 2 blocks.
int resident_clusters() {
  static const int resident = [] {
    using K = Tiles<256>;
    constexpr auto kernel = gemm_wgmma_kernel<256, GemmEpilogue::kF32>;
    int device = 0, sms = 0, clusters = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, K::kSharedBytes) !=
            cudaSuccess)
      return 0;
    cudaLaunchAttribute cluster;
    const cudaLaunchConfig_t config =
        cluster_launch(cluster, sms / kClusterBlocks * kClusterBlocks, K::kSharedBytes, nullptr);
    return cudaOccupancyMaxActiveClusters(&clusters, kernel, &config) == cudaSuccess ? clusters : 0;
  }();
  return resident;
}

// The work items of `units` units on `clusters` clusters: where the last round would leave more than half of
// the clusters idle, its units go as two halves of their token tile each (N / 2 rows), one round of halves
// on as many clusters instead of a round of whole units on half as many or fewer. A half's rows cost more
// (the weight tile serves fewer products) but its round takes about half as long.
struct WorkItems {
  int64_t whole_units, items;
};
WorkItems split_last_round(int64_t units, int clusters, bool allowed) {
  const int64_t rest = units % clusters;
  if (!allowed || rest == 0 || 2 * rest > clusters) return {units, units};
  return {units - rest, units + rest};
}

// Weight-tile pairs per raster group. Token tiles first over all pairs (groups of 1) while the token rows
// stay in L2 beside the weights in flight; past ~24 MB of them (half the H100's L2), groups of as many pairs
// as keep ~16 MB of weights in flight. On the H100 (gate/up, k = 4,096): groups of 8 were ~3% faster at 8,192
// rows (64 MB of tokens) and 1-3% slower at 1,024-2,048 (docs/BENCHMARKS.md).
int default_group_pairs(int64_t m, int64_t k, int weight_groups) {
  if (m * k * 2 <= (int64_t{24} << 20)) return 1;
  const int64_t pair_bytes = int64_t{kClusterBlocks} * kWeightRows * k * 2;
  return static_cast<int>(std::clamp<int64_t>((int64_t{16} << 20) / pair_bytes, 1, weight_groups));
}

// kSwiglu's stores: out [m, n / 2] in boxes of `tokens` x 32 columns, in the gather's 64-byte swizzle.
bool encode_swiglu_out(CUtensorMap* map, const GemmWgmmaArgs& args, int tokens) {
  return encode_bf16_map(map, args.out, {static_cast<uint64_t>(args.n / 2), static_cast<uint64_t>(args.m)},
                         {static_cast<uint64_t>(args.ldo) * 2}, {32, static_cast<uint32_t>(tokens)},
                         CU_TENSOR_MAP_SWIZZLE_64B);
}

template <int N, GemmEpilogue kEpilogue>
cudaError_t launch_tiles(const GemmWgmmaArgs& args, int resident, cudaStream_t stream) {
  using T = Tiles<N>;
  CUtensorMap w_map, x_map, x_half_map, out_map{}, out_half_map{};
  const bool w_encoded = kEpilogue == GemmEpilogue::kSwiglu
                             ? encode_gate_up(&w_map, args.w, args.n / 2, args.k)
                             : encode_operand(&w_map, args.w, args.n, args.k, kWeightRows);
  if (!w_encoded || !encode_operand(&x_map, args.x, args.m, args.k, N / 2) ||
      !encode_operand(&x_half_map, args.x, args.m, args.k, N / 4))
    return cudaErrorInvalidValue;
  if (kEpilogue == GemmEpilogue::kSwiglu &&
      (!encode_swiglu_out(&out_map, args, N) || !encode_swiglu_out(&out_half_map, args, N / 2)))
    return cudaErrorInvalidValue;
  static const cudaError_t opted_in = cudaFuncSetAttribute(
      gemm_wgmma_kernel<N, kEpilogue>, cudaFuncAttributeMaxDynamicSharedMemorySize, T::kSharedBytes);
  if (opted_in != cudaSuccess) return opted_in;
  Params p{};
  p.out = args.out;
  p.addend = args.addend;
  p.ldo = args.ldo;
  p.m = static_cast<int>(args.m);
  p.k_steps = static_cast<int>(args.k / kDepth);
  p.token_tiles = static_cast<int>((args.m + N - 1) / N);
  p.weight_groups = static_cast<int>(args.n / (kWeightRows * kClusterBlocks));
  p.group_pairs = args.group_pairs > 0 ? std::min(args.group_pairs, p.weight_groups)
                                       : default_group_pairs(args.m, args.k, p.weight_groups);
  const WorkItems work =
      split_last_round(int64_t{p.token_tiles} * p.weight_groups, resident, args.split_last_round);
  p.whole_units = static_cast<int>(work.whole_units);
  p.items = static_cast<int>(work.items);
  const int clusters = static_cast<int>(std::min<int64_t>(resident, work.items));
  cudaLaunchAttribute cluster;
  const cudaLaunchConfig_t config =
      cluster_launch(cluster, clusters * kClusterBlocks, T::kSharedBytes, stream);
  return cudaLaunchKernelEx(&config, gemm_wgmma_kernel<N, kEpilogue>, w_map, x_map, x_half_map, out_map,
                            out_half_map, p);
}

template <int N>
cudaError_t launch_epilogue(const GemmWgmmaArgs& args, int resident, cudaStream_t stream) {
  switch (args.epilogue) {
    case GemmEpilogue::kF32:
      return launch_tiles<N, GemmEpilogue::kF32>(args, resident, stream);
    case GemmEpilogue::kBf16:
      return launch_tiles<N, GemmEpilogue::kBf16>(args, resident, stream);
    case GemmEpilogue::kSwiglu:
      return launch_tiles<N, GemmEpilogue::kSwiglu>(args, resident, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace

int gemm_wgmma_token_tile(int64_t m, int64_t n, int clusters, bool split) {
  // A unit holds one cluster for its N token rows' worth of products and the call lasts ceil(units /
  // clusters) rounds; a row costs more in a narrower tile (more weight bytes per product through L2 and more
  // stages per unit): on the H100, with many units per cluster, 1.10x at 192 and 1.17x at 128 against 256
  // (gate/up at 2,048 and 8,192 rows, docs/BENCHMARKS.md). The lowest estimate wins, the wider tile on a tie.
  // Where the last round splits (split_last_round), it costs half a tile's rows at the half tile's cost per
  // row (96 and 64 rows: estimates between 128's and the smem-bound wgmma of 64 columns).
  constexpr struct {
    int tile, cost, half_cost;  // per row, in hundredths of a 256-token tile's
  } kTiles[] = {{256, 100, 117}, {192, 110, 125}, {128, 117, 140}};
  const int64_t pairs = n / (kWeightRows * kClusterBlocks);
  int best = 0;
  int64_t best_cost = 0;
  for (const auto& t : kTiles) {
    const WorkItems work = split_last_round((m + t.tile - 1) / t.tile * pairs, clusters, split);
    const int64_t whole_rounds = (work.whole_units + clusters - 1) / clusters;
    const int64_t cost =
        whole_rounds * t.tile * t.cost + (work.items > work.whole_units ? t.tile / 2 * t.half_cost : 0);
    if (best == 0 || cost < best_cost) best = t.tile, best_cost = cost;
  }
  return best;
}

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
  const bool tiling =
      (args.token_tile == 0 || args.token_tile == 128 || args.token_tile == 192 || args.token_tile == 256) &&
      args.group_pairs >= 0;
  return major == 9 && minor == 0 && shape && aligned && tiling && tensor_maps_available() &&
         kernel_built_for_hopper<256, GemmEpilogue::kF32>();
}

cudaError_t launch_gemm_wgmma(const GemmWgmmaArgs& args, cudaStream_t stream) {
  const int resident = resident_clusters();
  if (resident <= 0) return cudaErrorInvalidConfiguration;
  switch (args.token_tile > 0 ? args.token_tile
                              : gemm_wgmma_token_tile(args.m, args.n, resident, args.split_last_round)) {
    case 128:
      return launch_epilogue<128>(args, resident, stream);
    case 192:
      return launch_epilogue<192>(args, resident, stream);
    default:
      return launch_epilogue<256>(args, resident, stream);
  }
}

}  // namespace autoglm::cuda_kernels
