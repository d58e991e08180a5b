#include "tokenizer/hf/hf_tokenizer.h"

#include <algorithm>

#include "tokenizer/hf/bpe_model.h"
#include "tokenizer/utf8.h"

namespace autoglm::hf {

HfTokenizer::HfTokenizer(HfPipeline pipeline) : p_(std::move(pipeline)) {
  // A trailing ByteLevel step lets BPE take raw bytes (same ids, no mapping).
  if (p_.pre_tokenizer) {
    if (ByteLevelPreTokenizer* byte_level = p_.pre_tokenizer->trailing_byte_level()) {
      if (auto* bpe = dynamic_cast<BpeModel*>(p_.model.get()); bpe != nullptr && bpe->enable_byte_units()) {
        byte_level->set_emit_raw_bytes(true);
      }
    }
  }
  added_.build(p_.added_tokens, p_.normalizer.get());
  vocab_size_ = p_.model->vocab_size();
  for (const AddedToken& t : added_.tokens())
    vocab_size_ = std::max(vocab_size_, t.id + 1);
}

std::vector<int32_t> HfTokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  std::string sanitized;
  if (!utf8::is_valid(text)) {
    sanitized = utf8::sanitize(text);
    text = sanitized;
  }
  PieceArena arena;
  std::vector<AddedVocabulary::Split> splits;
  added_.extract_and_normalize(text, p_.normalizer.get(), options.parse_special, arena, splits);
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<Piece> pieces;
  for (const auto& split : splits) {
    if (split.id >= 0) {
      ids.push_back(split.id);
      continue;
    }
    pieces.clear();
    pieces.push_back({split.text, split.at_start});
    if (p_.pre_tokenizer) p_.pre_tokenizer->pre_tokenize(pieces, arena);
    for (const Piece& piece : pieces)
      p_.model->tokenize(piece.text, ids);
  }
  if (options.add_special_tokens && p_.post_processor) p_.post_processor->add_special_tokens(ids);
  return ids;
}

std::string HfTokenizer::decode(std::span<const int32_t> ids, const DecodeOptions& options) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string* piece = added_.decode_piece(id);
    if (piece == nullptr) piece = p_.model->id_to_token(id);
    if (piece == nullptr) continue;
    if (options.skip_special_tokens && added_.is_special_content(*piece)) continue;
    tokens.push_back(*piece);
  }
  if (!p_.decoder) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out.push_back(' ');
      out += tokens[i];
    }
    return out;
  }
  p_.decoder->decode_chain(tokens);
  std::string out;
  for (const std::string& t : tokens)
    out += t;
  return out;
}

std::string HfTokenizer::id_to_piece(int32_t id) const {
  if (const AddedToken* added = added_.find_by_id(id)) return added->content;
  const std::string* piece = p_.model->id_to_token(id);
  return piece != nullptr ? *piece : std::string();
}

std::optional<int32_t> HfTokenizer::piece_to_id(std::string_view piece) const {
  if (auto id = added_.find_by_content(piece)) return id;
  return p_.model->token_to_id(piece);
}

bool HfTokenizer::is_special(int32_t id) const {
  const AddedToken* added = added_.find_by_id(id);
  return added != nullptr && added_.is_special_content(added->content);
}

std::string HfTokenizer::describe() const {
  return p_.model->describe() + " (" + p_.source + "), " + std::to_string(vocab_size_) + " ids, " +
         std::to_string(added_.tokens().size()) + " added tokens";
}

std::optional<int32_t> lookup_token(const std::vector<AddedToken>& added, const Model& model,
                                    std::string_view text) {
  for (const AddedToken& t : added) {
    if (t.content == text) return t.id;
  }
  return model.token_to_id(text);
}

}  // namespace autoglm::hf
