// The state behind an Engine: backend, model, tokenizer and chat template. Shared with the serving engine
// (AsyncEngine), which runs the same model through the paged-KV step loop.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "autoglm/engine.h"
#include "backend/backend.h"
#include "engine/model_group.h"
#include "model/model.h"
#include "tokenizer/chat/chat_template_source.h"
#include "tokenizer/tokenizer.h"

namespace autoglm {

struct Engine::Impl {
  std::unique_ptr<ModelGroup> ranks;     // the model on every tensor-parallel rank (one without parallelism)
  Backend* backend = nullptr;            // rank 0's: where logits are read and sampling happens
  Model* model = nullptr;                // rank 0's
  std::unique_ptr<Tokenizer> tokenizer;  // null: ids only
  std::optional<ChatTemplate> chat_template;
  ChatTemplateConfig chat_config;  // its BOS/EOS strings
  int64_t max_context = 0;
  std::vector<std::string> gpu_pci_bus_ids;  // each rank's GPU, asked of the driver once at creation
};

}  // namespace autoglm
