// autoglm tokenize: stdin (read verbatim, no newline stripping) -> ids on one line; --decode: ids -> text.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"
#include "tokenizer/tokenizer.h"

namespace autoglm::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  bool no_add_special = false;
  bool special = false;
  bool decode = false;
};

int run_tokenize(const TokenizeOptions& o) {
  auto tokenizer = load_tokenizer(o.model);
  if (!tokenizer) return fail(tokenizer.status());
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (o.decode) {
    auto ids = parse_token_ids(input);
    if (!ids) return fail(ids.status());
    const std::string text = (*tokenizer)->decode(*ids, DecodeOptions{!o.special});
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  const auto ids = (*tokenizer)->encode(input, EncodeOptions{!o.no_add_special, o.special});
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i)
    line += (i ? " " : "") + std::to_string(ids[i]);
  std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace

void add_tokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Token ids of stdin (or text of ids with --decode)");
  cmd->add_option("-m,--model", o->model,
                  "HF directory, tokenizer.json, tiktoken or SentencePiece model file, or GGUF file")
      ->required();
  cmd->add_flag("--no-add-special", o->no_add_special, "do not add BOS/EOS as the tokenizer's template does");
  cmd->add_flag("--special", o->special,
                "encode: special-token strings in the text become their ids; decode: print special tokens");
  cmd->add_flag("--decode", o->decode, "read ids from stdin and print their text");
  cmd->callback([o] { set_exit_code(run_tokenize(*o)); });
}

}  // namespace autoglm::cli
