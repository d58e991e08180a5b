// HF post-processors: what add_special_tokens=True adds around an encoded sequence (single sequences only;
// the engine never encodes pairs).
//
// Supported "type"s: TemplateProcessing (its "single" template), BertProcessing and RobertaProcessing
// ([CLS] A [SEP], resp. <s> A </s>), ByteLevel (offsets only: no ids), Sequence. Others are kUnsupported.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"
#include "tokenizer/hf/json_field.h"

namespace autoglm::hf {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Rewrites the ids of one sequence with its special tokens added.
  virtual void add_special_tokens(std::vector<int32_t>& ids) const = 0;
  // The ids added before / after the sequence (for describe() and bos detection).
  virtual std::vector<int32_t> prefix() const = 0;
};

Expected<std::unique_ptr<PostProcessor>> make_post_processor(const JsonField& spec, int depth = 0);

// Prefix ids + sequence + suffix ids (vocab.json + merges.txt loader).
std::unique_ptr<PostProcessor> make_template(std::vector<int32_t> prefix, std::vector<int32_t> suffix);

}  // namespace autoglm::hf
