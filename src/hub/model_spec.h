// The model path a command loads, from either a local path or a Hugging Face repo to download.
#pragma once

#include <string>

#include "core/status.h"
#include "hub/hf_hub.h"

namespace autoglm {

// `hf_repo` non-empty: downloads it (a download_hf_model spec, "org/name" or "org/name:FILE") and returns
// the local path; it takes precedence over `model`. Else `model` unchanged. kInvalidArgument when both are
// empty.
Expected<std::string> resolve_model_path(const std::string& model, const std::string& hf_repo,
                                         const HubOptions& options);

}  // namespace autoglm
