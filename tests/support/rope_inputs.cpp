#include "support/rope_inputs.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <numeric>
#include <random>
#include <vector>

namespace autoglm::test {

Tensor make_inv_freq(int rotary_dim, double base) {
  Tensor t = Tensor::host(DType::kF32, Shape{rotary_dim / 2});
  for (int i = 0; i < rotary_dim / 2; ++i)
    t.as<float>()[i] = static_cast<float>(1.0 / std::pow(base, 2.0 * i / rotary_dim));
  return t;
}

Tensor make_positions(int64_t t, int64_t capacity, uint64_t seed) {
  Tensor p = Tensor::host(DType::kI32, Shape{t});
  if (t == 3 && capacity > 9) {
    const int32_t fixed[] = {5, 2, 9};
    std::copy(std::begin(fixed), std::end(fixed), p.as<int32_t>());
    return p;
  }
  std::vector<int32_t> rows(static_cast<size_t>(capacity - 1));
  std::iota(rows.begin(), rows.end(), 1);
  std::mt19937_64 rng(seed);
  std::shuffle(rows.begin(), rows.end(), rng);
  std::copy(rows.begin(), rows.begin() + t, p.as<int32_t>());
  return p;
}

Tensor sentinel_cache(DType dtype, Shape shape) {
  Tensor t = Tensor::host(dtype, shape);
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dtype == DType::kF32) {
      std::memcpy(t.as<uint32_t>() + i, &kCacheSentinel32, 4);
    } else if (dtype == DType::kF8E4M3) {
      t.as<uint8_t>()[i] = kCacheSentinel8;
    } else {
      t.as<uint16_t>()[i] = kCacheSentinel16;
    }
  }
  return t;
}

}  // namespace autoglm::test
