#include "tokenizer/native/protobuf_reader.h"

namespace autoglm::native {

void ProtoReader::fail(std::string message) {
  if (error_.empty()) error_ = std::move(message) + " at byte " + std::to_string(pos_);
  pos_ = bytes_.size();
}

bool ProtoReader::next_field(uint32_t& field, WireType& type) {
  if (!ok() || at_end()) return false;
  const uint64_t key = read_varint();
  if (!ok()) return false;
  field = static_cast<uint32_t>(key >> 3);
  const uint32_t wire = static_cast<uint32_t>(key & 7);
  if (field == 0 || (key >> 3) > 0x1FFFFFFF || wire > 5) {
    fail("invalid protobuf field key " + std::to_string(key));
    return false;
  }
  type = static_cast<WireType>(wire);
  return true;
}

uint64_t ProtoReader::read_varint() {
  uint64_t value = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (pos_ >= bytes_.size()) {
      fail("truncated varint");
      return 0;
    }
    const auto b = static_cast<uint8_t>(bytes_[pos_++]);
    if (shift == 63 && b > 1) {
      fail("varint overflows 64 bits");
      return 0;
    }
    value |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) return value;
  }
  fail("varint longer than 10 bytes");
  return 0;
}

uint32_t ProtoReader::read_fixed32() {
  if (pos_ > bytes_.size() || bytes_.size() - pos_ < 4) {
    fail("truncated fixed32");
    return 0;
  }
  uint32_t v;
  std::memcpy(&v, bytes_.data() + pos_, 4);
  pos_ += 4;
  return v;
}

uint64_t ProtoReader::read_fixed64() {
  if (pos_ > bytes_.size() || bytes_.size() - pos_ < 8) {
    fail("truncated fixed64");
    return 0;
  }
  uint64_t v;
  std::memcpy(&v, bytes_.data() + pos_, 8);
  pos_ += 8;
  return v;
}

float ProtoReader::read_float() {
  const uint32_t bits = read_fixed32();
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::string_view ProtoReader::read_bytes() {
  const uint64_t length = read_varint();
  if (!ok()) return {};
  if (length > bytes_.size() - pos_) {
    fail("length-delimited field of " + std::to_string(length) + " bytes runs past the end");
    return {};
  }
  const std::string_view out = bytes_.substr(pos_, length);
  pos_ += length;
  return out;
}

void ProtoReader::skip(WireType type) {
  switch (type) {
    case WireType::kVarint:
      read_varint();
      return;
    case WireType::kFixed64:
      read_fixed64();
      return;
    case WireType::kLengthDelimited:
      read_bytes();
      return;
    case WireType::kFixed32:
      read_fixed32();
      return;
    case WireType::kStartGroup:
    case WireType::kEndGroup:
      fail("protobuf groups are not supported");
      return;
  }
}

}  // namespace autoglm::native
