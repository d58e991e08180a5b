// autoglm: command-line entry point. Each subcommand lives in its own file and registers itself here.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Open-AutoGLM: LLM inference engine"};
  app.require_subcommand(1);
  app.set_config("--config", "",
                 "TOML file of options: a [serve] table for `autoglm serve` (command-line values win)");
  autoglm::cli::register_all(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return autoglm::cli::exit_code();
}
