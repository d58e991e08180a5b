#include "hub/model_spec.h"

namespace autoglm {

Expected<std::string> resolve_model_path(const std::string& model, const std::string& hf_repo,
                                         const HubOptions& options) {
  if (!hf_repo.empty()) return download_hf_model(hf_repo, options);
  if (model.empty()) return invalid_argument("no model: give a local model path or a Hugging Face repo");
  return model;
}

}  // namespace autoglm
