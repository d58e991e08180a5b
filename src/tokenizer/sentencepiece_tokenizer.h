// SentencePiece .model files (a serialized ModelProto), BPE and Unigram (also WORD and CHAR), encoded exactly
// as the `sentencepiece` package does: its normalizer (precompiled charsmap, dummy prefix, extra whitespace
// removal, ▁ escaping), the model's segmentation, byte fallback.
//
// As in SentencePiece, control pieces (<s>, </s>) in the text are never parsed as tokens (parse_special has
// no effect) and user-defined pieces always are. add_special_tokens prepends BOS, as HF's LlamaTokenizer
// does. Decoding follows SentencePiece (▁ -> space, the dummy-prefix space of the first piece removed, byte
// pieces joined into bytes, <unk> as the model's unk_surface " ⁇ "), except that control pieces are printed
// as their text unless skip_special_tokens (HF's convention; SentencePiece always drops them). The result is
// bytes and may end in an incomplete UTF-8 sequence.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace autoglm {

Expected<std::unique_ptr<Tokenizer>> load_sentencepiece_model(const std::string& path);
// The same from the file's bytes; `origin` names the source in errors (tests, fuzzing).
Expected<std::unique_ptr<Tokenizer>> parse_sentencepiece_model(std::string_view bytes,
                                                               const std::string& origin);

}  // namespace autoglm
