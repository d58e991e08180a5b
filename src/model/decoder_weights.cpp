#include "model/decoder_weights.h"

#include <cstring>
#include <string>
#include <vector>

#include "model/rope_frequencies.h"

namespace autoglm {
namespace {

// One row range of a weight: what a rank stacks into a fused weight.
struct RowPart {
  std::string name;
  int64_t full_rows = 0;  // the weight's whole row count
  Range rows;
};

class Loader {
 public:
  Loader(WeightProvider& provider, Backend& backend, std::optional<DType> matrix_dtype)
      : provider_(provider), backend_(backend), matrix_dtype_(matrix_dtype) {}

  // Rows `rows` and columns `cols` of a [full_rows, full_cols] matrix.
  Expected<Tensor> matrix(const std::string& name, int64_t full_rows, int64_t full_cols, Range rows,
                          Range cols) {
    AUTOGLM_ASSIGN_OR_RETURN(
        Tensor t, provider_.load_part(name, Shape{full_rows, full_cols}, rows, cols, matrix_dtype_));
    matrix_bytes_ += t.nbytes();
    return t;
  }
  Expected<Tensor> matrix(const std::string& name, int64_t rows, int64_t cols) {
    return matrix(name, rows, cols, Range{0, rows}, Range{0, cols});
  }
  Expected<Tensor> vector(const std::string& name, int64_t n, Range part) {
    return provider_.load_part(name, Shape{n}, part, Range{}, DType::kF32);
  }
  Expected<Tensor> vector(const std::string& name, int64_t n) { return vector(name, n, Range{0, n}); }
  // [a; b; ...] along rows, assembled where the weights live: the fused gate/up weight of Llama-family
  // checkpoints and the fused q/k/v weight. kUnsupported when the parts differ in dtype (a GGUF file may
  // quantize v differently from q and k); the caller then keeps them apart.
  Expected<Tensor> stacked_rows(const std::vector<RowPart>& parts_wanted, int64_t cols, bool is_matrix) {
    const std::optional<DType> dtype = is_matrix ? matrix_dtype_ : std::optional<DType>(DType::kF32);
    std::vector<Tensor> parts;
    int64_t total_rows = 0;
    for (const RowPart& p : parts_wanted) {
      const Shape whole = is_matrix ? Shape{p.full_rows, cols} : Shape{p.full_rows};
      AUTOGLM_ASSIGN_OR_RETURN(Tensor t, provider_.load_part(p.name, whole, p.rows, Range{0, cols}, dtype));
      if (!parts.empty() && t.dtype() != parts[0].dtype()) {
        return unsupported(parts_wanted[0].name + " is " + std::string(dtype_name(parts[0].dtype())) +
                           " but " + p.name + " is " + std::string(dtype_name(t.dtype())) +
                           ": a fused weight needs one type");
      }
      total_rows += p.rows.size();
      parts.push_back(std::move(t));
    }
    const Shape shape = is_matrix ? Shape{total_rows, cols} : Shape{total_rows};
    AUTOGLM_ASSIGN_OR_RETURN(Tensor out, backend_.allocate(parts[0].dtype(), shape));
    // Whole blocks per row, so each part is a byte range of the output.
    size_t offset = 0;
    for (const Tensor& t : parts) {
      TensorView dst{static_cast<uint8_t*>(out.data()) + offset, t.dtype(), t.shape(), out.device()};
      AUTOGLM_RETURN_IF_ERROR(backend_.copy(dst, t.view()));
      offset += t.nbytes();
    }
    if (is_matrix) matrix_bytes_ += out.nbytes();
    return out;
  }
  bool has(const std::string& name) const { return provider_.has(name); }
  size_t matrix_bytes() const { return matrix_bytes_; }

 private:
  WeightProvider& provider_;
  Backend& backend_;
  std::optional<DType> matrix_dtype_;
  size_t matrix_bytes_ = 0;
};

// Rows [begin, end) of a weight as a Tensor sharing its storage (the q, k and v parts of the fused weight).
Tensor row_range(const Tensor& t, int64_t begin, int64_t end) {
  const TensorView v = t.view().rows(begin, end);
  return Tensor(std::shared_ptr<void>(t.storage(), v.data), v.dtype, v.shape, v.device);
}

// `rows` with one more row of zeros (every block type decodes zero bytes to zeros).
Expected<Tensor> with_zero_row(const Tensor& rows, Backend& backend) {
  const int64_t n = rows.shape()[0], d = rows.shape()[1];
  AUTOGLM_ASSIGN_OR_RETURN(Tensor out, backend.allocate(rows.dtype(), Shape{n + 1, d}));
  const TensorView all = out.view();
  AUTOGLM_RETURN_IF_ERROR(backend.copy(all.rows(0, n), rows.view()));
  std::vector<uint8_t> zeros(dtype_bytes(rows.dtype(), d), 0);
  AUTOGLM_RETURN_IF_ERROR(
      backend.copy(all.rows(n, n + 1), TensorView{zeros.data(), rows.dtype(), Shape{1, d}, Device{}}));
  return out;
}

Status load_layer(const ModelConfig& c, const DecoderSpec& spec, const ShardPlan& plan, Loader& ld, int layer,
                  DecoderLayerWeights& w) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  const int64_t hidden = c.hidden_size, q_dim = c.num_attention_heads * c.head_dim,
                kv_dim = c.num_key_value_heads * c.head_dim, ffn = c.intermediate_size;
  // This rank's rows of q, k, v (its heads) and gate, up (its features): whole ranges without parallelism.
  const Range q_rows = plan.q_rows(c), kv_rows = plan.kv_rows(c);
  const Range ffn_rows = plan.ffn;
  const int64_t q_local = q_rows.size(), kv_local = kv_rows.size();
  // The biases of the outputs an all-reduce sums (o, down) are added by rank 0 alone.
  const bool sums_bias = plan.tp.rank == 0;
  AUTOGLM_ASSIGN_OR_RETURN(w.attn_norm, ld.vector(p + "input_layernorm.weight", hidden));
  const std::vector<std::string> qkv_names = {p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                                              p + "self_attn.v_proj.weight"};
  Expected<Tensor> fused = ld.stacked_rows(
      {{qkv_names[0], q_dim, q_rows}, {qkv_names[1], kv_dim, kv_rows}, {qkv_names[2], kv_dim, kv_rows}},
      hidden, true);
  if (fused.has_value()) {
    w.w_qkv = std::move(fused).value();
    w.wq = row_range(w.w_qkv, 0, q_local);
    w.wk = row_range(w.w_qkv, q_local, q_local + kv_local);
    w.wv = row_range(w.w_qkv, q_local + kv_local, q_local + 2 * kv_local);
  } else if (fused.status().code() == StatusCode::kUnsupported) {
    AUTOGLM_ASSIGN_OR_RETURN(w.wq, ld.matrix(qkv_names[0], q_dim, hidden, q_rows, Range{0, hidden}));
    AUTOGLM_ASSIGN_OR_RETURN(w.wk, ld.matrix(qkv_names[1], kv_dim, hidden, kv_rows, Range{0, hidden}));
    AUTOGLM_ASSIGN_OR_RETURN(w.wv, ld.matrix(qkv_names[2], kv_dim, hidden, kv_rows, Range{0, hidden}));
  } else {
    return fused.status();
  }
  AUTOGLM_ASSIGN_OR_RETURN(w.wo,
                           ld.matrix(p + "self_attn.o_proj.weight", hidden, q_dim, Range{0, hidden}, q_rows));
  if (spec.qkv_bias) {
    const std::vector<std::string> names = {p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias",
                                            p + "self_attn.v_proj.bias"};
    if (w.w_qkv.defined()) {
      AUTOGLM_ASSIGN_OR_RETURN(
          w.b_qkv, ld.stacked_rows(
                       {{names[0], q_dim, q_rows}, {names[1], kv_dim, kv_rows}, {names[2], kv_dim, kv_rows}},
                       0, false));
      w.bq = row_range(w.b_qkv, 0, q_local);
      w.bk = row_range(w.b_qkv, q_local, q_local + kv_local);
      w.bv = row_range(w.b_qkv, q_local + kv_local, q_local + 2 * kv_local);
    } else {
      AUTOGLM_ASSIGN_OR_RETURN(w.bq, ld.vector(names[0], q_dim, q_rows));
      AUTOGLM_ASSIGN_OR_RETURN(w.bk, ld.vector(names[1], kv_dim, kv_rows));
      AUTOGLM_ASSIGN_OR_RETURN(w.bv, ld.vector(names[2], kv_dim, kv_rows));
    }
  }
  if (spec.o_bias && sums_bias) {
    AUTOGLM_ASSIGN_OR_RETURN(w.bo, ld.vector(p + "self_attn.o_proj.bias", hidden));
  }
  if (spec.qk_norm) {
    AUTOGLM_ASSIGN_OR_RETURN(w.q_norm, ld.vector(p + "self_attn.q_norm.weight", c.head_dim));
    AUTOGLM_ASSIGN_OR_RETURN(w.k_norm, ld.vector(p + "self_attn.k_norm.weight", c.head_dim));
  }
  if (spec.sandwich_norms) {
    AUTOGLM_ASSIGN_OR_RETURN(w.post_attn_norm, ld.vector(p + "post_self_attn_layernorm.weight", hidden));
    AUTOGLM_ASSIGN_OR_RETURN(w.post_mlp_norm, ld.vector(p + "post_mlp_layernorm.weight", hidden));
  }
  AUTOGLM_ASSIGN_OR_RETURN(w.mlp_norm, ld.vector(p + "post_attention_layernorm.weight", hidden));
  const Range up_rows{ffn + ffn_rows.begin, ffn + ffn_rows.end};  // in a fused [gate; up] weight
  if (spec.fused_gate_up) {
    const std::string name = p + "mlp.gate_up_proj.weight";
    AUTOGLM_ASSIGN_OR_RETURN(
        w.w_gate_up, ld.stacked_rows({{name, 2 * ffn, ffn_rows}, {name, 2 * ffn, up_rows}}, hidden, true));
    if (spec.mlp_bias) {
      const std::string bias = p + "mlp.gate_up_proj.bias";
      AUTOGLM_ASSIGN_OR_RETURN(
          w.b_gate_up, ld.stacked_rows({{bias, 2 * ffn, ffn_rows}, {bias, 2 * ffn, up_rows}}, 0, false));
    }
  } else {
    AUTOGLM_ASSIGN_OR_RETURN(w.w_gate_up, ld.stacked_rows({{p + "mlp.gate_proj.weight", ffn, ffn_rows},
                                                           {p + "mlp.up_proj.weight", ffn, ffn_rows}},
                                                          hidden, true));
    if (spec.mlp_bias) {
      AUTOGLM_ASSIGN_OR_RETURN(w.b_gate_up, ld.stacked_rows({{p + "mlp.gate_proj.bias", ffn, ffn_rows},
                                                             {p + "mlp.up_proj.bias", ffn, ffn_rows}},
                                                            0, false));
    }
  }
  AUTOGLM_ASSIGN_OR_RETURN(w.w_down,
                           ld.matrix(p + "mlp.down_proj.weight", hidden, ffn, Range{0, hidden}, ffn_rows));
  if (spec.mlp_bias && sums_bias) {
    AUTOGLM_ASSIGN_OR_RETURN(w.b_down, ld.vector(p + "mlp.down_proj.bias", hidden));
  }
  return Status::ok();
}

}  // namespace

Expected<DecoderWeights> load_decoder_weights(const ModelConfig& c, const DecoderSpec& spec,
                                              WeightProvider& provider, Backend& backend,
                                              std::optional<DType> matrix_dtype, const ShardPlan& plan) {
  Loader ld(provider, backend, matrix_dtype);
  DecoderWeights w;
  const Range all_hidden{0, c.hidden_size};
  AUTOGLM_ASSIGN_OR_RETURN(
      w.embed, provider.load_part("model.embed_tokens.weight", Shape{c.vocab_size, c.hidden_size}, plan.vocab,
                                  all_hidden, matrix_dtype));
  if (plan.vocab_parallel) {
    // One zero row after the rank's own: shard_ids sends the tokens other ranks hold there.
    AUTOGLM_ASSIGN_OR_RETURN(w.embed, with_zero_row(w.embed, backend));
  }
  w.layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int i = 0; i < c.num_hidden_layers; ++i)
    AUTOGLM_RETURN_IF_ERROR(load_layer(c, spec, plan, ld, i, w.layers[i]));
  AUTOGLM_ASSIGN_OR_RETURN(w.final_norm, ld.vector("model.norm.weight", c.hidden_size));
  // Tied checkpoints usually omit lm_head.weight; an untied config without it is an error.
  if (c.tie_word_embeddings && !ld.has("lm_head.weight")) {
    w.lm_head = row_range(w.embed, 0, plan.vocab.size());
    w.matrix_bytes = ld.matrix_bytes() + w.embed.nbytes();
  } else {
    AUTOGLM_ASSIGN_OR_RETURN(
        w.lm_head, ld.matrix("lm_head.weight", c.vocab_size, c.hidden_size, plan.vocab, all_hidden));
    w.matrix_bytes = ld.matrix_bytes();
  }
  const std::vector<float> inv_freq = rope_inverse_frequencies(c);
  Tensor host = Tensor::host(DType::kF32, Shape{static_cast<int64_t>(inv_freq.size())});
  std::memcpy(host.data(), inv_freq.data(), inv_freq.size() * sizeof(float));
  if (backend.device().kind == DeviceKind::kCpu) {
    w.inv_freq = host;
  } else {
    AUTOGLM_ASSIGN_OR_RETURN(w.inv_freq, backend.allocate(DType::kF32, host.shape()));
    AUTOGLM_RETURN_IF_ERROR(backend.copy(w.inv_freq.view(), host.view()));
  }
  return w;
}

}  // namespace autoglm
