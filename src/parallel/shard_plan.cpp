#include "parallel/shard_plan.h"

namespace autoglm {
namespace {

Range even_part(int64_t n, int world, int rank) {
  const int64_t part = n / world;
  return {part * rank, part * (rank + 1)};
}

Status cannot_split(const char* what, int64_t n, int world) {
  return invalid_argument("tensor parallel: cannot split " + std::string(what) + " (" + std::to_string(n) +
                          ") over " + std::to_string(world) + " ranks");
}

}  // namespace

ModelConfig ShardPlan::local_config(const ModelConfig& c) const {
  ModelConfig local = c;
  local.num_attention_heads = q_heads.size();
  local.num_key_value_heads = kv_heads.size();
  local.intermediate_size = ffn.size();
  return local;
}

Expected<ShardPlan> plan_shards(const ModelConfig& c, const TensorParallel& tp) {
  if (tp.world < 1) return invalid_argument("tensor parallel: the group needs at least one rank");
  if (tp.rank < 0 || tp.rank >= tp.world) {
    return invalid_argument("tensor parallel: rank " + std::to_string(tp.rank) + " outside a group of " +
                            std::to_string(tp.world));
  }
  const int w = tp.world;
  ShardPlan plan;
  plan.tp = tp;
  if (c.num_attention_heads % w != 0) return cannot_split("the attention heads", c.num_attention_heads, w);
  plan.q_heads = even_part(c.num_attention_heads, w, tp.rank);
  const int64_t kv = c.num_key_value_heads;
  if (kv % w == 0) {
    plan.kv_heads = even_part(kv, w, tp.rank);
  } else if (w % kv == 0) {
    // Ranks [h * w / kv, (h + 1) * w / kv) read KV head h: their query heads are its group.
    const int64_t head = tp.rank / (w / kv);
    plan.kv_heads = {head, head + 1};
    plan.kv_replicated = true;
  } else {
    return cannot_split("or replicate the KV heads", kv, w);
  }
  if (c.intermediate_size % w != 0) return cannot_split("the intermediate size", c.intermediate_size, w);
  plan.ffn = even_part(c.intermediate_size, w, tp.rank);
  plan.vocab_parallel = w > 1 && c.vocab_size % w == 0;
  plan.vocab = plan.vocab_parallel ? even_part(c.vocab_size, w, tp.rank) : Range{0, c.vocab_size};
  return plan;
}

}  // namespace autoglm
