// SentencePiece's ModelProto (sentencepiece_model.proto), the fields that encoding and decoding use, parsed
// with the wire-format reader. Absent fields take the proto2 defaults of the .proto file (model_type UNIGRAM,
// add_dummy_prefix / remove_extra_whitespaces / escape_whitespaces true, unk_surface " ⁇ ", ...).
//
// Field numbers: ModelProto {1 pieces, 2 trainer_spec, 3 normalizer_spec, 5 denormalizer_spec};
// SentencePiece {1 piece, 2 score, 3 type}; TrainerSpec {3 model_type, 24 treat_whitespace_as_suffix,
// 35 byte_fallback, 44 unk_surface, 45 unk_piece, 46 bos_piece, 47 eos_piece, 48 pad_piece};
// NormalizerSpec {1 name, 2 precompiled_charsmap, 3 add_dummy_prefix, 4 remove_extra_whitespaces,
// 5 escape_whitespaces}.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace autoglm::native {

enum class SpmPieceType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

enum class SpmModelType : int32_t { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };

struct SpmPiece {
  std::string piece;
  float score = 0.0f;
  SpmPieceType type = SpmPieceType::kNormal;
};

struct SpmNormalizerSpec {
  std::string name;
  std::string precompiled_charsmap;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

struct SpmModelProto {
  std::vector<SpmPiece> pieces;
  SpmModelType model_type = SpmModelType::kUnigram;
  bool treat_whitespace_as_suffix = false;
  bool byte_fallback = false;
  std::string unk_surface = " \xE2\x81\x87 ";
  std::string unk_piece = "<unk>";
  std::string bos_piece = "<s>";
  std::string eos_piece = "</s>";
  std::string pad_piece = "<pad>";
  SpmNormalizerSpec normalizer;
};

// Parses a serialized ModelProto; errors say what is malformed (the caller adds the file name).
Expected<SpmModelProto> parse_sentencepiece_model_proto(std::string_view bytes);

}  // namespace autoglm::native
