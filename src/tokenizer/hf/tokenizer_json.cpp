// load_hf_tokenizer_json: tokenizer.json (HF `tokenizers` serialization) -> HfTokenizer.
#include <algorithm>
#include <memory>
#include <unordered_map>

#include "tokenizer/hf/bpe_model.h"
#include "tokenizer/hf/hf_tokenizer.h"
#include "tokenizer/hf/json_field.h"
#include "tokenizer/hf/tokenizer_config.h"
#include "tokenizer/hf/wordpiece_model.h"
#include "tokenizer/hf_tokenizer.h"

namespace autoglm {
namespace hf {
namespace {

Expected<VocabMap> read_vocab_object(const JsonField& model) {
  AUTOGLM_ASSIGN_OR_RETURN(JsonField vocab, model.at("vocab"));
  if (!vocab.is_object()) {
    if (vocab.is_array())
      return vocab.unsupported("a vocabulary given as a list (Unigram style) is not supported here");
    return vocab.error(std::string("expected an object, got ") + JsonField::type_name(vocab.value()));
  }
  VocabMap out;
  out.reserve(vocab.size());
  for (const auto& [piece, value] : vocab.value().items()) {
    if (!value.is_number_integer() && !value.is_number_unsigned()) {
      return vocab.error("entry \"" + piece + "\": expected an integer id, got " +
                         JsonField::type_name(value));
    }
    const int64_t id = value.get<int64_t>();
    if (id < 0 || id > kMaxTokenId)
      return vocab.error("entry \"" + piece + "\": id " + std::to_string(id) + " out of range");
    out.emplace(piece, static_cast<int32_t>(id));
  }
  return out;
}

Expected<std::unique_ptr<Model>> make_bpe(const JsonField& model) {
  AUTOGLM_ASSIGN_OR_RETURN(VocabMap vocab, read_vocab_object(model));
  AUTOGLM_ASSIGN_OR_RETURN(JsonField merges_field, model.array_at("merges"));
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(merges_field.size());
  for (size_t i = 0; i < merges_field.size(); ++i) {
    const JsonField m = merges_field.element(i);
    if (m.is_string()) {
      // Legacy form "a b".
      auto pair = split_merge_line(m.value().get_ref<const std::string&>(), vocab);
      if (!pair)
        return m.error("merge \"" + m.value().get<std::string>() +
                       "\" does not split into two vocabulary tokens");
      merges.push_back(std::move(*pair));
    } else if (m.is_array() && m.size() == 2 && m.value()[0].is_string() && m.value()[1].is_string()) {
      merges.emplace_back(m.value()[0].get<std::string>(), m.value()[1].get<std::string>());
    } else {
      return m.error("expected \"a b\" or [\"a\", \"b\"]");
    }
  }
  if (auto dropout = model.find("dropout")) {
    AUTOGLM_ASSIGN_OR_RETURN(double p, dropout->as_number());
    if (p != 0.0) return dropout->unsupported("BPE dropout is not supported");
  }
  BpeOptions options;
  AUTOGLM_ASSIGN_OR_RETURN(options.unk_token, model.optional_string("unk_token"));
  AUTOGLM_ASSIGN_OR_RETURN(options.continuing_subword_prefix,
                           model.string_or("continuing_subword_prefix", ""));
  AUTOGLM_ASSIGN_OR_RETURN(options.end_of_word_suffix, model.string_or("end_of_word_suffix", ""));
  AUTOGLM_ASSIGN_OR_RETURN(options.fuse_unk, model.bool_or("fuse_unk", false));
  AUTOGLM_ASSIGN_OR_RETURN(options.byte_fallback, model.bool_or("byte_fallback", false));
  AUTOGLM_ASSIGN_OR_RETURN(options.ignore_merges, model.bool_or("ignore_merges", false));
  auto bpe = BpeModel::create(std::move(vocab), merges, std::move(options));
  if (!bpe) return model.error(bpe.status().message());
  return std::unique_ptr<Model>(std::move(bpe).value());
}

Expected<std::unique_ptr<Model>> make_wordpiece(const JsonField& model) {
  AUTOGLM_ASSIGN_OR_RETURN(VocabMap vocab, read_vocab_object(model));
  AUTOGLM_ASSIGN_OR_RETURN(std::string unk, model.string_or("unk_token", "[UNK]"));
  AUTOGLM_ASSIGN_OR_RETURN(std::string prefix, model.string_or("continuing_subword_prefix", "##"));
  AUTOGLM_ASSIGN_OR_RETURN(int64_t max_chars, model.int_or("max_input_chars_per_word", 100));
  if (max_chars < 0) return model.error("max_input_chars_per_word must not be negative");
  auto wp = WordPieceModel::create(std::move(vocab), std::move(unk), std::move(prefix),
                                   static_cast<size_t>(max_chars));
  if (!wp) return model.error(wp.status().message());
  return std::unique_ptr<Model>(std::move(wp).value());
}

Expected<std::unique_ptr<Model>> make_model(const JsonField& model) {
  if (!model.is_object())
    return model.error(std::string("expected an object, got ") + JsonField::type_name(model.value()));
  std::string type;
  if (auto t = model.find("type")) {
    AUTOGLM_ASSIGN_OR_RETURN(type, t->as_string());
  } else if (model.find("merges")) {  // files written before the model was tagged
    type = "BPE";
  } else if (model.find("max_input_chars_per_word")) {
    type = "WordPiece";
  } else {
    return model.error("missing \"type\"");
  }
  if (type == "BPE") return make_bpe(model);
  if (type == "WordPiece") return make_wordpiece(model);
  return model.unsupported("model type \"" + type + "\" is not supported");
}

bool same_token(const AddedToken& a, const AddedToken& b) {
  return a.content == b.content && a.special == b.special && a.lstrip == b.lstrip && a.rstrip == b.rstrip &&
         a.single_word == b.single_word && a.normalized == b.normalized;
}

// The "id" fields are not trusted, as in HF (tokenizers 0.23 AddedVocabulary::add_tokens): a content already
// added or in the model vocabulary keeps that id, any other gets the next one after the model's entry count
// and the added ids so far. For the files we ship this reproduces the ids they state.
Expected<std::vector<AddedToken>> read_added_tokens(const JsonField& root, const Model& model) {
  std::vector<AddedToken> out;
  auto list = root.find("added_tokens");
  if (!list) return out;
  if (!list->is_array()) return list->error("expected an array");
  std::unordered_map<std::string, int32_t> ids;
  std::optional<int32_t> max_id;
  const int32_t entries = model.entry_count();
  for (size_t i = 0; i < list->size(); ++i) {
    const JsonField item = list->element(i);
    if (!item.is_object()) return item.error("expected an object");
    AddedToken t;
    if (auto f = item.find("id")) {
      AUTOGLM_ASSIGN_OR_RETURN(int64_t id, f->as_int());
      (void)id;  // validated as an integer, otherwise unused (see above)
    }
    AUTOGLM_ASSIGN_OR_RETURN(t.content, item.string_at("content"));
    AUTOGLM_ASSIGN_OR_RETURN(t.single_word, item.bool_or("single_word", false));
    AUTOGLM_ASSIGN_OR_RETURN(t.lstrip, item.bool_or("lstrip", false));
    AUTOGLM_ASSIGN_OR_RETURN(t.rstrip, item.bool_or("rstrip", false));
    AUTOGLM_ASSIGN_OR_RETURN(t.special, item.bool_or("special", false));
    AUTOGLM_ASSIGN_OR_RETURN(t.normalized, item.bool_or("normalized", !t.special));
    if (t.content.empty()) continue;
    if (std::any_of(out.begin(), out.end(), [&](const AddedToken& o) { return same_token(o, t); })) continue;
    if (auto it = ids.find(t.content); it != ids.end()) {
      t.id = it->second;
    } else if (auto model_id = model.token_to_id(t.content)) {
      t.id = *model_id;
    } else if (!max_id || (*max_id < entries && entries != 0)) {
      t.id = entries;
    } else {
      if (*max_id >= kMaxTokenId) return item.error("too many added tokens");
      t.id = *max_id + 1;
    }
    if (t.id > kMaxTokenId) return item.error("id out of range");
    ids[t.content] = t.id;
    max_id = std::max(max_id.value_or(t.id), t.id);
    out.push_back(std::move(t));
  }
  return out;
}

// BOS/EOS named by tokenizer_config.json / special_tokens_map.json next to the file. These side files are
// optional metadata: when they are unreadable the tokenizer still loads, without BOS/EOS.
void resolve_bos_eos(const std::string& path, HfPipeline& p) {
  auto config = read_tokenizer_config(parent_directory(path));
  if (!config || !config->has_value()) return;
  const TokenizerConfig& c = **config;
  if (c.bos_token) p.bos_id = lookup_token(p.added_tokens, *p.model, c.bos_token->content);
  if (c.eos_token) p.eos_id = lookup_token(p.added_tokens, *p.model, c.eos_token->content);
}

}  // namespace
}  // namespace hf

Expected<std::unique_ptr<Tokenizer>> load_hf_tokenizer_json(const std::string& path) {
  using namespace hf;
  AUTOGLM_ASSIGN_OR_RETURN(nlohmann::json doc, read_json_file(path));
  const JsonField root(doc, "", &path);
  if (!root.is_object())
    return root.error(std::string("expected an object, got ") + JsonField::type_name(doc));

  HfPipeline p;
  p.source = "tokenizer.json";
  AUTOGLM_ASSIGN_OR_RETURN(JsonField model, root.at("model"));
  AUTOGLM_ASSIGN_OR_RETURN(p.model, make_model(model));
  if (auto f = root.find("normalizer")) {
    AUTOGLM_ASSIGN_OR_RETURN(p.normalizer, make_normalizer(*f));
  }
  if (auto f = root.find("pre_tokenizer")) {
    AUTOGLM_ASSIGN_OR_RETURN(p.pre_tokenizer, make_pre_tokenizer(*f));
  }
  if (auto f = root.find("post_processor")) {
    AUTOGLM_ASSIGN_OR_RETURN(p.post_processor, make_post_processor(*f));
  }
  if (auto f = root.find("decoder")) {
    AUTOGLM_ASSIGN_OR_RETURN(p.decoder, make_decoder(*f));
  }
  AUTOGLM_ASSIGN_OR_RETURN(p.added_tokens, read_added_tokens(root, *p.model));
  resolve_bos_eos(path, p);
  return std::unique_ptr<Tokenizer>(new HfTokenizer(std::move(p)));
}

}  // namespace autoglm
