#include "graph/executor.h"

#include <atomic>
#include <chrono>

#include "graph/buffer_plan.h"
#include "ops/add.h"
#include "ops/attention.h"
#include "ops/embedding.h"
#include "ops/layer_norm.h"
#include "ops/matmul.h"
#include "ops/paged_attention.h"
#include "ops/rms_norm.h"
#include "ops/rope.h"
#include "ops/rope_kv_store.h"
#include "ops/shard_ids.h"
#include "ops/softmax.h"
#include "ops/swiglu.h"
#include "parallel/communicator.h"

namespace autoglm {

Executor::Executor(Backend& backend) : backend_(backend) {
  static std::atomic<uint64_t> next_id{1};
  id_ = next_id++;
}

Status Executor::plan(const Graph& graph) {
  BufferPlan plan = plan_buffers(graph);
  if (!arena_.defined() || arena_.nbytes() < plan.arena_bytes) {
    ++arena_generation_;
    AUTOGLM_ASSIGN_OR_RETURN(
        arena_, backend_.allocate(DType::kF32, Shape{static_cast<int64_t>((plan.arena_bytes + 3) / 4)}));
  }
  offsets_ = std::move(plan.offsets);
  stats_.arena_bytes = arena_.nbytes();
  stats_.last_peak_bytes = plan.arena_bytes;
  stats_.last_total_bytes = plan.total_bytes;
  return Status::ok();
}

TensorView Executor::value(const Graph& graph, ValueId id) const {
  const Value& v = graph.value(id);
  switch (v.kind) {
    case ValueKind::kInput:
    case ValueKind::kWeight:
    case ValueKind::kState:
      return v.bound;
    case ValueKind::kIntermediate: {
      TensorView t;
      t.data = static_cast<uint8_t*>(arena_.data()) + offsets_[id.index];
      t.dtype = v.dtype;
      t.shape = v.shape;
      t.device = backend_.device();
      return t;
    }
    case ValueKind::kView: {
      TensorView t = value(graph, v.view_of);
      t.data = static_cast<uint8_t*>(t.data) + dtype_bytes(v.dtype, v.view_offset);
      t.dtype = v.dtype;  // a view may read its bytes as another type (graph/matmul_input_pass.h)
      t.shape = v.shape;
      return t;
    }
  }
  return {};
}

Status Executor::run(const Graph& graph) {
  AUTOGLM_RETURN_IF_ERROR(plan(graph));
  for (const Node& node : graph.nodes()) {
    const auto start =
        profiling_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    Status s = run_node(graph, node);
    if (!s.is_ok()) return s.with_context(std::string("node ") + op_kind_name(node.op));
    if (profiling_) {
      AUTOGLM_RETURN_IF_ERROR(backend_.synchronize());
      const auto k = static_cast<size_t>(node.op);
      stats_.op_ms[k] +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      ++stats_.op_calls[k];
    }
  }
  return Status::ok();
}

Status Executor::run_node(const Graph& graph, const Node& node) {
  auto in = [&](size_t i) -> TensorView {
    return node.inputs.size() > i && node.inputs[i].valid() ? value(graph, node.inputs[i]) : TensorView{};
  };
  const TensorView out = node.output.valid() ? value(graph, node.output) : TensorView{};
  switch (node.op) {
    case OpKind::kEmbedding:
      return embedding(backend_, {in(0), in(1), out});
    case OpKind::kMatmul:
      return matmul(backend_, {in(0), in(1), in(2), out, graph.batch_invariant_matmuls});
    case OpKind::kMatmulSwiglu:
      return matmul_swiglu(backend_, {in(0), in(1), in(2), out, graph.batch_invariant_matmuls});
    case OpKind::kRmsNorm: {
      const auto& attrs = std::get<NormAttrs>(node.attrs);
      if (!in(2).data) return rms_norm(backend_, {in(0), in(1), attrs.eps, out});
      // Fused with the residual add: out is [2, ...x's shape], the sum then its norm (Graph::add_rms_norm);
      // a 16-bit norm fills the first half of the second row's bytes.
      const Shape shape = in(0).shape;
      TensorView normed = out.rows(1, 2).reshaped(shape);
      normed.dtype = attrs.out_dtype;
      return rms_norm(backend_, {in(0), in(1), attrs.eps, normed, in(2), out.rows(0, 1).reshaped(shape)});
    }
    case OpKind::kLayerNorm:
      return layer_norm(backend_, {in(0), in(1), in(2), std::get<NormAttrs>(node.attrs).eps, out});
    case OpKind::kRope: {
      const auto& a = std::get<RopeAttrs>(node.attrs);
      return rope(backend_, {in(0), in(1), in(2), a.rotary_dim, a.layout, out});
    }
    case OpKind::kKvStore:
      return kv_store(backend_, {in(0), in(1), std::get<KvStoreAttrs>(node.attrs).start});
    case OpKind::kAttention: {
      const auto& a = std::get<AttentionAttrs>(node.attrs);
      return attention(backend_, {in(0), in(1), in(2), a.q_pos0, a.scale, a.window, a.softcap, out, in(3)});
    }
    case OpKind::kSwiglu:
      return swiglu(backend_, {in(0), out});
    case OpKind::kAdd:
      return add(backend_, {in(0), in(1), out});
    case OpKind::kSoftmax:
      return softmax(backend_, {in(0), out});
    case OpKind::kRopeKvStore: {
      const auto& a = std::get<RopeAttrs>(node.attrs);
      return rope_kv_store(backend_, {in(0), in(1), in(2), in(3), in(4), a.rotary_dim, a.layout, out, in(5),
                                      in(6), in(7), in(8)});
    }
    case OpKind::kPagedAttention: {
      const auto& a = std::get<PagedAttentionAttrs>(node.attrs);
      return paged_attention(backend_, {in(0), in(1), in(2), in(3), in(4), in(5), a.block_size, a.max_q_len,
                                        a.n_decode_seqs, a.scale, a.window, a.softcap, out});
    }
    case OpKind::kShardIds: {
      const auto& a = std::get<ShardIdsAttrs>(node.attrs);
      return shard_ids(backend_, {in(0), a.begin, a.end, out});
    }
    case OpKind::kAllReduce:
      if (communicator_ == nullptr) return invalid_argument("all_reduce: the executor has no communicator");
      AUTOGLM_RETURN_IF_ERROR(backend_.copy(out, in(0)));
      return communicator_->all_reduce_sum(out);
    case OpKind::kAllGatherColumns:
      if (communicator_ == nullptr)
        return invalid_argument("all_gather_columns: the executor has no communicator");
      return communicator_->all_gather_columns(in(0), out);
  }
  return internal_error("unhandled op");
}

}  // namespace autoglm
