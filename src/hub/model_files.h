// Which files of a repo a download fetches, chosen from the repo's file list (or, offline, from the files a
// cached snapshot holds).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace autoglm::hub {

// What the engine loads beside the weights: config.json (required), the tokenizer in the order the
// tokenizer loader looks for it (tokenizer.json, else tokenizer.model, else vocab.json + merges.txt;
// required), and the side files present among generation_config.json, tokenizer_config.json,
// special_tokens_map.json, chat_template.jinja, chat_template.json and model.safetensors.index.json.
// kNotFound names what is missing, and points to "repo:FILE" when the repo holds GGUF files instead.
Expected<std::vector<std::string>> model_metadata_files(const std::vector<std::string>& files,
                                                        const std::string& repo_id);

// The safetensors weights: with an index (`index_json`, the content of model.safetensors.index.json, empty
// when there is none) the shards its weight_map names, which must all be in `files`; without one
// model.safetensors, else every top-level .safetensors file. Following the index skips the duplicate
// consolidated checkpoints some repos carry beside the shards.
Expected<std::vector<std::string>> model_weight_files(const std::vector<std::string>& files,
                                                      const std::string& index_json,
                                                      const std::string& repo_id);

// The files "repo:PATTERN" names: the file itself, or the matches of a glob (fnmatch, '*' crossing '/'
// as in huggingface_hub's patterns). The match must be one file, or the shards of one split GGUF
// (NAME-00001-of-00003.gguf ...); a shard of a split GGUF brings all its shards, first one first.
// kNotFound when nothing matches, kInvalidArgument when the pattern matches several unrelated files.
Expected<std::vector<std::string>> match_file_pattern(const std::vector<std::string>& files,
                                                      const std::string& pattern, const std::string& repo_id);

}  // namespace autoglm::hub
