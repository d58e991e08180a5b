// Architectures are described, not hard-coded: each file in src/model/arch/ registers, under its HF
// `architectures` name, a function turning a ModelConfig into a DecoderSpec (which optional parts the
// decoder layer has and how its checkpoint names them). The shared decoder (decoder_weights, decoder_graph)
// loads and builds every architecture from its spec, for every backend and file format.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "loader/model_config.h"
#include "ops/rope.h"

namespace autoglm {

struct DecoderSpec {
  RopeLayout rope_layout = RopeLayout::kNeox;
  bool qkv_bias = false;        // q/k/v projections have biases
  bool o_bias = false;          // the attention output projection has a bias
  bool mlp_bias = false;        // gate/up/down projections have biases
  bool qk_norm = false;         // per-head RMSNorm of q and k before RoPE (Qwen3)
  bool fused_gate_up = false;   // checkpoint stores mlp.gate_up_proj = [gate; up] (GLM)
  bool sandwich_norms = false;  // RMSNorm after attention and after the MLP, before the residual add (GLM-4)
};

using ArchitectureFactory = std::function<Expected<DecoderSpec>(const ModelConfig&)>;

void register_architecture(const std::string& hf_name, ArchitectureFactory factory);
// kUnsupported listing the registered names when hf_name is unknown.
Expected<DecoderSpec> decoder_spec_for(const ModelConfig& config);
std::vector<std::string> architecture_names();

struct ArchitectureRegistrar {
  ArchitectureRegistrar(const std::string& hf_name, ArchitectureFactory factory) {
    register_architecture(hf_name, std::move(factory));
  }
};

}  // namespace autoglm
