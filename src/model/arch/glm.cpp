// GLM (GlmForCausalLM: glm-4-9b and glm-4-9b-chat in HF format): RoPE on the first
// partial_rotary_factor of each head in the interleaved (GPT-J) layout, q/k/v biases, fused gate_up_proj
// ([gate; up] rows), pre-norm layers like Llama.
#include "model/architecture.h"

namespace autoglm {
namespace {

const ArchitectureRegistrar kRegister("GlmForCausalLM", [](const ModelConfig& c) -> Expected<DecoderSpec> {
  DecoderSpec spec;
  spec.rope_layout = RopeLayout::kInterleaved;
  spec.qkv_bias = c.attention_bias;
  spec.fused_gate_up = true;
  return spec;
});

}  // namespace
}  // namespace autoglm
