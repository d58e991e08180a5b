#include "backend/cuda/kernels/tensor_map.h"

#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <algorithm>

namespace autoglm::cuda_kernels {
namespace {

PFN_cuTensorMapEncodeTiled_v12000 encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
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

}  // namespace

bool tensor_maps_available() {
  return encoder() != nullptr;
}

bool encode_bf16_map(CUtensorMap* map, const void* base, std::initializer_list<uint64_t> dims,
                     std::initializer_list<uint64_t> strides_bytes, std::initializer_list<uint32_t> box,
                     CUtensorMapSwizzle swizzle) {
  constexpr size_t kMaxRank = 5;
  const size_t rank = dims.size();
  if (encoder() == nullptr || rank < 2 || rank > kMaxRank || strides_bytes.size() != rank - 1 ||
      box.size() != rank)
    return false;
  cuuint64_t d[kMaxRank], s[kMaxRank];
  cuuint32_t b[kMaxRank], e[kMaxRank];
  std::copy(dims.begin(), dims.end(), d);
  std::copy(strides_bytes.begin(), strides_bytes.end(), s);
  std::copy(box.begin(), box.end(), b);
  std::fill(e, e + rank, cuuint32_t{1});  // every element of a box, no stride
  return encoder()(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, static_cast<cuuint32_t>(rank),
                   const_cast<void*>(base), d, s, b, e, CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle,
                   CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

}  // namespace autoglm::cuda_kernels
