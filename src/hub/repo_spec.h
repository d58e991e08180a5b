// The model spec of download_hf_model ("org/name" or "org/name:FILE") and the checks that keep names from the
// user and from the hub's answers inside the cache folder.
#pragma once

#include <string>

#include "core/status.h"

namespace autoglm::hub {

struct RepoSpec {
  std::string repo_id;       // "org/name" (or a legacy "name")
  std::string file_pattern;  // empty: the whole model
};

// kInvalidArgument for a malformed repo id or an unsafe file name.
Expected<RepoSpec> parse_repo_spec(const std::string& spec);

// A relative path that stays below the folder it is joined to: no absolute path, no "." or ".." component,
// no empty component, no backslash or control character. File names come from the hub's answers, and a
// hostile or broken server must not make the downloader write outside the cache.
bool is_safe_relative_path(const std::string& path);

// A name usable as one path component (an ETag, a commit hash): letters, digits, '-', '_' and '.', not "." or
// "..".
bool is_safe_file_name(const std::string& name);

// A full 40-hex git commit hash.
bool is_commit_hash(const std::string& revision);

}  // namespace autoglm::hub
