// autoglm download SPEC: fetches a model (org/name) or one file (org/name:FILE, FILE may be a glob) from the
// Hugging Face hub into its shared cache and prints the local path, for -m of the other commands.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"
#include "hub/hf_hub.h"

namespace autoglm::cli {
namespace {

struct DownloadOptions {
  std::string spec;
  HubOptions hub;
  bool no_progress = false;
};

int run_download(DownloadOptions o) {
  if (o.no_progress) o.hub.progress = 0;
  auto path = download_hf_model(o.spec, o.hub);
  if (!path) return fail(path.status());
  std::printf("%s\n", path->c_str());
  return 0;
}

}  // namespace

void add_download(CLI::App& app) {
  auto o = std::make_shared<DownloadOptions>();
  CLI::App* cmd =
      app.add_subcommand("download", "Download a model from the Hugging Face hub, print its path");
  cmd->add_option(
         "spec", o->spec,
         "org/name (config, tokenizer and safetensors weights) or org/name:FILE (one file; FILE may be "
         "a glob such as '*Q4_K_M.gguf')")
      ->required();
  cmd->add_option("--cache-dir", o->hub.cache_dir,
                  "cache folder (default: $HF_HUB_CACHE, else $HF_HOME/hub)");
  cmd->add_option("--revision", o->hub.revision, "branch, tag or commit hash")->capture_default_str();
  cmd->add_flag("--no-progress", o->no_progress, "no progress bar on stderr");
  cmd->add_flag("--offline", o->hub.offline, "resolve from the cache only (as HF_HUB_OFFLINE=1)");
  cmd->footer(
      "The token for gated and private models comes from $HF_TOKEN or $HF_HOME/token; the endpoint "
      "from $HF_ENDPOINT.");
  cmd->callback([o] { set_exit_code(run_download(*o)); });
}

}  // namespace autoglm::cli
