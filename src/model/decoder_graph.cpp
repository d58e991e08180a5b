#include "model/decoder_graph.h"

#include <cmath>

#include "model/rope_frequencies.h"

namespace autoglm {
namespace {

ValueId optional_weight(Graph& g, const std::string& name, const Tensor& t) {
  return t.defined() ? g.weight(name, t.view()) : ValueId{};
}

}  // namespace

ValueId build_decoder_graph(Graph& g, const ModelConfig& c, const DecoderSpec& spec, const DecoderWeights& w,
                            const KvCache& cache, const StepInputs& in, const ShardPlan* plan) {
  const int64_t n = in.ids.shape[0];
  const int world = plan != nullptr ? plan->tp.world : 1;
  // The partial outputs of the row-split projections (o, down), summed over the ranks.
  auto summed = [&](ValueId partial) { return world > 1 ? g.all_reduce(partial) : partial; };
  // A paged step serves many sequences at once: their tokens must not depend on the company they keep.
  g.batch_invariant_matmuls = in.paged != nullptr;
  const int64_t heads = c.num_attention_heads, kv_heads = c.num_key_value_heads, head_dim = c.head_dim;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const int rot_dim = static_cast<int>(c.rotary_dim());

  const ValueId ids = g.input("ids", in.ids);
  const ValueId positions = g.input("positions", in.positions);
  const ValueId inv_freq = g.weight("rope.inv_freq", w.inv_freq.view());
  ValueId x;
  if (world > 1 && plan->vocab_parallel) {
    // This rank's rows (and the zero row after them for the others' tokens), summed over the ranks.
    const ValueId local_ids = g.shard_ids(ids, plan->vocab.begin, plan->vocab.end);
    x = g.all_reduce(g.embedding(local_ids, g.weight("model.embed_tokens.weight", w.embed.view())));
  } else {
    x = g.embedding(ids, g.weight("model.embed_tokens.weight", w.embed.view()));
  }
  ValueId paged_slots, paged_tables, paged_q_start, paged_seq_lens, paged_logit_rows;
  if (in.paged != nullptr) {
    paged_slots = g.input("slots", in.paged->slots);
    paged_tables = g.input("block_tables", in.paged->block_tables);
    paged_q_start = g.input("q_start", in.paged->q_start);
    paged_seq_lens = g.input("seq_lens", in.paged->seq_lens);
    if (in.paged->logit_rows.data != nullptr) paged_logit_rows = g.input("logit_rows", in.paged->logit_rows);
  }

  // x + delta and the next norm of it as one op (ops/rms_norm.h: the residual add fused into the norm);
  // returns the new residual stream and sets *h to its normalized copy.
  const Shape hidden_shape{n, c.hidden_size};
  auto add_then_norm = [&](ValueId residual, ValueId delta, const std::string& norm_name, const Tensor& norm,
                           ValueId* h) {
    const ValueId both = g.add_rms_norm(residual, delta, g.weight(norm_name, norm.view()), eps);
    *h = g.reshape(g.rows(both, 1, 2), hidden_shape);
    return g.reshape(g.rows(both, 0, 1), hidden_shape);
  };
  ValueId h_next;  // the next layer's normalized input, formed with the residual add that ends a layer
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const DecoderLayerWeights& lw = w.layers[l];
    const std::string p = "layers." + std::to_string(l) + ".";
    // Attention block.
    ValueId h = h_next.valid() ? h_next : g.rms_norm(x, g.weight(p + "attn_norm", lw.attn_norm.view()), eps);
    const ValueId k_cache = g.state(p + "k_cache", cache.k[l].view());
    const ValueId v_cache = g.state(p + "v_cache", cache.v[l].view());
    ValueId q, k, v;
    const bool packed_rope =
        in.paged != nullptr && n > 1 && lw.w_qkv.defined() && !spec.qk_norm && rot_dim > 0;
    if (packed_rope) {
      // A paged batch: one matmul over the fused weight, whose [n, q | k | v] output the RoPE + cache write
      // reads by column blocks (one pass over the three weights instead of three GEMMs, two of them small).
      const ValueId qkv =
          g.matmul(h, g.weight(p + "w_qkv", lw.w_qkv.view()), optional_weight(g, p + "b_qkv", lw.b_qkv));
      q = g.rope_kv_store_paged_packed(qkv, heads, head_dim, positions, paged_slots, inv_freq, k_cache,
                                       v_cache, rot_dim, spec.rope_layout);
    } else if (n == 1 && lw.w_qkv.defined()) {
      // One token: one matmul over the fused weight, whose output row is [q | k | v] (decode streams the
      // three matrices in one pass). With more rows and a contiguous cache the three parts would not be
      // contiguous, so that prefill runs three matmuls over row ranges of the same weight (compute-bound
      // there, so nothing is lost).
      const int64_t q_dim = heads * head_dim, kv_dim = kv_heads * head_dim;
      ValueId qkv =
          g.matmul(h, g.weight(p + "w_qkv", lw.w_qkv.view()), optional_weight(g, p + "b_qkv", lw.b_qkv));
      qkv = g.reshape(qkv, Shape{q_dim + 2 * kv_dim});
      q = g.rows(qkv, 0, q_dim);
      k = g.rows(qkv, q_dim, q_dim + kv_dim);
      v = g.rows(qkv, q_dim + kv_dim, q_dim + 2 * kv_dim);
    } else {
      q = g.matmul(h, g.weight(p + "wq", lw.wq.view()), optional_weight(g, p + "bq", lw.bq));
      k = g.matmul(h, g.weight(p + "wk", lw.wk.view()), optional_weight(g, p + "bk", lw.bk));
      v = g.matmul(h, g.weight(p + "wv", lw.wv.view()), optional_weight(g, p + "bv", lw.bv));
    }
    if (!packed_rope) {
      q = g.reshape(q, Shape{n, heads, head_dim});
      k = g.reshape(k, Shape{n, kv_heads, head_dim});
      v = g.reshape(v, Shape{n, kv_heads, head_dim});
    }
    if (spec.qk_norm) {
      q = g.rms_norm(q, g.weight(p + "q_norm", lw.q_norm.view()), eps);
      k = g.rms_norm(k, g.weight(p + "k_norm", lw.k_norm.view()), eps);
    }
    if (packed_rope) {
      // q is already rotated and k, v are in the cache.
    } else if (in.paged != nullptr) {
      // Paged batches need the fused op: it takes each token's cache row from the slots tensor.
      q = g.rope_kv_store_paged(q, k, v, positions, paged_slots, inv_freq, k_cache, v_cache, rot_dim,
                                spec.rope_layout);
    } else if (rot_dim > 0) {
      // One op (one launch on a GPU) for RoPE of q and k and both cache writes; the cache row of token i is
      // positions[i] = n_past + i (model.cpp), read on the device, so a decode step's launches do not change
      // from step to step.
      q = g.rope_kv_store(q, k, v, positions, inv_freq, k_cache, v_cache, rot_dim, spec.rope_layout);
    } else {
      g.kv_store(k, k_cache, in.n_past);
      g.kv_store(v, v_cache, in.n_past);
    }
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
    const int64_t window =
        c.layer_types.size() > l && c.layer_types[l] == LayerAttentionType::kSliding ? c.sliding_window : 0;
    ValueId a;
    if (in.paged != nullptr) {
      PagedAttentionAttrs attn;
      attn.block_size = in.paged->block_size;
      attn.max_q_len = in.paged->max_q_len;
      attn.n_decode_seqs = in.paged->n_decode_seqs;
      attn.scale = scale;
      attn.window = window;
      a = g.paged_attention(q, k_cache, v_cache, paged_tables, paged_q_start, paged_seq_lens, attn);
    } else {
      AttentionAttrs attn;
      attn.q_pos0 = in.n_past;
      attn.scale = scale;
      attn.window = window;
      // Positions give the kernels the query position on the device, so a recorded decode step replays at
      // any later position (model/decode_replay.h).
      a = g.attention(q, k_cache, v_cache, positions, attn);
    }
    a = g.reshape(a, Shape{n, heads * head_dim});
    ValueId o = summed(g.matmul(a, g.weight(p + "wo", lw.wo.view()), optional_weight(g, p + "bo", lw.bo)));
    if (spec.sandwich_norms) o = g.rms_norm(o, g.weight(p + "post_attn_norm", lw.post_attn_norm.view()), eps);
    // MLP block.
    x = add_then_norm(x, o, p + "mlp_norm", lw.mlp_norm, &h);
    ValueId gate_up = g.matmul(h, g.weight(p + "w_gate_up", lw.w_gate_up.view()),
                               optional_weight(g, p + "b_gate_up", lw.b_gate_up));
    ValueId d = summed(g.matmul_swiglu(gate_up, g.weight(p + "w_down", lw.w_down.view()),
                                       optional_weight(g, p + "b_down", lw.b_down)));
    if (spec.sandwich_norms) d = g.rms_norm(d, g.weight(p + "post_mlp_norm", lw.post_mlp_norm.view()), eps);
    if (l + 1 < w.layers.size()) {
      const std::string next = "layers." + std::to_string(l + 1) + ".attn_norm";
      x = add_then_norm(x, d, next, w.layers[l + 1].attn_norm, &h_next);
    } else {
      x = g.add(x, d);  // the final norm runs on the logit rows only (below)
    }
  }
  // Only the rows whose logits are wanted go through the final norm and the LM head.
  if (in.paged != nullptr) {
    // The last row of each sequence that samples: a gather (the embedding op over the hidden states).
    if (paged_logit_rows.valid()) {
      x = g.embedding(paged_logit_rows, x);
    } else if (in.paged->last_row_only) {
      x = g.rows(x, n - 1, n);
    }
  } else if (!in.all_logits && n > 1) {
    x = g.rows(x, n - 1, n);
  }
  x = g.rms_norm(x, g.weight("model.norm.weight", w.final_norm.view()), eps);
  ValueId logits = g.matmul(x, g.weight("lm_head.weight", w.lm_head.view()));
  if (world > 1 && plan->vocab_parallel) logits = g.all_gather_columns(logits, world);
  g.mark_output(logits);
  return logits;
}

}  // namespace autoglm
