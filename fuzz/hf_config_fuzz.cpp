// Fuzz target: a Hugging Face config.json and generation_config.json on arbitrary text. A config the parser
// accepts has passed ModelConfig::validate, so the sizes the model builder divides by and allocates from are
// used here as it uses them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "loader/generation_config.h"
#include "loader/hf_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)autoglm::parse_generation_config(text, "fuzz/generation_config.json");
  auto config = autoglm::parse_hf_config(text, "fuzz/config.json");
  if (!config) return 0;
  const autoglm::ModelConfig& c = *config;
  if (c.hidden_size <= 0 || c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 || c.head_dim <= 0 ||
      c.vocab_size <= 0 || c.num_hidden_layers <= 0 || c.num_attention_heads % c.num_key_value_heads != 0 ||
      static_cast<int64_t>(c.layer_types.size()) != c.num_hidden_layers) {
    std::abort();  // validate() let through what the builder cannot use
  }
  const int64_t rotary = c.rotary_dim();
  if (rotary < 0 || rotary > c.head_dim) std::abort();
  return 0;
}
