// A minimal reader of the protobuf wire format (varints, fixed32/64, length-delimited fields), enough to read
// SentencePiece's ModelProto without libprotobuf. Every read is bounds-checked; a malformed message makes
// the reader fail (ok() turns false) instead of reading past its bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace autoglm::native {

enum class WireType : uint32_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5
};

class ProtoReader {
 public:
  explicit ProtoReader(std::string_view bytes) : bytes_(bytes) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool at_end() const { return pos_ >= bytes_.size(); }
  size_t position() const { return pos_; }

  // Reads the next field key; false at the end of the message or on error.
  bool next_field(uint32_t& field, WireType& type);
  uint64_t read_varint();
  uint32_t read_fixed32();
  uint64_t read_fixed64();
  float read_float();
  std::string_view read_bytes();
  // Skips the value of a field of this type (groups are rejected: no SentencePiece field uses them).
  void skip(WireType type);

  void fail(std::string message);

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace autoglm::native
