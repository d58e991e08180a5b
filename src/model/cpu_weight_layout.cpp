#include "model/cpu_weight_layout.h"

#include <initializer_list>

#include "tensor/quant_repack.h"

namespace autoglm {
namespace {

bool whole_groups(const Tensor& t) {
  return t.defined() && t.shape().rank() == 2 && t.shape()[0] % kQ4Kx8Rows == 0;
}

// Repacks `matrix` when it is Q4_K and it and every row range in `parts` (views into it) are whole groups;
// the parts then see the interleaved type too.
Status interleave(Tensor& matrix, std::initializer_list<Tensor*> parts) {
  if (!whole_groups(matrix) || matrix.dtype() != DType::kQ4_K) return Status::ok();
  for (const Tensor* part : parts) {
    const auto offset =
        static_cast<const uint8_t*>(part->data()) - static_cast<const uint8_t*>(matrix.data());
    const auto group_bytes =
        static_cast<std::ptrdiff_t>(dtype_bytes(DType::kQ4_K, kQ4Kx8Rows * matrix.shape()[1]));
    if (!whole_groups(*part) || offset % group_bytes != 0) return Status::ok();
  }
  AUTOGLM_ASSIGN_OR_RETURN(matrix, interleaved_q4_k(matrix));
  for (Tensor* part : parts)  // row ranges of the matrix: the same bytes, now interleaved
    *part = Tensor(part->storage(), DType::kQ4_Kx8, part->shape(), part->device());
  return Status::ok();
}

}  // namespace

Status interleave_cpu_matrices(DecoderWeights& weights) {
  for (DecoderLayerWeights& layer : weights.layers) {
    if (layer.w_qkv.defined()) {
      AUTOGLM_RETURN_IF_ERROR(interleave(layer.w_qkv, {&layer.wq, &layer.wk, &layer.wv}));
    } else {
      for (Tensor* w : {&layer.wq, &layer.wk, &layer.wv})
        AUTOGLM_RETURN_IF_ERROR(interleave(*w, {}));
    }
    for (Tensor* w : {&layer.wo, &layer.w_gate_up, &layer.w_down})
      AUTOGLM_RETURN_IF_ERROR(interleave(*w, {}));
  }
  if (weights.lm_head.data() != weights.embed.data())
    AUTOGLM_RETURN_IF_ERROR(interleave(weights.lm_head, {}));
  return Status::ok();
}

}  // namespace autoglm
