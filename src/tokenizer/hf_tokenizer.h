// Tokenizers in Hugging Face formats: the `tokenizers` pipeline stored in tokenizer.json, and the older
// vocab.json + merges.txt pair of byte-level BPE models. Both reproduce HF exactly (ids and decodes; see
// tests/tokenizer/hf and tools/tokenizer/make_expectations.py for the reference runs).
//
// Padding and truncation settings stored in a tokenizer.json are ignored: encode returns the whole sequence.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace autoglm {

// A tokenizer.json file. BOS/EOS come from tokenizer_config.json (else special_tokens_map.json) next to it,
// when present and readable (they are optional metadata). Errors: kNotFound/kIoError for the file,
// kParseError (malformed JSON, wrong types, merges outside the vocabulary...) and kUnsupported (a component
// type we do not implement), each naming the file and the JSON path.
Expected<std::unique_ptr<Tokenizer>> load_hf_tokenizer_json(const std::string& tokenizer_json_path);

// A directory with vocab.json and merges.txt, plus tokenizer_config.json when present (tokenizer_class,
// added_tokens_decoder, bos/eos/unk/pad and additional special tokens, add_prefix_space, add_bos_token):
// the tokenizer transformers.AutoTokenizer.from_pretrained(dir) builds for GPT-2 (also when there is no
// config) and Qwen2 classes; other classes are kUnsupported.
Expected<std::unique_ptr<Tokenizer>> load_hf_vocab_merges(const std::string& dir);

}  // namespace autoglm
