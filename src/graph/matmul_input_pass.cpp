#include "graph/matmul_input_pass.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "ops/paged_attention.h"

namespace autoglm {
namespace {

bool is_16bit(DType dtype) {
  return dtype == DType::kBF16 || dtype == DType::kF16;
}

// A paged attention whose caches can give bf16 rows (ops/paged_attention.h).
bool writes_16bit_rows(const Graph& graph, const Node& node) {
  if (node.op != OpKind::kPagedAttention || node.inputs.size() < 2 || !node.inputs[1].valid()) return false;
  const Value& k_cache = graph.value(node.inputs[1]);
  return paged_attention_takes_bf16_rows(k_cache.dtype, k_cache.shape.rank() == 3 ? k_cache.shape[2] : 0);
}

}  // namespace

Status SixteenBitMatmulInputs::run(Graph& graph) {
  const size_t n_values = graph.values().size();
  std::vector<std::vector<int32_t>> views_of(n_values);  // the views standing directly on each value
  for (size_t i = 0; i < n_values; ++i) {
    const Value& v = graph.values()[i];
    if (v.kind == ValueKind::kView)
      views_of[static_cast<size_t>(v.view_of.index)].push_back(static_cast<int32_t>(i));
  }
  std::vector<std::vector<std::pair<size_t, size_t>>> uses(
      n_values);  // (node, input slot) reading each value
  const auto& nodes = graph.nodes();
  for (size_t n = 0; n < nodes.size(); ++n) {
    for (size_t slot = 0; slot < nodes[n].inputs.size(); ++slot) {
      if (nodes[n].inputs[slot].valid())
        uses[static_cast<size_t>(nodes[n].inputs[slot].index)].push_back({n, slot});
    }
  }
  std::vector<bool> is_output(n_values, false);
  for (ValueId out : graph.outputs())
    is_output[static_cast<size_t>(out.index)] = true;

  for (size_t n = 0; n < nodes.size(); ++n) {
    const Node& node = nodes[n];
    const bool norm = node.op == OpKind::kRmsNorm;
    if ((!norm && !writes_16bit_rows(graph, node)) || !node.output.valid()) continue;
    const Value& out = graph.value(node.output);
    if (out.dtype != DType::kF32) continue;
    const bool fused = norm && node.inputs.size() > 2 && node.inputs[2].valid();
    // The values holding the normalized rows: the output itself, or the views of the stacked output's
    // second half (a view reaching into both halves keeps the node as it is).
    std::vector<int32_t> frontier;
    bool retypable = true;
    if (!fused) {
      frontier.push_back(node.output.index);
    } else {
      const int64_t half = out.shape.numel() / 2;
      for (int32_t v : views_of[static_cast<size_t>(node.output.index)]) {
        const Value& view = graph.values()[static_cast<size_t>(v)];
        if (view.dtype != DType::kF32) retypable = false;
        if (view.view_offset == half && view.shape.numel() <= half) {
          frontier.push_back(v);
        } else if (view.view_offset + view.shape.numel() > half) {
          retypable = false;
        }
      }
    }
    // Every view on them, transitively.
    std::vector<int32_t> normed;
    while (!frontier.empty()) {
      const int32_t v = frontier.back();
      frontier.pop_back();
      normed.push_back(v);
      for (int32_t w : views_of[static_cast<size_t>(v)])
        frontier.push_back(w);
    }
    DType want = DType::kF32;
    bool read = false;
    for (int32_t v : normed) {
      if (is_output[static_cast<size_t>(v)]) retypable = false;
      for (const auto& [reader, slot] : uses[static_cast<size_t>(v)]) {
        const Node& r = nodes[reader];
        const DType w_dtype =
            r.op == OpKind::kMatmul && slot == 0 ? graph.value(r.inputs[1]).dtype : DType::kF32;
        if (!is_16bit(w_dtype) || (want != DType::kF32 && want != w_dtype)) retypable = false;
        want = w_dtype;
        read = true;
      }
    }
    if (!retypable || !read) continue;
    if (norm) std::get<NormAttrs>(graph.mutable_nodes()[n].attrs).out_dtype = want;
    if (!fused) graph.mutable_value(node.output).dtype = want;
    for (int32_t v : normed) {
      Value& view = graph.mutable_value(ValueId{v});
      if (view.kind != ValueKind::kView) continue;
      // Same byte position in the 16-bit elements (f32 offsets are even in 16-bit units).
      view.view_offset =
          static_cast<int64_t>(dtype_bytes(view.dtype, view.view_offset) / dtype_bytes(want, 1));
      view.dtype = want;
    }
  }
  return Status::ok();
}

}  // namespace autoglm
