#include "model/decoder_graph.h"

#include <cmath>
#include <utility>
#include <vector>

#include "model/rope_frequencies.h"

namespace autoglm {
namespace {

ValueId optional_weight(Graph& g, const std::string& name, const Tensor& t) {
  return t.defined() ? g.weight(name, t.view()) : ValueId{};
}

// Rows of a step that run through the layers together: the whole step, or one half of a split one.
struct Part {
  int64_t n = 0;  // token rows
  ValueId ids, positions;
  // Paged steps: the part's cache rows and attention metadata.
  ValueId slots, block_tables, q_start, seq_lens, logit_rows;
  bool last_row_only = false;
  bool final_rows_kept = false;  // the last layer kept only the rows whose logits are wanted (p.x holds them)
  int64_t max_q_len = 1;
  int64_t n_decode_seqs = 0;
  // Between layers: the residual stream, and the next layer's normalized input once the residual add that
  // ends a layer has formed it.
  ValueId x, h_next;
  ValueId q;  // between pre_attention and attention
};

class DecoderBuilder {
 public:
  DecoderBuilder(Graph& g, const ModelConfig& c, const DecoderSpec& spec, const DecoderWeights& w,
                 const KvCache& cache, const StepInputs& in, const ShardPlan* plan,
                 const DecoderGraphOptions& options)
      : g_(g), c_(c), spec_(spec), w_(w), cache_(cache), in_(in), plan_(plan) {
    world_ = plan != nullptr ? plan->tp.world : 1;
    residual_in_projections_ = options.residual_in_projections && world_ == 1 && !spec.sandwich_norms;
    final_rows_in_last_layer_ = options.final_rows_in_last_layer;
    eps_ = static_cast<float>(c.rms_norm_eps);
    rot_dim_ = static_cast<int>(c.rotary_dim());
    inv_freq_ = g.weight("rope.inv_freq", w.inv_freq.view());
  }

  // The partial outputs of the row-split projections (o, down), summed over the ranks.
  ValueId summed(ValueId partial) { return world_ > 1 ? g_.all_reduce(partial) : partial; }

  void embed(Part& p) {
    if (world_ > 1 && plan_->vocab_parallel) {
      // This rank's rows (and the zero row after them for the others' tokens), summed over the ranks.
      const ValueId local_ids = g_.shard_ids(p.ids, plan_->vocab.begin, plan_->vocab.end);
      p.x = g_.all_reduce(g_.embedding(local_ids, g_.weight("model.embed_tokens.weight", w_.embed.view())));
    } else {
      p.x = g_.embedding(p.ids, g_.weight("model.embed_tokens.weight", w_.embed.view()));
    }
  }

  // Norm, q/k/v projections, RoPE and the cache writes of layer l; sets p.q.
  void pre_attention(Part& p, size_t l) {
    const DecoderLayerWeights& lw = w_.layers[l];
    const std::string pre = prefix(l);
    const int64_t n = p.n, heads = c_.num_attention_heads, kv_heads = c_.num_key_value_heads;
    const int64_t head_dim = c_.head_dim;
    const ValueId h = p.h_next.valid()
                          ? p.h_next
                          : g_.rms_norm(p.x, g_.weight(pre + "attn_norm", lw.attn_norm.view()), eps_);
    const auto [k_cache, v_cache] = caches(l);
    ValueId q, k, v;
    const bool paged = in_.paged != nullptr;
    const bool packed_rope = paged && n > 1 && lw.w_qkv.defined() && !spec_.qk_norm && rot_dim_ > 0;
    if (packed_rope) {
      // A paged batch: one matmul over the fused weight, whose [n, q | k | v] output the RoPE + cache write
      // reads by column blocks (one pass over the three weights instead of three GEMMs, two of them small).
      const ValueId qkv = g_.matmul(h, g_.weight(pre + "w_qkv", lw.w_qkv.view()),
                                    optional_weight(g_, pre + "b_qkv", lw.b_qkv));
      p.q = g_.rope_kv_store_paged_packed(qkv, heads, head_dim, p.positions, p.slots, inv_freq_, k_cache,
                                          v_cache, rot_dim_, spec_.rope_layout);
      return;
    }
    if (n == 1 && lw.w_qkv.defined()) {
      // One token: one matmul over the fused weight, whose output row is [q | k | v] (decode streams the
      // three matrices in one pass). With more rows and a contiguous cache the three parts would not be
      // contiguous, so that prefill runs three matmuls over row ranges of the same weight (compute-bound
      // there, so nothing is lost).
      const int64_t q_dim = heads * head_dim, kv_dim = kv_heads * head_dim;
      ValueId qkv = g_.matmul(h, g_.weight(pre + "w_qkv", lw.w_qkv.view()),
                              optional_weight(g_, pre + "b_qkv", lw.b_qkv));
      qkv = g_.reshape(qkv, Shape{q_dim + 2 * kv_dim});
      q = g_.rows(qkv, 0, q_dim);
      k = g_.rows(qkv, q_dim, q_dim + kv_dim);
      v = g_.rows(qkv, q_dim + kv_dim, q_dim + 2 * kv_dim);
    } else {
      q = g_.matmul(h, g_.weight(pre + "wq", lw.wq.view()), optional_weight(g_, pre + "bq", lw.bq));
      k = g_.matmul(h, g_.weight(pre + "wk", lw.wk.view()), optional_weight(g_, pre + "bk", lw.bk));
      v = g_.matmul(h, g_.weight(pre + "wv", lw.wv.view()), optional_weight(g_, pre + "bv", lw.bv));
    }
    q = g_.reshape(q, Shape{n, heads, head_dim});
    k = g_.reshape(k, Shape{n, kv_heads, head_dim});
    v = g_.reshape(v, Shape{n, kv_heads, head_dim});
    if (spec_.qk_norm) {
      q = g_.rms_norm(q, g_.weight(pre + "q_norm", lw.q_norm.view()), eps_);
      k = g_.rms_norm(k, g_.weight(pre + "k_norm", lw.k_norm.view()), eps_);
    }
    if (paged) {
      // Paged batches need the fused op: it takes each token's cache row from the slots tensor.
      q = g_.rope_kv_store_paged(q, k, v, p.positions, p.slots, inv_freq_, k_cache, v_cache, rot_dim_,
                                 spec_.rope_layout);
    } else if (rot_dim_ > 0) {
      // One op (one launch on a GPU) for RoPE of q and k and both cache writes; the cache row of token i is
      // positions[i] = n_past + i (model.cpp), read on the device, so a decode step's launches do not change
      // from step to step.
      q = g_.rope_kv_store(q, k, v, p.positions, inv_freq_, k_cache, v_cache, rot_dim_, spec_.rope_layout);
    } else {
      g_.kv_store(k, k_cache, in_.n_past);
      g_.kv_store(v, v_cache, in_.n_past);
    }
    p.q = q;
  }

  // Attention of layer l over p.q; returns its [n, heads * head_dim] output.
  ValueId attention(Part& p, size_t l) {
    const auto [k_cache, v_cache] = caches(l);
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c_.head_dim)));
    const int64_t window = c_.layer_types.size() > l && c_.layer_types[l] == LayerAttentionType::kSliding
                               ? c_.sliding_window
                               : 0;
    ValueId a;
    if (in_.paged != nullptr) {
      PagedAttentionAttrs attn;
      attn.block_size = in_.paged->block_size;
      attn.max_q_len = p.max_q_len;
      attn.n_decode_seqs = p.n_decode_seqs;
      attn.scale = scale;
      attn.window = window;
      a = g_.paged_attention(p.q, k_cache, v_cache, p.block_tables, p.q_start, p.seq_lens, attn);
    } else {
      AttentionAttrs attn;
      attn.q_pos0 = in_.n_past;
      attn.scale = scale;
      attn.window = window;
      // Positions give the kernels the query position on the device, so a recorded decode step replays at
      // any later position (model/decode_replay.h).
      a = g_.attention(p.q, k_cache, v_cache, p.positions, attn);
    }
    return g_.reshape(a, Shape{p.n, c_.num_attention_heads * c_.head_dim});
  }

  // The o projection of attention output a, the MLP, and the residual adds of layer l: each fused with the
  // norm after it, or (residual_in_projections_) each the addend of the projection before it, whose output is
  // then the residual stream, normalized by a plain norm.
  void post_attention(Part& p, size_t l, ValueId a) {
    if (l + 1 == w_.layers.size() && final_rows_in_last_layer_) a = keep_final_rows(p, a);
    const DecoderLayerWeights& lw = w_.layers[l];
    const std::string pre = prefix(l);
    const ValueId wo = g_.weight(pre + "wo", lw.wo.view()), bo = optional_weight(g_, pre + "bo", lw.bo);
    ValueId h;
    if (residual_in_projections_) {
      p.x = g_.matmul(a, wo, bo, p.x);
      h = g_.rms_norm(p.x, g_.weight(pre + "mlp_norm", lw.mlp_norm.view()), eps_);
    } else {
      ValueId o = summed(g_.matmul(a, wo, bo));
      if (spec_.sandwich_norms)
        o = g_.rms_norm(o, g_.weight(pre + "post_attn_norm", lw.post_attn_norm.view()), eps_);
      p.x = add_then_norm(p, p.x, o, pre + "mlp_norm", lw.mlp_norm, &h);
    }
    const ValueId gate_up = g_.matmul(h, g_.weight(pre + "w_gate_up", lw.w_gate_up.view()),
                                      optional_weight(g_, pre + "b_gate_up", lw.b_gate_up));
    const ValueId w_down = g_.weight(pre + "w_down", lw.w_down.view());
    const ValueId b_down = optional_weight(g_, pre + "b_down", lw.b_down);
    const bool last = l + 1 == w_.layers.size();
    if (residual_in_projections_) {
      p.x = g_.matmul_swiglu(gate_up, w_down, b_down, p.x);
      // The final norm runs on the logit rows only (final_rows).
      p.h_next =
          last ? ValueId{}
               : g_.rms_norm(p.x, g_.weight(prefix(l + 1) + "attn_norm", w_.layers[l + 1].attn_norm.view()),
                             eps_);
      return;
    }
    ValueId d = summed(g_.matmul_swiglu(gate_up, w_down, b_down));
    if (spec_.sandwich_norms)
      d = g_.rms_norm(d, g_.weight(pre + "post_mlp_norm", lw.post_mlp_norm.view()), eps_);
    if (!last) {
      p.x = add_then_norm(p, p.x, d, prefix(l + 1) + "attn_norm", w_.layers[l + 1].attn_norm, &p.h_next);
    } else {
      p.x = g_.add(p.x, d);  // the final norm runs on the logit rows only (final_rows)
      p.h_next = ValueId{};
    }
  }

  // The rows of v (rows of p) whose logits are wanted: a paged step's logit rows (a gather: the embedding
  // op over the rows) or all of them; a part that samples nothing, its last row (its logits are not read,
  // but a step still ends in logits); a contiguous prefill, its last row unless every row's logits are.
  ValueId wanted_rows(const Part& p, ValueId v) {
    if (in_.paged != nullptr) {
      const bool gathered = p.logit_rows.valid() && g_.value(p.logit_rows).shape[0] > 0;
      if (gathered) return g_.embedding(p.logit_rows, v);
      return p.logit_rows.valid() || p.last_row_only ? g_.rows(v, p.n - 1, p.n) : v;
    }
    return !in_.all_logits && p.n > 1 ? g_.rows(v, p.n - 1, p.n) : v;
  }

  // The rows of p whose logits are wanted, after the last layer.
  ValueId final_rows(const Part& p) { return p.final_rows_kept ? p.x : wanted_rows(p, p.x); }

  // Before the last layer's o projection: only the rows whose logits are wanted go on (the attention output a
  // and the residual stream cut alike), since nothing reads the others' hidden states after it; their K/V are
  // in the cache already. A prompt chunk's rows skip the last layer's o projection and MLP (1/layers of its
  // GEMMs). Returns a's kept rows; p.x and p.n describe them from here.
  ValueId keep_final_rows(Part& p, ValueId a) {
    a = wanted_rows(p, a);
    p.x = wanted_rows(p, p.x);
    p.n = g_.value(p.x).shape[0];
    p.final_rows_kept = true;
    return a;
  }

  ValueId logits(ValueId rows) {
    const ValueId x = g_.rms_norm(rows, g_.weight("model.norm.weight", w_.final_norm.view()), eps_);
    ValueId out = g_.matmul(x, g_.weight("lm_head.weight", w_.lm_head.view()));
    if (world_ > 1 && plan_->vocab_parallel) out = g_.all_gather_columns(out, world_);
    g_.mark_output(out);
    return out;
  }

 private:
  static std::string prefix(size_t l) { return "layers." + std::to_string(l) + "."; }

  // Layer l's K and V caches, one value each for every node of the graph that touches them (the lane
  // schedule orders a cache's readers after its writers by value).
  std::pair<ValueId, ValueId> caches(size_t l) {
    if (k_caches_.size() <= l) {
      k_caches_.resize(l + 1);
      v_caches_.resize(l + 1);
    }
    if (!k_caches_[l].valid()) {
      k_caches_[l] = g_.state(prefix(l) + "k_cache", cache_.k[l].view());
      v_caches_[l] = g_.state(prefix(l) + "v_cache", cache_.v[l].view());
    }
    return {k_caches_[l], v_caches_[l]};
  }

  // residual + delta and the next norm of it as one op (ops/rms_norm.h: the residual add fused into the
  // norm); returns the new residual stream and sets *h to its normalized copy.
  ValueId add_then_norm(const Part& p, ValueId residual, ValueId delta, const std::string& norm_name,
                        const Tensor& norm, ValueId* h) {
    const Shape hidden_shape{p.n, c_.hidden_size};
    const ValueId both = g_.add_rms_norm(residual, delta, g_.weight(norm_name, norm.view()), eps_);
    *h = g_.reshape(g_.rows(both, 1, 2), hidden_shape);
    return g_.reshape(g_.rows(both, 0, 1), hidden_shape);
  }

  Graph& g_;
  const ModelConfig& c_;
  const DecoderSpec& spec_;
  const DecoderWeights& w_;
  const KvCache& cache_;
  const StepInputs& in_;
  const ShardPlan* plan_;
  int world_ = 1;
  bool residual_in_projections_ = false;
  bool final_rows_in_last_layer_ = true;
  float eps_ = 1e-6f;
  int rot_dim_ = 0;
  ValueId inv_freq_;
  std::vector<ValueId> k_caches_, v_caches_;
};

// The two halves of a split paged step over the whole step's inputs.
void split_parts(Graph& g, const PagedStepInputs& paged, const Part& whole, Part* halves) {
  const int64_t row = paged.split_row;
  const int64_t seqs = paged.halves[0].n_seqs;
  for (int h = 0; h < 2; ++h) {
    const PagedStepInputs::Half& half = paged.halves[h];
    const int64_t begin = h == 0 ? 0 : row, end = h == 0 ? row : whole.n;
    const int64_t seq_begin = h == 0 ? 0 : seqs, seq_end = seq_begin + half.n_seqs;
    Part& p = halves[h];
    p.n = end - begin;
    p.ids = g.rows(whole.ids, begin, end);
    p.positions = g.rows(whole.positions, begin, end);
    p.slots = g.rows(whole.slots, begin, end);
    p.block_tables = g.rows(whole.block_tables, seq_begin, seq_end);
    p.seq_lens = g.rows(whole.seq_lens, seq_begin, seq_end);
    p.q_start = g.input(h == 0 ? "q_start.0" : "q_start.1", half.q_start);
    if (half.n_logit_rows == p.n) {
      p.logit_rows = ValueId{};  // every row
    } else {
      p.logit_rows = g.input(h == 0 ? "logit_rows.0" : "logit_rows.1", half.logit_rows);
    }
    p.max_q_len = half.max_q_len;
    p.n_decode_seqs = half.n_decode_seqs;
  }
}

}  // namespace

void paged_step_inputs(const BatchStepLayout& l, const int32_t* base, Device device, int64_t block_size,
                       PagedStepInputs* out, StepInputs* in) {
  auto view = [&](int64_t offset, Shape shape) {
    return TensorView{const_cast<int32_t*>(base + offset), DType::kI32, std::move(shape), device};
  };
  PagedStepInputs paged;
  paged.slots = view(l.slots, Shape{l.n_tokens});
  paged.block_tables = view(l.block_tables, Shape{l.n_seqs, l.table_width});
  paged.q_start = view(l.q_start, Shape{l.n_seqs + 1});
  paged.seq_lens = view(l.seq_lens, Shape{l.n_seqs});
  // Every row wanted (a pure decode batch): no gather.
  if (l.n_logit_rows == 0) {
    paged.last_row_only = true;
  } else if (l.n_logit_rows != l.n_tokens) {
    paged.logit_rows = view(l.logit_rows, Shape{l.n_logit_rows});
  }
  paged.block_size = block_size;
  paged.max_q_len = l.max_q_len;
  paged.n_decode_seqs = l.n_decode_seqs;
  if (l.split.seq > 0) {
    const StepSplit& sp = l.split;
    PagedStepInputs::Half& first = paged.halves[0];
    PagedStepInputs::Half& second = paged.halves[1];
    paged.split_row = sp.row;
    first.n_seqs = sp.seq;
    second.n_seqs = l.n_seqs - sp.seq;
    first.n_logit_rows = sp.logit_rows;
    second.n_logit_rows = l.n_logit_rows - sp.logit_rows;
    for (int h = 0; h < 2; ++h) {
      paged.halves[h].n_decode_seqs = sp.n_decode_seqs[h];
      paged.halves[h].max_q_len = sp.max_q_len[h];
    }
    first.q_start = view(l.q_start, Shape{first.n_seqs + 1});
    first.logit_rows = view(l.logit_rows, Shape{first.n_logit_rows});
    second.q_start = view(sp.q_start, Shape{second.n_seqs + 1});
    second.logit_rows = view(sp.logit_rows_second, Shape{second.n_logit_rows});
  }
  *out = paged;
  *in = StepInputs{view(l.ids, Shape{l.n_tokens}), view(l.positions, Shape{l.n_tokens}), 0, false, out};
}

ValueId build_decoder_graph(Graph& g, const ModelConfig& c, const DecoderSpec& spec, const DecoderWeights& w,
                            const KvCache& cache, const StepInputs& in, const ShardPlan* plan,
                            const DecoderGraphOptions& options) {
  // A paged step serves many sequences at once: their tokens must not depend on the company they keep.
  g.batch_invariant_matmuls = in.paged != nullptr;
  DecoderBuilder b(g, c, spec, w, cache, in, plan, options);
  Part whole;
  whole.n = in.ids.shape[0];
  whole.ids = g.input("ids", in.ids);
  whole.positions = g.input("positions", in.positions);
  if (in.paged != nullptr) {
    whole.slots = g.input("slots", in.paged->slots);
    whole.block_tables = g.input("block_tables", in.paged->block_tables);
    whole.q_start = g.input("q_start", in.paged->q_start);
    whole.seq_lens = g.input("seq_lens", in.paged->seq_lens);
    if (in.paged->logit_rows.data != nullptr) whole.logit_rows = g.input("logit_rows", in.paged->logit_rows);
    whole.last_row_only = in.paged->last_row_only;
    whole.max_q_len = in.paged->max_q_len;
    whole.n_decode_seqs = in.paged->n_decode_seqs;
  }
  const size_t layers = w.layers.size();
  const bool split = in.paged != nullptr && in.paged->split_row > 0 && layers > 0 &&
                     (plan == nullptr || plan->tp.world == 1);
  if (!split) {
    b.embed(whole);
    for (size_t l = 0; l < layers; ++l) {
      b.pre_attention(whole, l);
      b.post_attention(whole, l, b.attention(whole, l));
    }
    return b.logits(b.final_rows(whole));
  }

  // Two halves, each attention on lane 1 beside the other half's work on lane 0: A's attention of layer l
  // runs beside B's o projection and MLP of layer l - 1 and its q/k/v of layer l, B's beside A's o
  // projection and MLP of layer l and its q/k/v of layer l + 1.
  Part half[2];
  split_parts(g, *in.paged, whole, half);
  ValueId attn[2];
  auto attend = [&](int h, size_t l) {
    g.set_lane(1);
    attn[h] = b.attention(half[h], l);
    g.set_lane(0);
  };
  for (int h = 0; h < 2; ++h) {
    g.set_gemm_sms(in.paged->gemm_sms[h]);
    b.embed(half[h]);
    b.pre_attention(half[h], 0);
    attend(h, 0);
  }
  for (size_t l = 0; l < layers; ++l) {
    for (int h = 0; h < 2; ++h) {
      g.set_gemm_sms(in.paged->gemm_sms[h]);
      b.post_attention(half[h], l, attn[h]);
      if (l + 1 < layers) {
        b.pre_attention(half[h], l + 1);
        attend(h, l + 1);
      }
    }
  }
  // A half whose sequences sample nothing adds no rows; a step that samples nothing still ends in logits
  // (of its last row, as last_row_only).
  g.set_gemm_sms(0);
  ValueId rows[2];
  for (int h = 0; h < 2; ++h) {
    if (in.paged->halves[h].n_logit_rows > 0) rows[h] = b.final_rows(half[h]);
  }
  if (!rows[0].valid() && !rows[1].valid()) return b.logits(g.rows(half[1].x, half[1].n - 1, half[1].n));
  if (!rows[0].valid() || !rows[1].valid()) return b.logits(rows[0].valid() ? rows[0] : rows[1]);
  return b.logits(g.concat_rows(rows[0], rows[1]));
}

}  // namespace autoglm
