// Downloads from the Hugging Face hub into its standard cache (~/.cache/huggingface/hub), laid out exactly as
// huggingface_hub lays it out, so Python tools and this engine share one copy of every model:
//   {cache}/models--{org}--{name}/blobs/{etag}                  the content, named by the hub's ETag
//   {cache}/models--{org}--{name}/snapshots/{commit}/{file}     relative symlinks into blobs/
//   {cache}/models--{org}--{name}/refs/{revision}               the commit the revision pointed at
// Downloads resume after a cut connection (and across runs), LFS files are checked against their SHA-256,
// and files already in the snapshot are not downloaded again.
#pragma once

#include <string>

#include "core/status.h"

namespace autoglm {

struct HubOptions {
  std::string endpoint;   // empty: $HF_ENDPOINT, else https://huggingface.co
  std::string token;      // empty: $HF_TOKEN, else the file $HF_TOKEN_PATH or $HF_HOME/token if present
  std::string cache_dir;  // empty: $HF_HUB_CACHE, else $HF_HOME/hub ($HF_HOME: ~/.cache/huggingface)
  std::string revision = "main";  // a branch, tag or commit hash
  int progress = -1;              // progress bar on stderr: 1 on, 0 off, -1 when stderr is a terminal
  bool offline = false;           // also on when $HF_HUB_OFFLINE=1: resolve from the cache only
};

// spec: "org/name", a transformers model repo: downloads config.json and the tokenizer (tokenizer.json, else
// tokenizer.model, else vocab.json + merges.txt), the side files present among generation_config.json,
// tokenizer_config.json, special_tokens_map.json, chat_template.jinja and chat_template.json, and the
// safetensors weights (the shards model.safetensors.index.json names, else model.safetensors, else every
// top-level .safetensors file). Returns the snapshot folder.
// spec: "org/name:FILE", one file (a .gguf, say); FILE may be a glob like "*Q4_K_M.gguf" matched against
// the repo's file list, and must then match one file, or the shards of one split GGUF
// (name-00001-of-00003.gguf ...), which are all downloaded. Returns the path of the file (the first shard).
// Errors: kNotFound for a repo, revision or file the hub does not have, or, offline, that the cache lacks;
// kInvalidArgument for a malformed spec, an ambiguous pattern or access refused (401/403, the message says to
// set HF_TOKEN); kIoError for network failures that outlasted the retries, server errors and disk errors;
// kParseError for a corrupted download (checksum or size mismatch) or a malformed answer from the hub.
Expected<std::string> download_hf_model(const std::string& spec, const HubOptions& options);

}  // namespace autoglm
