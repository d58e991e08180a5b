#include "sampling/rng.h"

namespace autoglm {

Rng::Rng(uint64_t seed) : seed_(seed), engine_(seed) {}

uint64_t Rng::entropy_seed() {
  // random_device returns 32-bit values (unsigned int); two of them fill the 64-bit seed.
  std::random_device device;
  const uint64_t high = device();
  const uint64_t low = device();
  return (high << 32) ^ low;
}

uint64_t Rng::next_u64() {
  return engine_();
}

double Rng::next_double() {
  constexpr double kTwoPowMinus53 = 0x1p-53;
  return static_cast<double>(engine_() >> 11) * kTwoPowMinus53;
}

}  // namespace autoglm
