// The Tokenizer that runs an HF pipeline: added tokens -> normalizer -> pre-tokenizer -> model ->
// post-processor, and pieces -> decoder for the way back. Assembled by the two loaders.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "tokenizer/hf/added_vocabulary.h"
#include "tokenizer/hf/decoders.h"
#include "tokenizer/hf/model.h"
#include "tokenizer/hf/normalizers.h"
#include "tokenizer/hf/post_processors.h"
#include "tokenizer/hf/pre_tokenizers.h"
#include "tokenizer/tokenizer.h"

namespace autoglm::hf {

struct HfPipeline {
  std::unique_ptr<Normalizer> normalizer;         // may be null
  std::unique_ptr<PreTokenizer> pre_tokenizer;    // may be null: the whole text is one word
  std::unique_ptr<Model> model;                   // required
  std::unique_ptr<PostProcessor> post_processor;  // may be null: add_special_tokens adds nothing
  std::unique_ptr<Decoder> decoder;               // may be null: pieces joined by spaces, as HF
  std::vector<AddedToken> added_tokens;
  std::optional<int32_t> bos_id;
  std::optional<int32_t> eos_id;
  std::string source;  // "tokenizer.json", "vocab.json + merges.txt", for describe()
};

class HfTokenizer final : public Tokenizer {
 public:
  explicit HfTokenizer(HfPipeline pipeline);

  std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options) const override;
  std::string decode(std::span<const int32_t> ids, const DecodeOptions& options) const override;
  int32_t vocab_size() const override { return vocab_size_; }
  std::string id_to_piece(int32_t id) const override;
  std::optional<int32_t> piece_to_id(std::string_view piece) const override;
  bool is_special(int32_t id) const override;
  std::optional<int32_t> bos_id() const override { return p_.bos_id; }
  std::optional<int32_t> eos_id() const override { return p_.eos_id; }
  std::string describe() const override;

 private:
  HfPipeline p_;
  AddedVocabulary added_;
  int32_t vocab_size_ = 0;
};

// Finds an id for a token string: added tokens first, then the model vocabulary.
std::optional<int32_t> lookup_token(const std::vector<AddedToken>& added, const Model& model,
                                    std::string_view text);

}  // namespace autoglm::hf
