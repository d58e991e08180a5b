#include "ops/paged_attention.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "ops/kernel_table.h"
#include "ops/op_checks.h"
#include "tensor/quant_blocks.h"

namespace autoglm {
namespace {

constexpr const char* kOp = "paged_attention";

// bf16 rows out of caches that take them, their rows 16-byte aligned (see the header).
bool bf16_rows(const PagedAttentionArgs& a) {
  const int64_t head_dim = a.k_cache.shape.rank() == 3 ? a.k_cache.shape[2] : 0;
  const auto aligned = [](const TensorView& t) { return reinterpret_cast<uintptr_t>(t.data) % 16 == 0; };
  return a.out.dtype == DType::kBF16 && paged_attention_takes_bf16_rows(a.k_cache.dtype, head_dim) &&
         aligned(a.k_cache) && aligned(a.v_cache);
}

Status check_ranks_and_dtypes(const PagedAttentionArgs& a) {
  using namespace op_checks;
  const std::pair<const char*, const TensorView*> rank3[] = {
      {"q", &a.q}, {"k_cache", &a.k_cache}, {"v_cache", &a.v_cache}, {"out", &a.out}};
  for (const auto& [what, tensor] : rank3)
    AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, what, *tensor, 3));
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "block_tables", a.block_tables, 2));
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "q_start", a.q_start, 1));
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "seq_lens", a.seq_lens, 1));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "q", a.q, DType::kF32));
  if (!bf16_rows(a)) AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "out", a.out, DType::kF32));
  // The cache dtype (f32, bf16, f16 or f8_e4m3) is the dispatch key: a backend lacking it says "no kernel".
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "v_cache", a.v_cache, a.k_cache.dtype));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "block_tables", a.block_tables, DType::kI32));
  AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "q_start", a.q_start, DType::kI32));
  return has_dtype(kOp, "seq_lens", a.seq_lens, DType::kI32);
}

Status check_shapes(const PagedAttentionArgs& a) {
  using namespace op_checks;
  const int64_t q_heads = a.q.shape[1], head_dim = a.q.shape[2];
  const int64_t rows = a.k_cache.shape[0], kv_heads = a.k_cache.shape[1];
  if (a.k_cache.shape[2] != head_dim) {
    return invalid_argument(std::string(kOp) + ": k_cache " + a.k_cache.describe() +
                            " has another head_dim than q " + a.q.describe());
  }
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "v_cache", a.v_cache, a.k_cache.shape));
  if (kv_heads <= 0 || q_heads % kv_heads != 0) {
    return invalid_argument(std::string(kOp) + ": q_heads " + std::to_string(q_heads) +
                            " must be a multiple of kv_heads " + std::to_string(kv_heads));
  }
  // Positions and block ids are i32 metadata; a block larger than that could not be addressed.
  if (a.block_size <= 0 || a.block_size > std::numeric_limits<int32_t>::max()) {
    return invalid_argument(std::string(kOp) + ": block_size must be in [1, 2^31)");
  }
  if (rows % a.block_size != 0) {
    return invalid_argument(std::string(kOp) + ": cache rows " + std::to_string(rows) +
                            " are not a multiple of block_size " + std::to_string(a.block_size));
  }
  const int64_t n_seqs = a.block_tables.shape[0];
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "q_start", a.q_start, Shape{n_seqs + 1}));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "seq_lens", a.seq_lens, Shape{n_seqs}));
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "out", a.out, a.q.shape));
  if (a.max_q_len < 1) return invalid_argument(std::string(kOp) + ": max_q_len must be >= 1");
  if (a.n_decode_seqs < 0 || a.n_decode_seqs > a.block_tables.shape[0])
    return invalid_argument(std::string(kOp) + ": n_decode_seqs must be in [0, n_seqs]");
  return Status::ok();
}

Status check_scalars(const PagedAttentionArgs& a) {
  if (a.window < 0) return invalid_argument(std::string(kOp) + ": window must be >= 0");
  if (!std::isfinite(a.scale)) return invalid_argument(std::string(kOp) + ": scale must be finite");
  if (!std::isfinite(a.softcap) || a.softcap < 0) {
    return invalid_argument(std::string(kOp) + ": softcap must be >= 0");
  }
  return Status::ok();
}

// out is written while every other tensor is read.
Status check_aliasing(const PagedAttentionArgs& a) {
  using namespace op_checks;
  const std::pair<const char*, const TensorView*> inputs[] = {{"q", &a.q},
                                                              {"k_cache", &a.k_cache},
                                                              {"v_cache", &a.v_cache},
                                                              {"block_tables", &a.block_tables},
                                                              {"q_start", &a.q_start},
                                                              {"seq_lens", &a.seq_lens}};
  for (const auto& [what, tensor] : inputs)
    AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, what, *tensor));
  return Status::ok();
}

}  // namespace

bool paged_attention_takes_bf16_rows(DType cache_dtype, int64_t head_dim) {
  return (cache_dtype == DType::kBF16 || cache_dtype == DType::kF8E4M3) && head_dim % 16 == 0 &&
         head_dim >= 16 && head_dim <= 256;
}

Status paged_attention(Backend& backend, const PagedAttentionArgs& a) {
  using namespace op_checks;
  AUTOGLM_RETURN_IF_ERROR(check_ranks_and_dtypes(a));
  AUTOGLM_RETURN_IF_ERROR(check_shapes(a));
  AUTOGLM_RETURN_IF_ERROR(check_scalars(a));
  const std::pair<const char*, const TensorView*> tensors[] = {{"q", &a.q},
                                                               {"k_cache", &a.k_cache},
                                                               {"v_cache", &a.v_cache},
                                                               {"block_tables", &a.block_tables},
                                                               {"q_start", &a.q_start},
                                                               {"seq_lens", &a.seq_lens},
                                                               {"out", &a.out}};
  for (const auto& [what, tensor] : tensors) {
    AUTOGLM_RETURN_IF_ERROR(not_null(kOp, what, *tensor));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, what, *tensor, backend));
  }
  AUTOGLM_RETURN_IF_ERROR(check_aliasing(a));
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<PagedAttentionArgs>(kOp, backend, a.k_cache.dtype));
  if (a.out.dtype == DType::kF32 || backend.device().kind != DeviceKind::kCpu) {
    fn(backend, a);
    return Status::ok();
  }
  // The CPU kernels write f32: bf16 rows are rounded from an f32 temporary.
  PagedAttentionArgs f32 = a;
  Tensor f32_out = Tensor::host(DType::kF32, a.out.shape);
  f32.out = f32_out.view();
  fn(backend, f32);
  return quantize_row(a.out.dtype, f32_out.as<const float>(), a.out.data, a.out.numel());
}

}  // namespace autoglm
