// Mutation loops (1,000 seeded iterations each): a small SentencePiece model, a small tiktoken rank file and
// tiny GGUF vocabularies with random bit flips, byte overwrites, deletions, insertions, duplications and
// truncations. Every mutant either loads or fails with a Status naming the file; one that loads must encode
// and decode a fixed text, its own bytes as text, and arbitrary ids without crashing (run under ASan/UBSan in
// the sanitizer build). Byte-level tiktoken stays lossless whatever the ranks.
#include <gtest/gtest.h>

#include <random>

#include "gguf/gguf_file.h"
#include "native_test_data.h"
#include "small_vocabs.h"
#include "tokenizer/gguf_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tiktoken_tokenizer.h"
#include "tokenizer/utf8.h"

namespace autoglm {
namespace {

constexpr int kIterations = 1000;
const std::string kText =
    "Hello, wörld! 日本語 🦙 <s></s><|endoftext|> <tool>\n\t  x=1+2 \xE2\x96\x81\xF0\x9F";

std::string mutate(const std::string& original, std::mt19937_64& rng) {
  std::string s = original;
  const int n_mutations = rng() % 2 ? 1 : 2 + static_cast<int>(rng() % 3);
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  static const uint8_t kInteresting[] = {0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0A, 0x20, 0x3D, 0xE2, 0xF0};
  for (int m = 0; m < n_mutations && !s.empty(); ++m) {
    const size_t pos = pick(s.size());
    switch (rng() % 7) {
      case 0:
        s[pos] = static_cast<char>(s[pos] ^ (1 << (rng() % 8)));
        break;
      case 1:
        s[pos] = static_cast<char>(rng());
        break;
      case 2:
        s[pos] = static_cast<char>(kInteresting[pick(sizeof(kInteresting))]);
        break;
      case 3:
        s.erase(pos, 1 + pick(16));
        break;
      case 4: {
        std::string bytes(1 + pick(8), '\0');
        for (char& c : bytes)
          c = static_cast<char>(rng());
        s.insert(pos, bytes);
        break;
      }
      case 5:
        s.insert(pos, s.substr(pick(s.size()), 1 + pick(32)));
        break;
      default:
        s.resize(pos);
        break;
    }
  }
  return s;
}

// Encode/decode a loaded mutant; returns whether byte-level round trips held (checked by the caller).
void exercise(const Tokenizer& tok, const std::string& mutant_bytes, std::mt19937_64& rng, bool lossless) {
  const std::string own_text = mutant_bytes.substr(0, 2048);
  for (const std::string* text : {&kText, &own_text}) {
    for (const bool parse_special : {true, false}) {
      const auto ids = tok.encode(*text, {.add_special_tokens = true, .parse_special = parse_special});
      for (int32_t id : ids)
        ASSERT_TRUE(id >= 0 && id < tok.vocab_size()) << id;
      const std::string decoded = tok.decode(ids, {.skip_special_tokens = false});
      (void)tok.decode(ids, {.skip_special_tokens = true});
      if (lossless && !parse_special) {
        const auto plain = tok.encode(*text, {.add_special_tokens = false, .parse_special = false});
        ASSERT_EQ(tok.decode(plain), utf8::sanitize(*text));
      }
    }
  }
  std::vector<int32_t> random_ids(16);
  for (int32_t& id : random_ids)
    id = static_cast<int32_t>(rng() % (static_cast<uint64_t>(tok.vocab_size()) + 8)) - 4;
  (void)tok.decode(random_ids);
  for (int32_t id : random_ids) {
    const std::string piece = tok.id_to_piece(id);
    (void)tok.piece_to_id(piece);
    (void)tok.is_special(id);
  }
  (void)tok.describe();
}

struct LoopStats {
  int loaded = 0;
  int rejected = 0;
};

// A valid rank file with other merge priorities: the rank numbers of two lines swapped.
std::string swap_ranks(const std::string& file, std::mt19937_64& rng) {
  std::vector<std::string> lines;
  for (size_t pos = 0; pos < file.size();) {
    const size_t eol = file.find('\n', pos);
    lines.push_back(file.substr(pos, eol - pos));
    pos = eol + 1;
  }
  const size_t a = rng() % lines.size();
  const size_t b = rng() % lines.size();
  const size_t sa = lines[a].find(' ');
  const size_t sb = lines[b].find(' ');
  const std::string rank_a = lines[a].substr(sa);
  lines[a] = lines[a].substr(0, sa) + lines[b].substr(sb);
  lines[b] = lines[b].substr(0, sb) + rank_a;
  std::string out;
  for (const std::string& line : lines)
    out += line + "\n";
  return out;
}

template <typename Load, typename Mutate>
LoopStats run_loop(const std::string& original, const std::string& origin, uint64_t seed, Load&& load,
                   bool lossless, Mutate&& mutate_fn) {
  std::mt19937_64 rng(seed);
  LoopStats stats;
  for (int i = 0; i < kIterations; ++i) {
    const std::string mutant = i == 0 ? original : mutate_fn(original, rng);
    Expected<std::unique_ptr<Tokenizer>> tok = load(mutant);
    if (!tok.has_value()) {
      ++stats.rejected;
      const std::string message = tok.status().message();
      EXPECT_NE(message.find(origin), std::string::npos)
          << "iteration " << i << ": error without the file: " << message;
      EXPECT_FALSE(message.empty());
      continue;
    }
    ++stats.loaded;
    exercise(**tok, mutant, rng, lossless);
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << "iteration " << i << " of " << origin;
      break;
    }
  }
  return stats;
}

TEST(NativeMutations, SentencePieceModel) {
  // The small trained Unigram model with byte fallback and a custom charsmap (19 KB).
  const std::string model =
      test::read_file_bytes(test::tokenizer_data_path("gguf/spm/unigram_suffix_bytes.model"));
  ASSERT_GT(model.size(), 1000u);
  const std::string origin = "unigram_suffix_bytes.model (mutated)";
  const LoopStats stats = run_loop(
      model, origin, 1, [&](const std::string& bytes) { return parse_sentencepiece_model(bytes, origin); },
      false, mutate);
  EXPECT_GT(stats.loaded, 0);
  EXPECT_GT(stats.rejected, 0);
  std::printf("[mutations] sentencepiece: %d iterations, %d loaded, %d rejected\n", kIterations, stats.loaded,
              stats.rejected);
}

TEST(NativeMutations, TiktokenFile) {
  const std::string file = test::small_tiktoken_file(600);
  const std::string origin = "cl100k-600.tiktoken (mutated)";
  // Specials far above any rank a mutant can have, so that the spec itself stays valid.
  TiktokenSpec spec = test::small_tiktoken_spec(1 << 20);
  // Half the mutants are rank permutations (always valid), half are byte-level damage.
  const LoopStats with_spec = run_loop(
      file, origin, 2, [&](const std::string& bytes) { return parse_tiktoken(bytes, origin, spec); }, true,
      [](const std::string& f, std::mt19937_64& rng) {
        return rng() % 2 ? swap_ranks(f, rng) : mutate(f, rng);
      });
  // Without a spec the content decides: every mutant is unrecognised or malformed, with a clear error.
  const LoopStats detected = run_loop(
      file, origin, 3, [&](const std::string& bytes) { return parse_tiktoken(bytes, origin); }, true, mutate);
  EXPECT_GT(with_spec.loaded, 0);
  EXPECT_GT(with_spec.rejected, 0);
  EXPECT_EQ(detected.loaded, 0);
  std::printf(
      "[mutations] tiktoken: %d iterations with a spec (%d loaded, %d rejected), %d without (all rejected)\n",
      kIterations, with_spec.loaded, with_spec.rejected, kIterations);
}

TEST(NativeMutations, GgufVocabularies) {
  for (const std::string model : {"llama", "gpt2", "bert"}) {
    const std::vector<uint8_t> image = test::tiny_gguf_vocab(model);
    const std::string original(reinterpret_cast<const char*>(image.data()), image.size());
    const std::string origin = "tiny-" + model + ".gguf (mutated)";
    // The GgufFile must outlive nothing: the tokenizer copies what it needs.
    const LoopStats stats = run_loop(
        original, origin, 4,
        [&](const std::string& bytes) -> Expected<std::unique_ptr<Tokenizer>> {
          auto file = GgufFile::parse(bytes, origin);
          if (!file.has_value()) return file.status();
          return load_gguf_tokenizer(**file);
        },
        false, mutate);
    EXPECT_GT(stats.loaded, 0) << model;
    EXPECT_GT(stats.rejected, 0) << model;
    std::printf("[mutations] gguf %s: %d iterations, %d loaded, %d rejected\n", model.c_str(), kIterations,
                stats.loaded, stats.rejected);
  }
}

}  // namespace
}  // namespace autoglm
