// Qwen3 (Qwen3ForCausalLM): the Llama layer plus a per-head RMSNorm of q and k (over head_dim, before RoPE);
// head_dim is set explicitly and may exceed hidden_size / heads; biases only if attention_bias.
#include "model/architecture.h"

namespace autoglm {
namespace {

const ArchitectureRegistrar kRegister("Qwen3ForCausalLM", [](const ModelConfig& c) -> Expected<DecoderSpec> {
  DecoderSpec spec;
  spec.qk_norm = true;
  spec.qkv_bias = c.attention_bias;
  spec.o_bias = c.attention_bias;
  return spec;
});

}  // namespace
}  // namespace autoglm
