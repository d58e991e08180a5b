// Small helpers shared by the CLI subcommands.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autoglm/status.h"

namespace autoglm::cli {

// "1 2 3" or "1,2,3" -> ids; an error names the first bad field.
Expected<std::vector<int32_t>> parse_token_ids(const std::string& text);
// Prints "error: <message>" to stderr and returns exit code 1.
int fail(const Status& status);

}  // namespace autoglm::cli
