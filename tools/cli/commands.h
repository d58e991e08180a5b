// Subcommands of the autoglm CLI. Each add_* attaches its options and callback to the app; the callback
// stores its exit code for main to return.
#pragma once

#include <CLI/CLI.hpp>

namespace autoglm::cli {

void add_generate(CLI::App& app);
void add_bench(CLI::App& app);
void add_bench_serve(CLI::App& app);
void add_inspect(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_download(CLI::App& app);
void add_serve(CLI::App& app);

inline void register_all(CLI::App& app) {
  add_generate(app);
  add_bench(app);
  add_bench_serve(app);
  add_inspect(app);
  add_tokenize(app);
  add_download(app);
  add_serve(app);
}

void set_exit_code(int code);
int exit_code();

}  // namespace autoglm::cli
