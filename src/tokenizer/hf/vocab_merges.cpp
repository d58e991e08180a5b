// load_hf_vocab_merges: vocab.json + merges.txt (+ tokenizer_config.json) -> the pipeline transformers builds
// for the GPT-2 and Qwen2 tokenizer classes (convert_slow_tokenizer's GPT2Converter / Qwen2Converter).
#include <algorithm>
#include <memory>

#include "tokenizer/hf/bpe_model.h"
#include "tokenizer/hf/hf_tokenizer.h"
#include "tokenizer/hf/json_field.h"
#include "tokenizer/hf/tokenizer_config.h"
#include "tokenizer/hf_tokenizer.h"

namespace autoglm {
namespace hf {
namespace {

constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

enum class VocabMergesClass { kGpt2, kQwen2 };

Expected<VocabMap> read_vocab_json(const std::string& path) {
  AUTOGLM_ASSIGN_OR_RETURN(nlohmann::json doc, read_json_file(path));
  const JsonField root(doc, "", &path);
  if (!root.is_object())
    return root.error(std::string("expected an object, got ") + JsonField::type_name(doc));
  VocabMap vocab;
  vocab.reserve(doc.size());
  for (const auto& [piece, value] : doc.items()) {
    if (!value.is_number_integer() && !value.is_number_unsigned()) {
      return root.error("entry \"" + piece + "\": expected an integer id, got " +
                        JsonField::type_name(value));
    }
    const int64_t id = value.get<int64_t>();
    if (id < 0 || id > kMaxTokenId) return root.error("entry \"" + piece + "\": id out of range");
    vocab.emplace(piece, static_cast<int32_t>(id));
  }
  return vocab;
}

// One merge per line; a first line "#version: ..." and empty lines are skipped.
Expected<std::vector<std::pair<std::string, std::string>>> read_merges_txt(const std::string& path,
                                                                           const VocabMap& vocab) {
  AUTOGLM_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  std::vector<std::pair<std::string, std::string>> merges;
  size_t pos = 0;
  size_t line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    auto pair = split_merge_line(line, vocab);
    if (!pair) {
      return parse_error(path + ": line " + std::to_string(line_no) + ": \"" + std::string(line) +
                         "\" does not split into two vocabulary tokens");
    }
    merges.push_back(std::move(*pair));
  }
  return merges;
}

}  // namespace
}  // namespace hf

Expected<std::unique_ptr<Tokenizer>> load_hf_vocab_merges(const std::string& dir) {
  using namespace hf;
  AUTOGLM_ASSIGN_OR_RETURN(std::optional<TokenizerConfig> config, read_tokenizer_config(dir));
  VocabMergesClass cls = VocabMergesClass::kGpt2;
  if (config && config->tokenizer_class) {
    const std::string& name = *config->tokenizer_class;
    if (name == "Qwen2Tokenizer" || name == "Qwen2TokenizerFast") {
      cls = VocabMergesClass::kQwen2;
    } else if (name != "GPT2Tokenizer" && name != "GPT2TokenizerFast") {
      return unsupported(
          dir + "/tokenizer_config.json: tokenizer_class \"" + name +
          "\" is not supported with vocab.json + merges.txt (GPT2Tokenizer, Qwen2Tokenizer are)");
    }
  }
  if (!config) config.emplace();
  if (cls == VocabMergesClass::kGpt2) {
    // GPT2Tokenizer's defaults.
    for (auto* slot : {&config->bos_token, &config->eos_token, &config->unk_token}) {
      if (!*slot) *slot = AddedToken{"<|endoftext|>", -1, true, false, false, false, false};
    }
  }

  const std::string vocab_path = dir + "/vocab.json";
  const std::string merges_path = dir + "/merges.txt";
  AUTOGLM_ASSIGN_OR_RETURN(VocabMap vocab, read_vocab_json(vocab_path));
  AUTOGLM_ASSIGN_OR_RETURN(auto merges, read_merges_txt(merges_path, vocab));

  HfPipeline p;
  p.source = "vocab.json + merges.txt";
  auto bpe = BpeModel::create(std::move(vocab), merges, BpeOptions{});
  if (!bpe) return parse_error(merges_path + ": " + bpe.status().message());
  p.model = std::move(bpe).value();

  const bool add_prefix_space = config->add_prefix_space.value_or(false);
  if (cls == VocabMergesClass::kQwen2) {
    if (add_prefix_space)
      return unsupported(dir + "/tokenizer_config.json: Qwen2 with add_prefix_space is not supported");
    p.normalizer = make_nfc_normalizer();
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    AUTOGLM_ASSIGN_OR_RETURN(auto split, make_regex_split(kQwen2Pattern, SplitBehavior::kIsolated, false));
    steps.push_back(std::move(split));
    steps.push_back(std::make_unique<ByteLevelPreTokenizer>(false, false));
    p.pre_tokenizer = make_sequence(std::move(steps));
  } else {
    p.pre_tokenizer = std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, true);
  }
  p.decoder = make_byte_level_decoder();

  // Added tokens: added_tokens_decoder, then the named special tokens not yet among them (an id from the
  // vocabulary when they are in it, else the next free id), as transformers adds them.
  p.added_tokens = config->added_tokens_decoder;
  int32_t next_id = p.model->vocab_size();
  for (const AddedToken& t : p.added_tokens)
    next_id = std::max(next_id, t.id + 1);
  auto add_named = [&](const AddedToken& named) {
    if (named.content.empty()) return;
    for (const AddedToken& t : p.added_tokens) {
      if (t.content == named.content) return;
    }
    AddedToken t = named;
    t.id = p.model->token_to_id(t.content).value_or(next_id);
    if (t.id == next_id) ++next_id;
    p.added_tokens.push_back(std::move(t));
  };
  for (const auto* named : {&config->bos_token, &config->eos_token, &config->unk_token, &config->pad_token}) {
    if (*named) add_named(**named);
  }
  for (const AddedToken& t : config->additional_special_tokens)
    add_named(t);

  if (config->bos_token) p.bos_id = lookup_token(p.added_tokens, *p.model, config->bos_token->content);
  if (config->eos_token) p.eos_id = lookup_token(p.added_tokens, *p.model, config->eos_token->content);
  std::vector<int32_t> prefix;
  std::vector<int32_t> suffix;
  if (config->add_bos_token.value_or(false) && p.bos_id) prefix.push_back(*p.bos_id);
  if (config->add_eos_token.value_or(false) && p.eos_id) suffix.push_back(*p.eos_id);
  p.post_processor = make_template(std::move(prefix), std::move(suffix));
  return std::unique_ptr<Tokenizer>(new HfTokenizer(std::move(p)));
}

}  // namespace autoglm
