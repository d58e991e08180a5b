// The host inputs of one sequence's prefill over a contiguous cache (model/decoder_graph.h): its token ids
// and the positions 0 .. n - 1, for tests that build decoder graphs themselves.
#pragma once

#include <cstdint>
#include <vector>

#include "model/decoder_graph.h"
#include "tensor/tensor.h"

namespace autoglm::test {

struct PrefillInputs {
  Tensor ids, positions;

  explicit PrefillInputs(const std::vector<int32_t>& tokens) {
    const auto n = static_cast<int64_t>(tokens.size());
    ids = Tensor::host(DType::kI32, Shape{n});
    positions = Tensor::host(DType::kI32, Shape{n});
    for (int64_t i = 0; i < n; ++i) {
      ids.as<int32_t>()[i] = tokens[static_cast<size_t>(i)];
      positions.as<int32_t>()[i] = static_cast<int32_t>(i);
    }
  }

  int64_t size() const { return ids.shape()[0]; }
  // all_logits: every row's logits instead of the last row's.
  StepInputs step(bool all_logits) const { return StepInputs{ids.view(), positions.view(), 0, all_logits}; }
};

}  // namespace autoglm::test
