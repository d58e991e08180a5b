// Llama 1/2/3.x (LlamaForCausalLM): pre-norm decoder, RMSNorm, SwiGLU MLP, NeoX RoPE with optional
// Llama 3 frequency scaling (handled by ModelConfig::rope), GQA, tied or untied embeddings. Biases only when
// the config asks for them (attention_bias covers q/k/v and o, mlp_bias the MLP).
#include "model/architecture.h"

namespace autoglm {
namespace {

const ArchitectureRegistrar kRegister("LlamaForCausalLM", [](const ModelConfig& c) -> Expected<DecoderSpec> {
  DecoderSpec spec;
  spec.qkv_bias = c.attention_bias;
  spec.o_bias = c.attention_bias;
  spec.mlp_bias = c.mlp_bias;
  return spec;
});

}  // namespace
}  // namespace autoglm
