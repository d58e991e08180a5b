// The forward-pass IR: values (tensors) and nodes (ops) in execution order.
//
// An architecture builds one Graph per forward call through the typed builder methods below (the graph of a
// step depends on its token count and cache position). Passes (graph/pass.h) may rewrite it, and the
// Executor (graph/executor.h) runs it on a backend, placing intermediates in a reused arena.
//
// Values are bound (inputs, weights, KV-cache state: the caller owns their memory, which must outlive the
// run) or intermediates (the executor owns them). A view is a reshape or row range of another value and
// shares its memory. Nodes produce one value, write into a bound value (kv_store), or both (rope_kv_store).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/status.h"
#include "ops/rope.h"
#include "tensor/tensor.h"

namespace autoglm {

struct ValueId {
  int32_t index = -1;
  bool valid() const { return index >= 0; }
  bool operator==(const ValueId&) const = default;
};

enum class ValueKind : uint8_t { kInput, kWeight, kState, kIntermediate, kView };

struct Value {
  ValueKind kind = ValueKind::kIntermediate;
  DType dtype = DType::kF32;
  Shape shape;
  std::string name;         // for dumps and error messages
  TensorView bound;         // kInput / kWeight / kState
  ValueId view_of;          // kView: the value whose memory it shares
  int64_t view_offset = 0;  // kView: offset in elements into view_of
};

enum class OpKind : uint8_t {
  kEmbedding,
  kMatmul,
  kRmsNorm,
  kLayerNorm,
  kRope,
  kKvStore,
  kAttention,
  kSwiglu,
  kAdd,
  kSoftmax,
  kRopeKvStore,
  kMatmulSwiglu,
  kPagedAttention,
  // Tensor parallelism (parallel/): token ids into a rank's embedding rows, and the collectives, which the
  // executor runs through its Communicator.
  kShardIds,
  kAllReduce,
  kAllGatherColumns,
  // [a; b]: the rows of two values one after the other (two copies; joins the halves of a split step).
  kConcatRows,
};
constexpr size_t kOpKindCount = static_cast<size_t>(OpKind::kConcatRows) + 1;

const char* op_kind_name(OpKind op);
// True for ops that write into bound state values (the KV caches) named among their inputs, whether or not
// they also produce an output: passes must keep such nodes even when nobody reads their output.
bool op_writes_state(OpKind op);

struct NoAttrs {};
struct NormAttrs {
  float eps = 1e-6f;
  // The normalized output's type: f32, or bf16 / f16 where it only feeds matmuls over weights of that type
  // (graph/matmul_input_pass.h). With the fused residual add the stacked output stays f32 and the 16-bit
  // normalized rows start at its second half (Graph::add_rms_norm).
  DType out_dtype = DType::kF32;
};
struct RopeAttrs {
  int rotary_dim = 0;
  RopeLayout layout = RopeLayout::kNeox;
};
struct KvStoreAttrs {
  int64_t start = 0;
};
struct AttentionAttrs {
  int64_t q_pos0 = 0;
  float scale = 1.0f;
  int64_t window = 0;
  float softcap = 0.0f;
};
struct PagedAttentionAttrs {
  int64_t block_size = 16;
  int64_t max_q_len = 1;
  int64_t n_decode_seqs = 0;
  float scale = 1.0f;
  int64_t window = 0;
  float softcap = 0.0f;
};
struct ShardIdsAttrs {
  int64_t begin = 0;
  int64_t end = 0;
};
using NodeAttrs = std::variant<NoAttrs, NormAttrs, RopeAttrs, KvStoreAttrs, AttentionAttrs,
                               PagedAttentionAttrs, ShardIdsAttrs>;

struct Node {
  OpKind op = OpKind::kAdd;
  std::vector<ValueId> inputs;  // an invalid ValueId marks an absent optional input (e.g. no bias)
  ValueId output;               // invalid for nodes that only write bound state (kv_store)
  NodeAttrs attrs;
  // The queue it runs on where the backend has several (graph/lane_schedule.h); 0 everywhere else.
  uint8_t lane = 0;
  // Matmuls run on several lanes: the SMs their GEMM is planned for (Graph::set_gemm_sms); 0: the backend's.
  uint16_t gemm_sms = 0;
};

class Graph {
 public:
  // Every matmul of the graph computes each output row the same way whatever the number of rows
  // (ops/matmul.h, MatmulArgs::batch_invariant): set for the paged engine's steps, whose sequences must get
  // the same tokens alone or batched.
  bool batch_invariant_matmuls = false;

  // Lanes (graph/lane_schedule.h): nodes added from here on run on `lane`. Backends with one queue run every
  // node in graph order whatever its lane, so a graph means the same with or without them.
  void set_lane(int lane) { lane_ = static_cast<uint8_t>(lane); }
  // 1 + the highest lane of any node.
  int lane_count() const;
  // Matmuls added from here on are planned for `sms` SMs (BackendOptions::gemm_sm_count) where lanes share
  // the device, leaving the rest to the kernels beside them; 0: the backend's own count.
  void set_gemm_sms(int sms) { gemm_sms_ = static_cast<uint16_t>(sms); }

  // Bound values.
  ValueId input(const std::string& name, const TensorView& t) { return bind(ValueKind::kInput, name, t); }
  ValueId weight(const std::string& name, const TensorView& t) { return bind(ValueKind::kWeight, name, t); }
  ValueId state(const std::string& name, const TensorView& t) { return bind(ValueKind::kState, name, t); }

  // Views: share memory with `of` (reshape keeps numel; rows takes [begin, end) of the outermost dim).
  ValueId reshape(ValueId of, Shape shape);
  ValueId rows(ValueId of, int64_t begin, int64_t end);

  // Ops; shapes are inferred here, and checked again with full messages by the op functions at run time.
  ValueId embedding(ValueId ids, ValueId table);
  // With an addend ([m, n] f32): addend + x . w^T (+ bias), the residual add folded into the projection
  // (ops/matmul.h, MatmulArgs::addend).
  ValueId matmul(ValueId x, ValueId w, ValueId bias = {}, ValueId addend = {});
  // matmul(swiglu(x), w, bias) as one op (ops/matmul.h: the activation is formed while it is read).
  ValueId matmul_swiglu(ValueId x, ValueId w, ValueId bias = {}, ValueId addend = {});
  ValueId rms_norm(ValueId x, ValueId weight, float eps);
  // x + residual and its RMSNorm in one op (ops/rms_norm.h): returns [2, ...x's shape], the sum at index 0
  // and the normalized sum at 1 (take them with rows + reshape).
  ValueId add_rms_norm(ValueId x, ValueId residual, ValueId weight, float eps);
  ValueId layer_norm(ValueId x, ValueId weight, ValueId bias, float eps);
  ValueId rope(ValueId x, ValueId positions, ValueId inv_freq, int rotary_dim, RopeLayout layout);
  void kv_store(ValueId src, ValueId cache, int64_t start);
  // RoPE of q and k, and rotated k and v written to cache rows positions[i] (ops/rope_kv_store.h); returns
  // the rotated q.
  ValueId rope_kv_store(ValueId q, ValueId k, ValueId v, ValueId positions, ValueId inv_freq, ValueId k_cache,
                        ValueId v_cache, int rotary_dim, RopeLayout layout);
  // Same, for a paged cache: rotated k and v go to cache rows slots[i] ([t] i32), not positions[i].
  ValueId rope_kv_store_paged(ValueId q, ValueId k, ValueId v, ValueId positions, ValueId slots,
                              ValueId inv_freq, ValueId k_cache, ValueId v_cache, int rotary_dim,
                              RopeLayout layout);
  // Same, reading q, k and v as the column blocks of one [t, (q_heads + 2 kv_heads) * head_dim] value (the
  // fused projection's output); returns the rotated q [t, q_heads, head_dim].
  ValueId rope_kv_store_paged_packed(ValueId qkv, int64_t q_heads, int64_t head_dim, ValueId positions,
                                     ValueId slots, ValueId inv_freq, ValueId k_cache, ValueId v_cache,
                                     int rotary_dim, RopeLayout layout);
  ValueId attention(ValueId q, ValueId k_cache, ValueId v_cache, const AttentionAttrs& attrs);
  // With positions ([t] i32, positions[0] == attrs.q_pos0) the decode kernels read the query position from
  // the device, so the step can be recorded and replayed (ops/attention.h).
  ValueId attention(ValueId q, ValueId k_cache, ValueId v_cache, ValueId positions,
                    const AttentionAttrs& attrs);
  // Attention of a batch of sequences over paged caches (ops/paged_attention.h).
  ValueId paged_attention(ValueId q, ValueId k_cache, ValueId v_cache, ValueId block_tables, ValueId q_start,
                          ValueId seq_lens, const PagedAttentionAttrs& attrs);
  ValueId swiglu(ValueId x);
  ValueId add(ValueId a, ValueId b);
  ValueId softmax(ValueId x);
  // Tensor parallelism: ids in [begin, end) to ids - begin, others to end - begin (ops/shard_ids.h); the sum
  // of x (f32) over the ranks; [rows, cols] of each of `world` ranks side by side as [rows, world * cols].
  ValueId shard_ids(ValueId ids, int64_t begin, int64_t end);
  ValueId all_reduce(ValueId x);
  ValueId all_gather_columns(ValueId x, int world);
  // The rows of a and then those of b, as one value (same dtype and inner dims).
  ValueId concat_rows(ValueId a, ValueId b);

  // Values the caller reads after the run; the executor keeps them alive to the end.
  void mark_output(ValueId v) { outputs_.push_back(v); }

  const std::vector<Value>& values() const { return values_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  std::vector<Node>& mutable_nodes() { return nodes_; }
  const std::vector<ValueId>& outputs() const { return outputs_; }
  const Value& value(ValueId id) const { return values_[id.index]; }
  // For passes that retype values (graph/matmul_input_pass.h); shapes and kinds must stay consistent.
  Value& mutable_value(ValueId id) { return values_[id.index]; }
  // The value whose memory a view (or chain of views) uses; the value itself if it is not a view.
  ValueId storage_root(ValueId id) const;

  // One line per node: "%7 = matmul(%5, w:model.layers.0.self_attn.q_proj.weight) f32[3, 64]".
  std::string dump() const;

 private:
  ValueId bind(ValueKind kind, const std::string& name, const TensorView& t);
  ValueId new_value(DType dtype, Shape shape);
  ValueId add_node(OpKind op, std::vector<ValueId> inputs, DType dtype, Shape shape, NodeAttrs attrs = {});

  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<ValueId> outputs_;
  uint8_t lane_ = 0;
  uint16_t gemm_sms_ = 0;
};

}  // namespace autoglm
