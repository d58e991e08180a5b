#include "graph/graph.h"

#include <algorithm>
#include <cassert>

namespace autoglm {

const char* op_kind_name(OpKind op) {
  switch (op) {
    case OpKind::kEmbedding:
      return "embedding";
    case OpKind::kMatmul:
      return "matmul";
    case OpKind::kRmsNorm:
      return "rms_norm";
    case OpKind::kLayerNorm:
      return "layer_norm";
    case OpKind::kRope:
      return "rope";
    case OpKind::kKvStore:
      return "kv_store";
    case OpKind::kAttention:
      return "attention";
    case OpKind::kSwiglu:
      return "swiglu";
    case OpKind::kAdd:
      return "add";
    case OpKind::kSoftmax:
      return "softmax";
    case OpKind::kRopeKvStore:
      return "rope_kv_store";
    case OpKind::kMatmulSwiglu:
      return "matmul_swiglu";
    case OpKind::kPagedAttention:
      return "paged_attention";
    case OpKind::kShardIds:
      return "shard_ids";
    case OpKind::kAllReduce:
      return "all_reduce";
    case OpKind::kAllGatherColumns:
      return "all_gather_columns";
    case OpKind::kConcatRows:
      return "concat_rows";
  }
  return "?";
}

bool op_writes_state(OpKind op) {
  switch (op) {
    case OpKind::kKvStore:
    case OpKind::kRopeKvStore:
      return true;
    case OpKind::kEmbedding:
    case OpKind::kMatmul:
    case OpKind::kRmsNorm:
    case OpKind::kLayerNorm:
    case OpKind::kRope:
    case OpKind::kAttention:
    case OpKind::kSwiglu:
    case OpKind::kAdd:
    case OpKind::kSoftmax:
    case OpKind::kMatmulSwiglu:
    case OpKind::kPagedAttention:
    case OpKind::kShardIds:
    case OpKind::kAllReduce:
    case OpKind::kAllGatherColumns:
    case OpKind::kConcatRows:
      return false;
  }
  return true;  // unreachable; keeping an unknown node is the safe answer
}

ValueId Graph::bind(ValueKind kind, const std::string& name, const TensorView& t) {
  Value v;
  v.kind = kind;
  v.dtype = t.dtype;
  v.shape = t.shape;
  v.name = name;
  v.bound = t;
  values_.push_back(std::move(v));
  return ValueId{static_cast<int32_t>(values_.size() - 1)};
}

ValueId Graph::new_value(DType dtype, Shape shape) {
  Value v;
  v.dtype = dtype;
  v.shape = shape;
  values_.push_back(std::move(v));
  return ValueId{static_cast<int32_t>(values_.size() - 1)};
}

ValueId Graph::add_node(OpKind op, std::vector<ValueId> inputs, DType dtype, Shape shape, NodeAttrs attrs) {
  ValueId out = new_value(dtype, shape);
  nodes_.push_back(Node{op, std::move(inputs), out, attrs, lane_, gemm_sms_});
  return out;
}

ValueId Graph::reshape(ValueId of, Shape shape) {
  assert(shape.numel() == value(of).shape.numel());
  ValueId id = new_value(value(of).dtype, shape);
  values_[id.index].kind = ValueKind::kView;
  values_[id.index].view_of = of;
  return id;
}

ValueId Graph::rows(ValueId of, int64_t begin, int64_t end) {
  const Value& src = value(of);
  assert(begin >= 0 && begin <= end && end <= src.shape[0]);
  Shape shape = src.shape;
  const int64_t row_elems = src.shape[0] == 0 ? 0 : src.shape.numel() / src.shape[0];
  shape[0] = end - begin;
  ValueId id = new_value(src.dtype, shape);
  values_[id.index].kind = ValueKind::kView;
  values_[id.index].view_of = of;
  values_[id.index].view_offset = begin * row_elems;
  return id;
}

ValueId Graph::storage_root(ValueId id) const {
  while (value(id).kind == ValueKind::kView)
    id = value(id).view_of;
  return id;
}

ValueId Graph::embedding(ValueId ids, ValueId table) {
  return add_node(OpKind::kEmbedding, {ids, table}, DType::kF32,
                  Shape{value(ids).shape[0], value(table).shape[1]});
}

ValueId Graph::shard_ids(ValueId ids, int64_t begin, int64_t end) {
  return add_node(OpKind::kShardIds, {ids}, DType::kI32, value(ids).shape, ShardIdsAttrs{begin, end});
}

ValueId Graph::all_reduce(ValueId x) {
  return add_node(OpKind::kAllReduce, {x}, value(x).dtype, value(x).shape);
}

ValueId Graph::all_gather_columns(ValueId x, int world) {
  const Shape& s = value(x).shape;
  return add_node(OpKind::kAllGatherColumns, {x}, value(x).dtype, Shape{s[0], s[1] * world});
}

ValueId Graph::matmul(ValueId x, ValueId w, ValueId bias, ValueId addend) {
  std::vector<ValueId> inputs{x, w, bias};
  if (addend.valid()) inputs.push_back(addend);
  return add_node(OpKind::kMatmul, std::move(inputs), DType::kF32,
                  Shape{value(x).shape[0], value(w).shape[0]});
}

ValueId Graph::matmul_swiglu(ValueId x, ValueId w, ValueId bias, ValueId addend) {
  std::vector<ValueId> inputs{x, w, bias};
  if (addend.valid()) inputs.push_back(addend);
  return add_node(OpKind::kMatmulSwiglu, std::move(inputs), DType::kF32,
                  Shape{value(x).shape[0], value(w).shape[0]});
}

ValueId Graph::rms_norm(ValueId x, ValueId weight, float eps) {
  return add_node(OpKind::kRmsNorm, {x, weight}, value(x).dtype, value(x).shape, NormAttrs{eps});
}

ValueId Graph::add_rms_norm(ValueId x, ValueId residual, ValueId weight, float eps) {
  const Shape& s = value(x).shape;
  int64_t dims[Shape::kMaxDims] = {2};
  for (int i = 0; i < s.rank(); ++i)
    dims[i + 1] = s[i];
  Shape stacked;
  const bool fits = Shape::from_dims(dims, s.rank() + 1, &stacked);
  assert(fits && "add_rms_norm takes x of rank < Shape::kMaxDims");
  (void)fits;
  return add_node(OpKind::kRmsNorm, {x, weight, residual}, value(x).dtype, stacked, NormAttrs{eps});
}

ValueId Graph::layer_norm(ValueId x, ValueId weight, ValueId bias, float eps) {
  return add_node(OpKind::kLayerNorm, {x, weight, bias}, value(x).dtype, value(x).shape, NormAttrs{eps});
}

ValueId Graph::rope(ValueId x, ValueId positions, ValueId inv_freq, int rotary_dim, RopeLayout layout) {
  return add_node(OpKind::kRope, {x, positions, inv_freq}, value(x).dtype, value(x).shape,
                  RopeAttrs{rotary_dim, layout});
}

void Graph::kv_store(ValueId src, ValueId cache, int64_t start) {
  nodes_.push_back(Node{OpKind::kKvStore, {src, cache}, ValueId{}, KvStoreAttrs{start}, lane_});
}

ValueId Graph::rope_kv_store(ValueId q, ValueId k, ValueId v, ValueId positions, ValueId inv_freq,
                             ValueId k_cache, ValueId v_cache, int rotary_dim, RopeLayout layout) {
  return add_node(OpKind::kRopeKvStore, {q, k, v, positions, inv_freq, k_cache, v_cache}, value(q).dtype,
                  value(q).shape, RopeAttrs{rotary_dim, layout});
}

ValueId Graph::rope_kv_store_paged(ValueId q, ValueId k, ValueId v, ValueId positions, ValueId slots,
                                   ValueId inv_freq, ValueId k_cache, ValueId v_cache, int rotary_dim,
                                   RopeLayout layout) {
  return add_node(OpKind::kRopeKvStore, {q, k, v, positions, inv_freq, k_cache, v_cache, slots},
                  value(q).dtype, value(q).shape, RopeAttrs{rotary_dim, layout});
}

ValueId Graph::rope_kv_store_paged_packed(ValueId qkv, int64_t q_heads, int64_t head_dim, ValueId positions,
                                          ValueId slots, ValueId inv_freq, ValueId k_cache, ValueId v_cache,
                                          int rotary_dim, RopeLayout layout) {
  // Inputs in the executor's order (q, k, v, positions, inv_freq, caches, slots, qkv), q, k and v absent.
  return add_node(OpKind::kRopeKvStore,
                  {ValueId{}, ValueId{}, ValueId{}, positions, inv_freq, k_cache, v_cache, slots, qkv},
                  value(qkv).dtype, Shape{value(qkv).shape[0], q_heads, head_dim},
                  RopeAttrs{rotary_dim, layout});
}

ValueId Graph::paged_attention(ValueId q, ValueId k_cache, ValueId v_cache, ValueId block_tables,
                               ValueId q_start, ValueId seq_lens, const PagedAttentionAttrs& attrs) {
  return add_node(OpKind::kPagedAttention, {q, k_cache, v_cache, block_tables, q_start, seq_lens},
                  value(q).dtype, value(q).shape, attrs);
}

ValueId Graph::attention(ValueId q, ValueId k_cache, ValueId v_cache, const AttentionAttrs& attrs) {
  return add_node(OpKind::kAttention, {q, k_cache, v_cache}, value(q).dtype, value(q).shape, attrs);
}

ValueId Graph::attention(ValueId q, ValueId k_cache, ValueId v_cache, ValueId positions,
                         const AttentionAttrs& attrs) {
  return add_node(OpKind::kAttention, {q, k_cache, v_cache, positions}, value(q).dtype, value(q).shape,
                  attrs);
}

ValueId Graph::swiglu(ValueId x) {
  const Shape& s = value(x).shape;
  return add_node(OpKind::kSwiglu, {x}, value(x).dtype, Shape{s[0], s[1] / 2});
}

ValueId Graph::add(ValueId a, ValueId b) {
  return add_node(OpKind::kAdd, {a, b}, value(a).dtype, value(a).shape);
}

ValueId Graph::softmax(ValueId x) {
  return add_node(OpKind::kSoftmax, {x}, value(x).dtype, value(x).shape);
}

ValueId Graph::concat_rows(ValueId a, ValueId b) {
  Shape shape = value(a).shape;
  shape[0] += value(b).shape[0];
  return add_node(OpKind::kConcatRows, {a, b}, value(a).dtype, shape);
}

int Graph::lane_count() const {
  int lanes = 1;
  for (const Node& n : nodes_)
    lanes = std::max(lanes, n.lane + 1);
  return lanes;
}

std::string Graph::dump() const {
  auto name = [&](ValueId id) -> std::string {
    if (!id.valid()) return "_";
    const Value& v = value(id);
    switch (v.kind) {
      case ValueKind::kInput:
        return "in:" + v.name;
      case ValueKind::kWeight:
        return "w:" + v.name;
      case ValueKind::kState:
        return "state:" + v.name;
      case ValueKind::kIntermediate:
      case ValueKind::kView:
        return "%" + std::to_string(id.index);
    }
    return "?";
  };
  std::string out;
  for (const Node& n : nodes_) {
    if (n.output.valid()) out += name(n.output) + " = ";
    out += op_kind_name(n.op);
    out += "(";
    for (size_t i = 0; i < n.inputs.size(); ++i)
      out += (i ? ", " : "") + name(n.inputs[i]);
    out += ")";
    if (n.output.valid()) {
      const Value& v = value(n.output);
      out += " " + std::string(dtype_name(v.dtype)) + v.shape.to_string();
    }
    out += "\n";
  }
  return out;
}

}  // namespace autoglm
