// Qwen2 / Qwen2.5 (Qwen2ForCausalLM): the Llama layer with biases on q/k/v (not on o), usually tied
// embeddings; sliding window only on the layers the config marks.
#include "model/architecture.h"

namespace autoglm {
namespace {

const ArchitectureRegistrar kRegister("Qwen2ForCausalLM", [](const ModelConfig&) -> Expected<DecoderSpec> {
  DecoderSpec spec;
  spec.qkv_bias = true;
  return spec;
});

}  // namespace
}  // namespace autoglm
