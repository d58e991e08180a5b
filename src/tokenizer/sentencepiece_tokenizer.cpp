#include "tokenizer/sentencepiece_tokenizer.h"

#include <fstream>
#include <sstream>

#include "tokenizer/native/sentencepiece_model.h"
#include "tokenizer/native/spm_model.h"
#include "tokenizer/native/spm_normalizer.h"
#include "tokenizer/utf8.h"

namespace autoglm {
namespace {

using native::SpmPieceType;

class SentencePieceTokenizer final : public Tokenizer {
 public:
  Status init(native::SpmModelProto proto) {
    AUTOGLM_RETURN_IF_ERROR(model_.init(proto));
    std::vector<std::string> user_defined;
    for (int32_t id = 0; id < model_.size(); ++id) {
      if (model_.type(id) == SpmPieceType::kUserDefined) user_defined.push_back(model_.piece(id));
    }
    AUTOGLM_RETURN_IF_ERROR(
        normalizer_.init(proto.normalizer, proto.treat_whitespace_as_suffix, user_defined));
    treat_whitespace_as_suffix_ = proto.treat_whitespace_as_suffix;
    unk_surface_ = proto.unk_surface;
    // SentencePieceProcessor::bos_id(): the id of bos_piece if it is a control piece.
    auto control_id = [&](const std::string& piece) -> std::optional<int32_t> {
      const int32_t id = model_.piece_id(piece);
      if (id >= 0 && model_.type(id) == SpmPieceType::kControl) return id;
      return std::nullopt;
    };
    bos_ = control_id(proto.bos_piece);
    eos_ = control_id(proto.eos_piece);
    return Status::ok();
  }

  std::vector<int32_t> encode(std::string_view input, const EncodeOptions& options) const override {
    std::vector<int32_t> out;
    if (options.add_special_tokens && bos_) out.push_back(*bos_);
    const std::string normalized =
        utf8::is_valid(input) ? normalizer_.normalize(input) : normalizer_.normalize(utf8::sanitize(input));
    out.reserve(out.size() + normalized.size() / 3 + 1);
    model_.encode(normalized, out);
    return out;
  }

  std::string decode(std::span<const int32_t> ids, const DecodeOptions& options) const override {
    // SentencePiece strips the first piece's leading ▁ even when whitespace is a suffix.
    const bool strip_first_space =
        normalizer_.spec().add_dummy_prefix || normalizer_.spec().remove_extra_whitespaces;
    std::string out;
    bool at_start = true;  // before the first visible piece, whose dummy-prefix space is dropped
    for (int32_t id : ids) {
      if (id < 0 || id >= model_.size()) continue;
      const SpmPieceType type = model_.type(id);
      if (type == SpmPieceType::kByte) {
        const std::string& p = model_.piece(id);  // "<0xAB>", validated when loading
        out.push_back(static_cast<char>(std::stoi(p.substr(3, 2), nullptr, 16)));
        at_start = false;
        continue;
      }
      std::string_view piece = model_.piece(id);
      if (type == SpmPieceType::kControl || type == SpmPieceType::kUnknown) {
        if (options.skip_special_tokens) continue;
        if (type == SpmPieceType::kUnknown) {
          out += unk_surface_;
          at_start = false;
        } else {
          out += piece;  // printed control text takes the place of the first piece, as in HF's decoders
          at_start = at_start && piece.empty();
        }
        continue;
      }
      if (at_start && strip_first_space &&
          piece.substr(0, native::kSpaceSymbol.size()) == native::kSpaceSymbol)
        piece.remove_prefix(native::kSpaceSymbol.size());
      append_unescaped(piece, out);
      // With remove_extra_whitespaces, SentencePiece keeps stripping while the pieces decode to nothing.
      at_start = at_start && piece.empty() && normalizer_.spec().remove_extra_whitespaces;
    }
    return out;
  }

  int32_t vocab_size() const override { return model_.size(); }
  std::string id_to_piece(int32_t id) const override {
    return id >= 0 && id < model_.size() ? model_.piece(id) : std::string();
  }
  std::optional<int32_t> piece_to_id(std::string_view piece) const override {
    const int32_t id = model_.piece_id(piece);
    return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
  }
  bool is_special(int32_t id) const override {
    if (id < 0 || id >= model_.size()) return false;
    return model_.type(id) == SpmPieceType::kControl || model_.type(id) == SpmPieceType::kUnknown;
  }
  std::optional<int32_t> bos_id() const override { return bos_; }
  std::optional<int32_t> eos_id() const override { return eos_; }
  std::string describe() const override {
    std::string type;
    switch (model_.model_type()) {
      case native::SpmModelType::kUnigram:
        type = "unigram";
        break;
      case native::SpmModelType::kBpe:
        type = "bpe";
        break;
      case native::SpmModelType::kWord:
        type = "word";
        break;
      case native::SpmModelType::kChar:
        type = "char";
        break;
    }
    return "sentencepiece " + type + (model_.byte_fallback() ? " (byte fallback)" : "") + ", " +
           std::to_string(model_.size()) + " pieces";
  }

 private:
  void append_unescaped(std::string_view piece, std::string& out) const {
    size_t pos = 0;
    while (pos < piece.size()) {
      const size_t hit = piece.find(native::kSpaceSymbol, pos);
      if (hit == std::string_view::npos) {
        out.append(piece.substr(pos));
        return;
      }
      out.append(piece.substr(pos, hit - pos));
      out.push_back(' ');
      pos = hit + native::kSpaceSymbol.size();
    }
  }

  native::SpmModel model_;
  native::SpmNormalizer normalizer_;
  bool treat_whitespace_as_suffix_ = false;
  std::string unk_surface_;
  std::optional<int32_t> bos_;
  std::optional<int32_t> eos_;
};

}  // namespace

Expected<std::unique_ptr<Tokenizer>> parse_sentencepiece_model(std::string_view bytes,
                                                               const std::string& origin) {
  auto proto = native::parse_sentencepiece_model_proto(bytes);
  if (!proto.has_value()) return proto.status().with_context(origin);
  auto tokenizer = std::make_unique<SentencePieceTokenizer>();
  const Status status = tokenizer->init(std::move(proto).value());
  if (!status.is_ok()) return status.with_context(origin);
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

Expected<std::unique_ptr<Tokenizer>> load_sentencepiece_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open SentencePiece model");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return io_error(path + ": read failed");
  return parse_sentencepiece_model(buffer.str(), path);
}

}  // namespace autoglm
