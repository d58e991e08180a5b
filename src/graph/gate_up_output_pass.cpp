#include "graph/gate_up_output_pass.h"

#include <vector>

namespace autoglm {

Status SixteenBitGateUpOutput::run(Graph& graph) {
  const size_t n_values = graph.values().size();
  std::vector<int32_t> n_readers(n_values, 0);
  std::vector<bool> read_otherwise(n_values, false);  // by anything but x of a 16-bit matmul_swiglu
  std::vector<DType> down_dtype(n_values, DType::kF32);
  for (const Value& v : graph.values()) {
    if (v.kind == ValueKind::kView) read_otherwise[static_cast<size_t>(v.view_of.index)] = true;
  }
  for (ValueId out : graph.outputs())
    read_otherwise[static_cast<size_t>(out.index)] = true;
  for (const Node& node : graph.nodes()) {
    for (size_t slot = 0; slot < node.inputs.size(); ++slot) {
      if (!node.inputs[slot].valid()) continue;
      const auto v = static_cast<size_t>(node.inputs[slot].index);
      ++n_readers[v];
      if (node.op != OpKind::kMatmulSwiglu || slot != 0) {
        read_otherwise[v] = true;
        continue;
      }
      const DType w = graph.value(node.inputs[1]).dtype;
      if (down_dtype[v] != DType::kF32 && down_dtype[v] != w) read_otherwise[v] = true;
      down_dtype[v] = w;
    }
  }
  for (const Node& node : graph.nodes()) {
    if (node.op != OpKind::kMatmul || !node.output.valid()) continue;
    // A bias, or an addend (an f32 sum), keeps the output f32.
    const bool has_bias = node.inputs.size() > 2 && node.inputs[2].valid();
    const bool has_addend = node.inputs.size() > 3 && node.inputs[3].valid();
    const DType w = graph.value(node.inputs[1]).dtype;
    const auto out = static_cast<size_t>(node.output.index);
    if (has_bias || has_addend || (w != DType::kBF16 && w != DType::kF16) ||
        graph.value(node.output).dtype != DType::kF32 || n_readers[out] == 0 || read_otherwise[out] ||
        down_dtype[out] != w) {
      continue;
    }
    graph.mutable_value(node.output).dtype = w;
  }
  return Status::ok();
}

}  // namespace autoglm
