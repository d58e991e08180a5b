// GPT-2's reversible byte <-> printable character mapping (bytes_to_unicode in openai/gpt-2 encoder.py): the
// 188 printable Latin-1 bytes map to themselves, the other 68 to U+0100 + n in byte order. Byte-level BPE
// vocabularies (GPT-2, Llama 3 and Qwen2 tokenizer.json, GGUF "gpt2") store pieces in this alphabet ("Ġthe").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace autoglm::native {

// The UTF-8 encoding of the character byte `b` maps to (1 or 2 bytes).
std::string_view byte_to_unicode(uint8_t b);
// Appends the mapped characters of every byte.
void append_byte_level(std::string& out, std::string_view bytes);
std::string to_byte_level(std::string_view bytes);
// The bytes a mapped string stands for; false when it contains a character outside the mapping.
bool from_byte_level(std::string_view text, std::string& out);

}  // namespace autoglm::native
