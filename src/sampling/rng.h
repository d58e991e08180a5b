// The per-request random generator behind sampling.
//
// Reproducibility across platforms is the point: a request with a seed must draw the same tokens on any
// compiler, standard library and CPU. So the engine is std::mt19937_64, whose output sequence (and seeding
// from one integer) the C++ standard specifies exactly, and doubles are made from its bits here rather
// than by std::uniform_real_distribution, whose output each standard library defines its own way.
//
// Not thread-safe: one Rng belongs to one request, used by one thread at a time.
#pragma once

#include <cstdint>
#include <random>

namespace autoglm {

class Rng {
 public:
  explicit Rng(uint64_t seed);

  // A 64-bit seed from std::random_device, for requests that gave none.
  static uint64_t entropy_seed();

  // The seed this generator started from (worth logging when it came from entropy_seed()).
  uint64_t seed() const { return seed_; }

  // The next raw output of mt19937_64.
  uint64_t next_u64();

  // Uniform in [0, 1): the top 53 bits of one output times 2^-53, so every value is exact and 1 is never
  // reached.
  double next_double();

 private:
  uint64_t seed_;
  std::mt19937_64 engine_;
};

}  // namespace autoglm
