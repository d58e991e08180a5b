#include "tokenizer/native/sentencepiece_model.h"

#include "tokenizer/native/protobuf_reader.h"

namespace autoglm::native {
namespace {

// Reads one scalar of the expected wire type, failing the reader on a mismatch.
bool expect_type(ProtoReader& r, WireType actual, WireType expected, const char* what) {
  if (actual == expected) return true;
  r.fail(std::string("field ") + what + " has wire type " + std::to_string(static_cast<int>(actual)) +
         ", expected " + std::to_string(static_cast<int>(expected)));
  return false;
}

void parse_piece(std::string_view bytes, SpmPiece& piece, ProtoReader& outer) {
  ProtoReader r(bytes);
  uint32_t field;
  WireType type;
  while (r.next_field(field, type)) {
    if (field == 1) {
      if (expect_type(r, type, WireType::kLengthDelimited, "SentencePiece.piece"))
        piece.piece = std::string(r.read_bytes());
    } else if (field == 2) {
      if (expect_type(r, type, WireType::kFixed32, "SentencePiece.score")) piece.score = r.read_float();
    } else if (field == 3) {
      if (!expect_type(r, type, WireType::kVarint, "SentencePiece.type")) break;
      const uint64_t v = r.read_varint();
      if (v < 1 || v > 6) {
        r.fail("unknown piece type " + std::to_string(v));
        break;
      }
      piece.type = static_cast<SpmPieceType>(v);
    } else {
      r.skip(type);
    }
  }
  if (!r.ok()) outer.fail("in piece: " + r.error());
}

void parse_trainer_spec(std::string_view bytes, SpmModelProto& model, ProtoReader& outer) {
  ProtoReader r(bytes);
  uint32_t field;
  WireType type;
  while (r.next_field(field, type)) {
    switch (field) {
      case 3:
        if (expect_type(r, type, WireType::kVarint, "TrainerSpec.model_type")) {
          const uint64_t v = r.read_varint();
          if (v < 1 || v > 4) {
            r.fail("unknown model_type " + std::to_string(v));
            break;
          }
          model.model_type = static_cast<SpmModelType>(v);
        }
        break;
      case 24:
        if (expect_type(r, type, WireType::kVarint, "TrainerSpec.treat_whitespace_as_suffix"))
          model.treat_whitespace_as_suffix = r.read_varint() != 0;
        break;
      case 35:
        if (expect_type(r, type, WireType::kVarint, "TrainerSpec.byte_fallback"))
          model.byte_fallback = r.read_varint() != 0;
        break;
      case 44:
      case 45:
      case 46:
      case 47:
      case 48: {
        if (!expect_type(r, type, WireType::kLengthDelimited, "TrainerSpec piece name")) break;
        std::string value(r.read_bytes());
        std::string* target = field == 44   ? &model.unk_surface
                              : field == 45 ? &model.unk_piece
                              : field == 46 ? &model.bos_piece
                              : field == 47 ? &model.eos_piece
                                            : &model.pad_piece;
        *target = std::move(value);
        break;
      }
      default:
        r.skip(type);
    }
  }
  if (!r.ok()) outer.fail("in trainer_spec: " + r.error());
}

void parse_normalizer_spec(std::string_view bytes, SpmNormalizerSpec& spec, ProtoReader& outer) {
  ProtoReader r(bytes);
  uint32_t field;
  WireType type;
  while (r.next_field(field, type)) {
    switch (field) {
      case 1:
        if (expect_type(r, type, WireType::kLengthDelimited, "NormalizerSpec.name"))
          spec.name = std::string(r.read_bytes());
        break;
      case 2:
        if (expect_type(r, type, WireType::kLengthDelimited, "NormalizerSpec.precompiled_charsmap"))
          spec.precompiled_charsmap = std::string(r.read_bytes());
        break;
      case 3:
        if (expect_type(r, type, WireType::kVarint, "NormalizerSpec.add_dummy_prefix"))
          spec.add_dummy_prefix = r.read_varint() != 0;
        break;
      case 4:
        if (expect_type(r, type, WireType::kVarint, "NormalizerSpec.remove_extra_whitespaces"))
          spec.remove_extra_whitespaces = r.read_varint() != 0;
        break;
      case 5:
        if (expect_type(r, type, WireType::kVarint, "NormalizerSpec.escape_whitespaces"))
          spec.escape_whitespaces = r.read_varint() != 0;
        break;
      default:
        r.skip(type);
    }
  }
  if (!r.ok()) outer.fail("in normalizer_spec: " + r.error());
}

}  // namespace

Expected<SpmModelProto> parse_sentencepiece_model_proto(std::string_view bytes) {
  SpmModelProto model;
  ProtoReader r(bytes);
  uint32_t field;
  WireType type;
  while (r.next_field(field, type)) {
    if (field == 1 || field == 2 || field == 3) {
      if (!expect_type(r, type, WireType::kLengthDelimited, "ModelProto message")) break;
      const std::string_view message = r.read_bytes();
      if (!r.ok()) break;
      if (field == 1) {
        model.pieces.emplace_back();
        parse_piece(message, model.pieces.back(), r);
      } else if (field == 2) {
        parse_trainer_spec(message, model, r);
      } else {
        parse_normalizer_spec(message, model.normalizer, r);
      }
    } else {
      r.skip(type);
    }
  }
  if (!r.ok()) return parse_error("malformed SentencePiece model: " + r.error());
  if (model.pieces.empty()) return parse_error("SentencePiece model has no pieces (not a ModelProto?)");
  return model;
}

}  // namespace autoglm::native
