// Tensor maps (CUtensorMap): what the Tensor Memory Accelerator's tensor copies (bulk_copy.cuh) read a tiled
// region of a global tensor through. Encoded on the host by the driver's cuTensorMapEncodeTiled, looked up
// once per process through the runtime (no link against libcuda). Private to kernels/.
#pragma once

#include <cuda.h>

#include <cstdint>
#include <initializer_list>

namespace autoglm::cuda_kernels {

// Whether the driver offers tensor maps (CUDA 12+ drivers do).
bool tensor_maps_available();

// A bf16 tensor of dims.size() (2-5) dimensions, innermost first; strides_bytes gives each dimension's after
// the first (multiples of 16 bytes), box the elements a copy moves along each. False where the driver
// refuses.
bool encode_bf16_map(CUtensorMap* map, const void* base, std::initializer_list<uint64_t> dims,
                     std::initializer_list<uint64_t> strides_bytes, std::initializer_list<uint32_t> box,
                     CUtensorMapSwizzle swizzle);

}  // namespace autoglm::cuda_kernels
