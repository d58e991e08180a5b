#include "tokenizer/native/gguf_pretokenizers.h"

#include <array>

namespace autoglm::native {
namespace {

// llama.cpp rewrites the case-insensitive contractions of the HF patterns as explicit classes.
constexpr std::string_view kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
constexpr std::string_view kDigit = R"(\p{N})";
constexpr std::string_view kBloom = R"( ?[^(\s|.,!?…。，、।۔،)]+)";
constexpr std::string_view kCjk = "[一-龥ࠀ-一가-퟿]+";
constexpr std::string_view kDeepseekLlmLetters =
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-"
    "ἕἘ-"
    "Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-"
    "Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-"
    "𐑏𐒰-"
    "𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+";
constexpr std::string_view kTekken =
    R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kGpt4o =
    R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kDeepseekV3Words =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kSeedCoder =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kBailing =
    R"('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)";

struct Entry {
  std::string_view name;
  GgufPreTokenizer spec;
};

const std::vector<Entry>& table() {
  static const std::vector<Entry> entries = [] {
    const GgufPreTokenizer llama3{"llama3", {kLlama3}, true, true};
    const GgufPreTokenizer smaug{"dbrx/smaug", {kLlama3}, false, false};
    const GgufPreTokenizer qwen2{"qwen2", {kQwen2}, false, false};
    const GgufPreTokenizer gpt2{"gpt2", {kGpt2}, false, false};
    const GgufPreTokenizer starcoder{"starcoder", {kDigit, kGpt2}, false, false};
    const GgufPreTokenizer bloom{"bloom", {kBloom}, false, false};
    return std::vector<Entry>{
        {"default",
         {"default", {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}, false, false}},
        {"llama3", llama3},
        {"llama-v3", llama3},
        {"llama-bpe", llama3},
        {"falcon3", llama3},
        {"dbrx", smaug},
        {"smaug-bpe", smaug},
        {"deepseek-llm",
         {"deepseek-llm",
          {"[\r\n]", kDeepseekLlmLetters, "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", kCjk, R"(\p{N}+)"},
          false,
          false}},
        {"deepseek-coder",
         {"deepseek-coder", {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kCjk, kDigit}, false, false}},
        {"deepseek-v3",
         {"deepseek3-llm", {R"(\p{N}{1,3})", "[一-龥぀-ゟ゠-ヿ]+", kDeepseekV3Words}, false, false}},
        {"falcon", {"falcon", {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}, false, false}},
        {"mpt", gpt2},
        {"olmo", gpt2},
        {"jais", gpt2},
        {"trillion", gpt2},
        {"gpt-2", gpt2},
        {"phi-2", gpt2},
        {"jina-es", gpt2},
        {"jina-de", gpt2},
        {"jina-v1-en", gpt2},
        {"jina-v2-es", gpt2},
        {"jina-v2-de", gpt2},
        {"jina-v2-code", gpt2},
        {"gigachat", gpt2},
        {"starcoder", starcoder},
        {"refact", starcoder},
        {"command-r", starcoder},
        {"smollm", starcoder},
        {"codeshell", starcoder},
        {"exaone", starcoder},
        {"minerva-7b", starcoder},
        {"qwen2", qwen2},
        {"deepseek-r1-qwen", qwen2},
        {"stablelm2", qwen2},
        {"megrez", qwen2},
        {"poro-chat", bloom},
        {"bloom", bloom},
        {"gpt3-finnish", bloom},
        {"viking", {"viking", {kBloom, kDigit}, false, false}},
        {"glm4", {"chatglm4", {kLlama3}, false, false}},
        {"chatglm-bpe", {"chatglm4", {kLlama3}, false, false}},
        {"tekken", {"tekken", {kTekken}, true, true}},
        {"gpt-4o", {"gpt4o", {kGpt4o}, false, false}},
        {"seed-coder", {"seed-coder", {kSeedCoder}, false, false}},
        {"grok-2", {"grok-2", {kQwen2}, false, false}},
        {"bailingmoe", {"bailingmoe", {kBailing}, false, false}},
    };
  }();
  return entries;
}

}  // namespace

std::optional<GgufPreTokenizer> find_gguf_pre_tokenizer(std::string_view name) {
  for (const Entry& e : table()) {
    if (e.name == name) return e.spec;
  }
  return std::nullopt;
}

}  // namespace autoglm::native
