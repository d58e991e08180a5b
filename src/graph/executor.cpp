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

Status Executor::plan(const Graph& graph, const LaneSchedule& schedule) {
  BufferPlan plan = plan_buffers(graph, schedule);
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
  const LaneSchedule schedule = schedule_lanes(graph, backend_.lane_count());
  AUTOGLM_RETURN_IF_ERROR(plan(graph, schedule));
  if (schedule.lanes == 1) return run_nodes(graph, schedule, 0);
  // Lanes: every lane forked from lane 0's queue, each GEMM planned for the SMs its node names, and the
  // backend back on lane 0 with everything joined whatever happens.
  const int own_sm_count = backend_.gemm_sm_count();
  AUTOGLM_RETURN_IF_ERROR(backend_.signal_lane_event(schedule.fork_event));
  Status s = run_nodes(graph, schedule, own_sm_count);
  Status joined = backend_.set_lane(0);
  for (int l = 1; l < schedule.lanes && joined.is_ok(); ++l) {
    const int32_t last = schedule.last_of_lane[static_cast<size_t>(l)];
    if (last >= 0) joined = backend_.wait_lane_event(schedule.event[static_cast<size_t>(last)]);
  }
  if (backend_.gemm_sm_count() != own_sm_count) backend_.set_gemm_sm_count(own_sm_count);
  return s.is_ok() ? joined : s;
}

Status Executor::run_nodes(const Graph& graph, const LaneSchedule& schedule, int own_sm_count) {
  const auto& nodes = graph.nodes();
  std::vector<bool> forked(static_cast<size_t>(schedule.lanes), false);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& node = nodes[i];
    const auto start =
        profiling_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    if (schedule.lanes > 1) {
      const int lane = schedule.lane[i];
      AUTOGLM_RETURN_IF_ERROR(backend_.set_lane(lane));
      if (lane != 0 && !forked[static_cast<size_t>(lane)]) {
        AUTOGLM_RETURN_IF_ERROR(backend_.wait_lane_event(schedule.fork_event));
        forked[static_cast<size_t>(lane)] = true;
      }
      for (int32_t w : schedule.waits[i])
        AUTOGLM_RETURN_IF_ERROR(backend_.wait_lane_event(schedule.event[static_cast<size_t>(w)]));
      if (node.op == OpKind::kMatmul || node.op == OpKind::kMatmulSwiglu) {
        const int sms = node.gemm_sms > 0 ? node.gemm_sms : own_sm_count;
        if (sms != backend_.gemm_sm_count()) backend_.set_gemm_sm_count(sms);
      }
    }
    Status s = run_node(graph, node);
    if (!s.is_ok()) return s.with_context(std::string("node ") + op_kind_name(node.op));
    if (schedule.event[i] >= 0) AUTOGLM_RETURN_IF_ERROR(backend_.signal_lane_event(schedule.event[i]));
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
      return matmul(backend_, {in(0), in(1), in(2), out, graph.batch_invariant_matmuls, in(3)});
    case OpKind::kMatmulSwiglu:
      return matmul_swiglu(backend_, {in(0), in(1), in(2), out, graph.batch_invariant_matmuls, in(3)});
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
    case OpKind::kConcatRows: {
      const TensorView a = in(0), b = in(1);
      const int64_t rows = a.shape[0];
      if (b.dtype != a.dtype || out.dtype != a.dtype || out.numel() != a.numel() + b.numel() ||
          out.shape[0] != rows + b.shape[0]) {
        return invalid_argument("concat_rows: " + a.describe() + " and " + b.describe() + " into " +
                                out.describe());
      }
      AUTOGLM_RETURN_IF_ERROR(backend_.copy(out.rows(0, rows), a));
      return backend_.copy(out.rows(rows, out.shape[0]), b);
    }
  }
  return internal_error("unhandled op");
}

}  // namespace autoglm
