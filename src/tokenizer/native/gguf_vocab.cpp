#include "tokenizer/native/gguf_vocab.h"

#include <algorithm>
#include <cctype>

#include "tokenizer/native/piece_map.h"

namespace autoglm::native {
namespace {

// Token texts llama.cpp (llama_vocab::impl::load, as vendored by llama-cpp-python 0.3.36) recognises. Per
// role, when no key names the role's token, the first text present marks its token; the ids are kept only
// for end-of-turn (eot_token_id).
struct RoleTexts {
  std::vector<const char*> keys;
  std::vector<const char*> texts;
};
const std::vector<RoleTexts>& role_texts() {
  static const std::vector<RoleTexts> roles = {
      {{"tokenizer.ggml.eot_token_id"},
       {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
        "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"}},
      {{"tokenizer.ggml.eom_token_id"}, {"<|eom_id|>"}},
      {{"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"},
       {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
        "<|code_prefix|>", "<|prefix|>"}},
      {{"tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"},
       {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
        "<|code_suffix|>", "<|suffix|>"}},
      {{"tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"},
       {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
        "<|code_middle|>", "<|middle|>"}},
      {{"tokenizer.ggml.fim_pad_token_id"}, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}},
      {{"tokenizer.ggml.fim_rep_token_id"},
       {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}},
      {{"tokenizer.ggml.fim_sep_token_id"}, {"<|file_sep|>"}},
  };
  return roles;
}
// End-of-generation texts: every one present is marked.
constexpr const char* kEndOfGenerationTexts[] = {"<|eot_id|>",
                                                 "<|im_end|>",
                                                 "<|end|>",
                                                 "<|return|>",
                                                 "<|call|>",
                                                 "<|flush|>",
                                                 "<|calls|>",
                                                 "<end_of_turn>",
                                                 "<|endoftext|>",
                                                 "</s>",
                                                 "<|eom_id|>",
                                                 "<EOT>",
                                                 "_<EOT>",
                                                 "[EOT]",
                                                 "[EOS]",
                                                 "<|end_of_text|>",
                                                 "<end_of_utterance>",
                                                 "<eos>",
                                                 "<turn|>",
                                                 "<|tool_response>",
                                                 "<｜end▁of▁sentence｜>",
                                                 "[e~["};
// gpt-oss: always rendered, so USER_DEFINED whatever the file says.
constexpr const char* kUserDefinedTexts[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};

// Reads an integer key; absent -> nullopt; present but not an integer -> error.
Expected<std::optional<int64_t>> optional_int(const GgufFile& file, const std::string& key) {
  const GgufValue* v = file.find(key);
  if (!v) return std::optional<int64_t>();
  const auto i = v->as_int();
  if (!i)
    return parse_error(file.path() + ": " + key + " is not an integer (" + gguf_value_type_name(v->type) +
                       ")");
  return std::optional<int64_t>(*i);
}

Status set_bool(const GgufFile& file, const std::string& key, bool& target) {
  AUTOGLM_ASSIGN_OR_RETURN(std::optional<int64_t> v, optional_int(file, key));
  if (v) target = *v != 0;
  return Status::ok();
}

}  // namespace

Expected<GgufVocab> load_gguf_vocab(const GgufFile& file) {
  const std::string& path = file.path();
  auto fail = [&](const std::string& what) { return parse_error(path + ": " + what); };
  GgufVocab vocab;
  const auto model = file.get_string("tokenizer.ggml.model");
  if (!model) return fail("missing tokenizer.ggml.model (not a GGUF file with a vocabulary)");
  vocab.model = *model;
  // llama.cpp's defaults per model.
  if (vocab.model == "llama") {
    vocab.type = GgufVocabType::kSpm;
    vocab.bos = 1, vocab.eos = 2, vocab.unk = 0;
    vocab.add_space_prefix = true;
    vocab.add_bos = true;
  } else if (vocab.model == "gpt2") {
    vocab.type = GgufVocabType::kBpe;
    vocab.bos = 11, vocab.eos = 11;
  } else if (vocab.model == "bert") {
    vocab.type = GgufVocabType::kWpm;
    vocab.bos = 101, vocab.unk = 100, vocab.sep = 102, vocab.pad = 0;
    vocab.add_bos = true;
    vocab.add_sep = true;
  } else {
    return Status(StatusCode::kUnsupported,
                  path + ": tokenizer.ggml.model '" + vocab.model + "' is not supported (llama, gpt2, bert)");
  }
  vocab.pre = file.get_string("tokenizer.ggml.pre").value_or("default");
  if (vocab.type == GgufVocabType::kBpe) {
    const auto pre = find_gguf_pre_tokenizer(vocab.pre);
    if (!pre)
      return Status(StatusCode::kUnsupported, path + ": unknown pre-tokenizer type '" + vocab.pre + "'");
    vocab.pre_tokenizer = *pre;
    vocab.add_bos = pre->add_bos;
    if (pre->family == "chatglm4") vocab.bos.reset();
  }

  const GgufArray* tokens = file.get_array("tokenizer.ggml.tokens");
  if (!tokens) return fail("missing tokenizer.ggml.tokens");
  if (tokens->element_type != GgufValueType::kString)
    return fail("tokenizer.ggml.tokens is not an array of strings");
  if (tokens->strings.empty()) return fail("tokenizer.ggml.tokens is empty");
  if (tokens->strings.size() > (1u << 30)) return fail("tokenizer.ggml.tokens is too large");
  vocab.tokens = tokens->strings;
  const size_t n = vocab.tokens.size();

  if (const GgufArray* scores = file.get_array("tokenizer.ggml.scores")) {
    if (scores->size() != n)
      return fail("tokenizer.ggml.scores has " + std::to_string(scores->size()) + " entries for " +
                  std::to_string(n) + " tokens");
    if (scores->floats.size() == n) {
      vocab.scores.assign(scores->floats.begin(), scores->floats.end());
    } else if (scores->ints.size() == n) {
      vocab.scores.assign(scores->ints.begin(), scores->ints.end());
    } else {
      return fail("tokenizer.ggml.scores is not a numeric array");
    }
  } else {
    vocab.scores.assign(n, 0.0f);
  }

  vocab.types.assign(n, GgufTokenType::kNormal);
  if (const GgufArray* types = file.get_array("tokenizer.ggml.token_type")) {
    if (types->size() != n)
      return fail("tokenizer.ggml.token_type has " + std::to_string(types->size()) + " entries for " +
                  std::to_string(n) + " tokens");
    if (types->ints.size() != n) return fail("tokenizer.ggml.token_type is not an integer array");
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = types->ints[i];
      vocab.types[i] = t >= 1 && t <= 6 ? static_cast<GgufTokenType>(t) : GgufTokenType::kUndefined;
    }
  }

  PieceMap ids;
  ids.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    std::string& token = vocab.tokens[i];
    if (token.empty()) token = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp does
    if (!ids.insert(token, static_cast<int32_t>(i)))
      return fail("duplicate token '" + token + "' (id " + std::to_string(i) + ")");
  }

  if (vocab.type == GgufVocabType::kBpe) {
    const GgufArray* merges = file.get_array("tokenizer.ggml.merges");
    if (!merges) return fail("missing tokenizer.ggml.merges (required by tokenizer.ggml.model 'gpt2')");
    if (merges->element_type != GgufValueType::kString)
      return fail("tokenizer.ggml.merges is not an array of strings");
    vocab.merges.reserve(merges->strings.size());
    for (size_t r = 0; r < merges->strings.size(); ++r) {
      const std::string& m = merges->strings[r];
      const size_t space = m.find(' ', 1);
      if (space == std::string::npos)
        return fail("merge " + std::to_string(r) + " '" + m + "' is not 'left right'");
      const std::string_view left = std::string_view(m).substr(0, space);
      const std::string_view right = std::string_view(m).substr(space + 1);
      const int32_t l = ids.find(left);
      const int32_t rr = ids.find(right);
      if (l < 0 || rr < 0)
        return fail("merge " + std::to_string(r) + " '" + m +
                    "' names a token that is not in the vocabulary");
      if (ids.find(std::string(left) + std::string(right)) < 0)
        return fail("merge " + std::to_string(r) + " '" + m +
                    "' makes a token that is not in the vocabulary");
      vocab.merges.emplace_back(l, rr);
    }
  }

  struct SpecialKey {
    const char* key;
    std::optional<int32_t>* id;
  };
  const SpecialKey specials[] = {
      {"tokenizer.ggml.bos_token_id", &vocab.bos},     {"tokenizer.ggml.eos_token_id", &vocab.eos},
      {"tokenizer.ggml.unknown_token_id", &vocab.unk}, {"tokenizer.ggml.seperator_token_id", &vocab.sep},
      {"tokenizer.ggml.padding_token_id", &vocab.pad}, {"tokenizer.ggml.eot_token_id", &vocab.eot}};
  for (const SpecialKey& s : specials) {
    AUTOGLM_ASSIGN_OR_RETURN(std::optional<int64_t> v, optional_int(file, s.key));
    // llama.cpp keeps the default for an id outside the vocabulary (real files store -1 as u32 for "none").
    if (v && *v >= 0 && *v < static_cast<int64_t>(n)) *s.id = static_cast<int32_t>(*v);
  }
  for (const SpecialKey& s : specials) {
    if (*s.id && (**s.id < 0 || **s.id >= static_cast<int32_t>(n)))
      s.id->reset();  // a default beyond a small vocab
  }
  AUTOGLM_RETURN_IF_ERROR(set_bool(file, "tokenizer.ggml.add_bos_token", vocab.add_bos));
  AUTOGLM_RETURN_IF_ERROR(set_bool(file, "tokenizer.ggml.add_eos_token", vocab.add_eos));
  AUTOGLM_RETURN_IF_ERROR(set_bool(file, "tokenizer.ggml.add_sep_token", vocab.add_sep));
  AUTOGLM_RETURN_IF_ERROR(set_bool(file, "tokenizer.ggml.add_space_prefix", vocab.add_space_prefix));
  AUTOGLM_RETURN_IF_ERROR(set_bool(file, "tokenizer.ggml.normalizer.lowercase", vocab.lowercase));
  vocab.strip_accents = vocab.lowercase;
  AUTOGLM_RETURN_IF_ERROR(set_bool(file, "tokenizer.ggml.normalizer.strip_accents", vocab.strip_accents));

  // llama.cpp gives the CONTROL attribute to tokens it recognises by their text (so that they are no longer
  // parsed from text without parse_special); a USER_DEFINED token that gains it is CONTROL here.
  for (const RoleTexts& role : role_texts()) {
    if (std::any_of(role.keys.begin(), role.keys.end(),
                    [&](const char* key) { return file.find(key) != nullptr; }))
      continue;
    for (const char* text : role.texts) {
      const int32_t id = ids.find(text);
      if (id < 0) continue;
      if (&role == &role_texts().front()) vocab.eot = id;
      vocab.types[id] = GgufTokenType::kControl;
      break;
    }
  }
  for (const char* text : kEndOfGenerationTexts) {
    if (const int32_t id = ids.find(text); id >= 0) vocab.types[id] = GgufTokenType::kControl;
  }
  for (const char* text : kUserDefinedTexts) {
    if (const int32_t id = ids.find(text); id >= 0) vocab.types[id] = GgufTokenType::kUserDefined;
  }

  // Phi-3 (by general.name, as llama.cpp decides): special tokens swallow the whitespace after them.
  vocab.rstrip.assign(n, 0);
  std::string name = file.get_string("general.name").value_or("");
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (size_t i = 0; i < n; ++i) {
      const GgufTokenType t = vocab.types[i];
      if (t == GgufTokenType::kControl || t == GgufTokenType::kUserDefined || t == GgufTokenType::kUnknown)
        vocab.rstrip[i] = 1;
    }
    if (const int32_t id = ids.find("</s>"); id >= 0) vocab.rstrip[id] = 1;
    for (const char* text : {"<unk>", "<s>", "<|endoftext|>"}) {
      if (const int32_t id = ids.find(text); id >= 0) vocab.rstrip[id] = 0;
    }
  }
  return vocab;
}

}  // namespace autoglm::native
