// Where a model keeps its chat template, found from the model path as HF transformers and llama.cpp look:
//   HF folder: chat_template.jinja, else tokenizer_config.json's "chat_template", else chat_template.json
//              (a processor's); BOS/EOS strings from tokenizer_config.json.
//   GGUF file: metadata "tokenizer.chat_template" (or "tokenizer.chat_template.<name>" for a named one);
//              BOS/EOS strings are the vocabulary entries of tokenizer.ggml.bos_token_id / eos_token_id.
#pragma once

#include <string>
#include <string_view>

#include "tokenizer/chat/chat_template.h"

namespace autoglm {

// kNotFound when the model has no chat template (or none of that name); other errors for unreadable files.
Expected<ChatTemplateConfig> find_chat_template(const std::string& model_path,
                                                std::string_view name = "default");

}  // namespace autoglm
