// HubOptions completed from the environment the way huggingface_hub reads it, so that both find the same
// cache, endpoint and token.
#pragma once

#include <string>

#include "hub/hf_hub.h"

namespace autoglm::hub {

struct HubSettings {
  std::string endpoint;  // without a trailing '/'
  std::string token;     // empty: anonymous
  std::string cache_dir;
  std::string revision;
  bool progress = false;
  bool offline = false;
};

HubSettings resolve_hub_settings(const HubOptions& options);

}  // namespace autoglm::hub
