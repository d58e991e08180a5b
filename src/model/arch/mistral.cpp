// Mistral (MistralForCausalLM): the Llama layer with sliding-window attention on the layers the config
// marks (ModelConfig::layer_types / sliding_window); no biases.
#include "model/architecture.h"

namespace autoglm {
namespace {

const ArchitectureRegistrar kRegister("MistralForCausalLM", [](const ModelConfig&) -> Expected<DecoderSpec> {
  return DecoderSpec{};
});

}  // namespace
}  // namespace autoglm
