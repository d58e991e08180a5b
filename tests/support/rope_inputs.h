// Inputs of the rope and rope + KV-store op tests (tests/backend and tests/cuda, test_rope*.cpp): the
// inverse frequencies, shuffled cache rows to store into, and caches filled with a NaN no store produces.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace autoglm::test {

// NaNs of each cache type that no store of finite inputs produces: a row still holding one was not written.
constexpr uint32_t kCacheSentinel32 = 0x7fc0c0deu;  // f32
constexpr uint16_t kCacheSentinel16 = 0x7e5au;      // bf16 / f16
constexpr uint8_t kCacheSentinel8 = 0xffu;          // f8_e4m3

// inv_freq[i] = base^(-2 i / rotary_dim), f32 [rotary_dim / 2] on the host.
Tensor make_inv_freq(int rotary_dim, double base = 10000.0);

// t distinct cache rows in [1, capacity), shuffled by seed (row 0 is never named, so it must stay
// untouched); t = 3 with capacity > 9 takes {5, 2, 9}. I32 [t] on the host.
Tensor make_positions(int64_t t, int64_t capacity, uint64_t seed);

// A host cache of dtype (f32, bf16, f16 or f8_e4m3) holding its sentinel everywhere.
Tensor sentinel_cache(DType dtype, Shape shape);

}  // namespace autoglm::test
