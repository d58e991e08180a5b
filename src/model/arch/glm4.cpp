// GLM-4 (Glm4ForCausalLM, GLM-4-0414): the GLM layer plus "sandwich" norms: post_self_attn_layernorm on the
// attention output and post_mlp_layernorm on the MLP output, each before its residual add.
#include "model/architecture.h"

namespace autoglm {
namespace {

const ArchitectureRegistrar kRegister("Glm4ForCausalLM", [](const ModelConfig& c) -> Expected<DecoderSpec> {
  DecoderSpec spec;
  spec.rope_layout = RopeLayout::kInterleaved;
  spec.qkv_bias = c.attention_bias;
  spec.fused_gate_up = true;
  spec.sandwich_norms = true;
  return spec;
});

}  // namespace
}  // namespace autoglm
