// The per-element rules of the sampling kernels (ops/sample_rows.h, ops/apply_penalties.h), shared by the CPU
// and CUDA kernels so that both backends decide exactly alike: the top-k threshold search on ordered float
// keys, the bisection it shares with the nucleus search, and the penalised logit. Host and device code.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define AUTOGLM_SAMPLING_FN __host__ __device__ inline
#else
#define AUTOGLM_SAMPLING_FN inline
#endif

namespace autoglm::sampling_rules {

AUTOGLM_SAMPLING_FN uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

AUTOGLM_SAMPLING_FN float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// IEEE single operations, rounded to nearest, never fused into an FMA by nvcc (it contracts a * b - c by
// default), so the device rounds exactly as the host's separate operations do.
AUTOGLM_SAMPLING_FN float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

AUTOGLM_SAMPLING_FN float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

AUTOGLM_SAMPLING_FN float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

// The largest u in [lo, hi] with holds(u), for a predicate that is true at lo and, once false, stays false
// as u rises. About log2(hi - lo) calls of holds, each lo < u <= hi; on CUDA every thread of the block calls
// it with the same bounds, so a holds that reduces over the block sees all of them.
template <typename Holds>
AUTOGLM_SAMPLING_FN uint32_t last_holding(uint32_t lo, uint32_t hi, Holds holds) {
  if (holds(hi)) return hi;
  while (hi - lo > 1) {
    const uint32_t mid = lo + (hi - lo) / 2;
    if (holds(mid)) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// A key ordering floats as the host's comparisons on a NaN-free row do: key(a) < key(b) iff a < b, with
// NaN ranked as -inf (Sampler replaces NaN by -inf first) and -0 equal to +0. Every key is >= key(-inf) > 0.
AUTOGLM_SAMPLING_FN uint32_t order_key(float v) {
  if (v != v) v = -__builtin_huge_valf();
  if (v == 0.0f) v = 0.0f;
  const uint32_t u = bits_of(v);
  return (u & 0x80000000u) != 0 ? ~u : u | 0x80000000u;
}

// The top-k key of a logit: its order key after temperature, since the host masks the divided logits and
// two logits may round to the same quotient (both then tie at the boundary).
AUTOGLM_SAMPLING_FN uint32_t top_k_key(float logit, float temperature) {
  return order_key(div_rn(logit, temperature));
}

// The k of a params row's top_k column for rows of c logits, or 0 when it masks nothing: k < 1 (or NaN) and
// k >= c, as apply_top_k. A fractional k is truncated.
AUTOGLM_SAMPLING_FN int64_t effective_top_k(float top_k, int64_t c) {
  if (!(top_k >= 1.0f) || static_cast<double>(top_k) >= static_cast<double>(c)) return 0;
  return static_cast<int64_t>(top_k);
}

// The key of the k-th largest scaled logit, given count_at_least(key) = the number of the row's top-k keys
// >= key: the largest key still reached by k of them. A token is masked iff its key is below it, so every
// token tied with the k-th largest value survives (logits_processors.h's apply_top_k). The CPU kernel's
// search; the CUDA kernel reaches the same key in two phases (sample_rows.cu).
template <typename Count>
AUTOGLM_SAMPLING_FN uint32_t kth_largest_key(int64_t k, uint32_t max_key, Count count_at_least) {
  return last_holding(order_key(-__builtin_huge_valf()), max_key,
                      [&](uint32_t key) { return count_at_least(key) >= k; });
}

// One logit after the repetition penalty (over prompt and generated ids) and the presence and frequency
// penalties (over generated ids), with the float operations of sampling/logits_processors.cpp in its order:
// divide a non-negative logit by the repetition penalty or multiply a negative one, then subtract
// frequency * count, then presence. count: the id's occurrences among the generated ids; in_prompt: whether
// the prompt holds it. A NaN logit stays NaN (the host, having replaced it by -inf, gets -inf: both are
// never chosen).
AUTOGLM_SAMPLING_FN float penalized_logit(float v, float repetition, float presence, float frequency,
                                          int32_t count, bool in_prompt) {
  if (repetition != 1.0f && (count > 0 || in_prompt))
    v = v < 0.0f ? mul_rn(v, repetition) : div_rn(v, repetition);
  if ((presence != 0.0f || frequency != 0.0f) && count > 0) {
    v = sub_rn(v, mul_rn(frequency, static_cast<float>(count)));
    v = sub_rn(v, presence);
  }
  return v;
}

}  // namespace autoglm::sampling_rules
