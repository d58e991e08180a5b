// The pure parts of the hub downloader: spec parsing, path safety, the choice of files, the cache layout's
// names and the environment's settings.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "hub/hub_cache.h"
#include "hub/hub_settings.h"
#include "hub/model_files.h"
#include "hub/model_spec.h"
#include "hub/progress_bar.h"
#include "hub/repo_spec.h"
#include "support/test_data.h"

namespace autoglm::hub {
namespace {

namespace fs = std::filesystem;
using Files = std::vector<std::string>;

TEST(RepoSpec, ParsesRepoAndFile) {
  auto a = parse_repo_spec("Qwen/Qwen3-0.6B");
  ASSERT_TRUE(a.has_value()) << a.status().to_string();
  EXPECT_EQ(a->repo_id, "Qwen/Qwen3-0.6B");
  EXPECT_EQ(a->file_pattern, "");
  auto b = parse_repo_spec("unsloth/Qwen3-0.6B-GGUF:*Q4_K_M.gguf");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->repo_id, "unsloth/Qwen3-0.6B-GGUF");
  EXPECT_EQ(b->file_pattern, "*Q4_K_M.gguf");
  EXPECT_TRUE(parse_repo_spec("gpt2").has_value());  // legacy repos without an org
  EXPECT_TRUE(parse_repo_spec("org/name:sub/dir/file.gguf").has_value());
}

TEST(RepoSpec, RejectsMalformedSpecs) {
  for (const char* bad : {"", "org/", "/name", "a/b/c", "org/na me", "org/--x", "org/..", "org/name:",
                          "org/name:../x", "org/name:/etc/passwd", "org/name:a//b", "org/name:a/./b"}) {
    auto r = parse_repo_spec(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(RepoSpec, PathSafety) {
  EXPECT_TRUE(is_safe_relative_path("model.safetensors"));
  EXPECT_TRUE(is_safe_relative_path("original/params.json"));
  EXPECT_FALSE(is_safe_relative_path("../x"));
  EXPECT_FALSE(is_safe_relative_path("a/../../x"));
  EXPECT_FALSE(is_safe_relative_path("/abs"));
  EXPECT_FALSE(is_safe_relative_path("a\\b"));
  EXPECT_FALSE(is_safe_relative_path("a/"));
  EXPECT_TRUE(is_safe_file_name("0123abc"));
  EXPECT_FALSE(is_safe_file_name(".."));
  EXPECT_FALSE(is_safe_file_name("a/b"));
  EXPECT_TRUE(is_commit_hash("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(is_commit_hash("main"));
  EXPECT_FALSE(is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));
}

TEST(ModelFiles, PicksConfigTokenizerAndSideFiles) {
  const Files files = {".gitattributes",         "README.md",           "config.json",
                       "generation_config.json", "tokenizer.json",      "tokenizer.model",
                       "tokenizer_config.json",  "chat_template.jinja", "model.safetensors"};
  auto m = model_metadata_files(files, "o/n");
  ASSERT_TRUE(m.has_value()) << m.status().to_string();
  EXPECT_EQ(*m, (Files{"config.json", "tokenizer.json", "generation_config.json", "tokenizer_config.json",
                       "chat_template.jinja"}));
  auto bpe = model_metadata_files({"config.json", "vocab.json", "merges.txt"}, "o/n");
  ASSERT_TRUE(bpe.has_value());
  EXPECT_EQ(*bpe, (Files{"config.json", "vocab.json", "merges.txt"}));
}

TEST(ModelFiles, ExplainsWhatIsMissing) {
  auto no_config = model_metadata_files({"README.md", "m-Q4_K_M.gguf"}, "o/n");
  ASSERT_FALSE(no_config.has_value());
  EXPECT_EQ(no_config.status().code(), StatusCode::kNotFound);
  EXPECT_NE(no_config.status().message().find("o/n:FILE"), std::string::npos) << no_config.status().message();
  auto no_tokenizer = model_metadata_files({"config.json", "model.safetensors"}, "o/n");
  ASSERT_FALSE(no_tokenizer.has_value());
  EXPECT_NE(no_tokenizer.status().message().find("tokenizer"), std::string::npos);
  auto no_weights = model_weight_files({"config.json", "pytorch_model.bin"}, "", "o/n");
  ASSERT_FALSE(no_weights.has_value());
  EXPECT_NE(no_weights.status().message().find(".safetensors"), std::string::npos);
}

TEST(ModelFiles, WeightsFollowTheIndex) {
  const Files files = {"consolidated.safetensors", "model-00001-of-00002.safetensors",
                       "model-00002-of-00002.safetensors", "model.safetensors.index.json"};
  const std::string index =
      R"({"metadata": {}, "weight_map": {"a": "model-00002-of-00002.safetensors",
          "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}})";
  auto w = model_weight_files(files, index, "o/n");
  ASSERT_TRUE(w.has_value()) << w.status().to_string();
  EXPECT_EQ(*w, (Files{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}));
  auto missing = model_weight_files({"model.safetensors.index.json"}, index, "o/n");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  auto hostile = model_weight_files(files, R"({"weight_map": {"a": "../../x.safetensors"}})", "o/n");
  EXPECT_FALSE(hostile.has_value());
  EXPECT_EQ(model_weight_files(files, "not json", "o/n").status().code(), StatusCode::kParseError);
}

TEST(ModelFiles, WeightsWithoutAnIndex) {
  auto single = model_weight_files({"model.safetensors", "other.safetensors"}, "", "o/n");
  ASSERT_TRUE(single.has_value());
  EXPECT_EQ(*single, Files{"model.safetensors"});
  auto all = model_weight_files({"a.safetensors", "b.safetensors", "sub/c.safetensors"}, "", "o/n");
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(*all, (Files{"a.safetensors", "b.safetensors"}));
}

TEST(ModelFiles, PatternsMatchOneFileOrOneSplitGguf) {
  const Files files = {"README.md",
                       "m-Q4_K_M.gguf",
                       "m-Q8_0.gguf",
                       "big/m-Q2_K-00002-of-00002.gguf",
                       "big/m-Q2_K-00001-of-00002.gguf",
                       "broken-00001-of-00003.gguf"};
  auto one = match_file_pattern(files, "*Q4_K_M.gguf", "o/n");
  ASSERT_TRUE(one.has_value()) << one.status().to_string();
  EXPECT_EQ(*one, Files{"m-Q4_K_M.gguf"});
  auto exact = match_file_pattern(files, "m-Q8_0.gguf", "o/n");
  ASSERT_TRUE(exact.has_value());
  EXPECT_EQ(*exact, Files{"m-Q8_0.gguf"});
  for (const char* split : {"*Q2_K*", "big/m-Q2_K-00002-of-00002.gguf"}) {
    auto s = match_file_pattern(files, split, "o/n");
    ASSERT_TRUE(s.has_value()) << split << ": " << s.status().to_string();
    EXPECT_EQ(*s, (Files{"big/m-Q2_K-00001-of-00002.gguf", "big/m-Q2_K-00002-of-00002.gguf"})) << split;
  }
  auto ambiguous = match_file_pattern(files, "m-*.gguf", "o/n");
  ASSERT_FALSE(ambiguous.has_value());
  EXPECT_EQ(ambiguous.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ambiguous.status().message().find("m-Q8_0.gguf"), std::string::npos);
  auto none = match_file_pattern(files, "*Q5_K_M.gguf", "o/n");
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("m-Q4_K_M.gguf"), std::string::npos) << none.status().message();
  auto incomplete_split = match_file_pattern(files, "broken*", "o/n");
  ASSERT_FALSE(incomplete_split.has_value());
  EXPECT_NE(incomplete_split.status().message().find("broken-00002-of-00003.gguf"), std::string::npos);
}

TEST(RepoCache, NamesFollowHuggingfaceHub) {
  RepoCache cache("/c", "org/name");
  EXPECT_EQ(cache.dir(), "/c/models--org--name");
  EXPECT_EQ(cache.blob_path("abc"), "/c/models--org--name/blobs/abc");
  EXPECT_EQ(cache.lock_path("abc"), "/c/.locks/models--org--name/abc.lock");
  EXPECT_EQ(cache.snapshot_path("c0ffee", "a/b.gguf"), "/c/models--org--name/snapshots/c0ffee/a/b.gguf");
  EXPECT_EQ(RepoCache("/c", "gpt2").dir(), "/c/models--gpt2");
}

TEST(RepoCache, LinksAreRelativeAndRefsHaveNoNewline) {
  const std::string dir = test::temp_dir("cache");
  RepoCache cache(dir, "org/name");
  fs::create_directories(dir + "/models--org--name/blobs");
  std::ofstream(cache.blob_path("e1")) << "x";
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  ASSERT_TRUE(cache.link_file(commit, "top.json", "e1").is_ok());
  ASSERT_TRUE(cache.link_file(commit, "sub/dir/deep.gguf", "e1").is_ok());
  EXPECT_EQ(fs::read_symlink(cache.snapshot_path(commit, "top.json")).string(), "../../blobs/e1");
  EXPECT_EQ(fs::read_symlink(cache.snapshot_path(commit, "sub/dir/deep.gguf")).string(),
            "../../../../blobs/e1");
  EXPECT_TRUE(cache.has_file(commit, "sub/dir/deep.gguf"));
  EXPECT_EQ(cache.snapshot_files(commit), (Files{"sub/dir/deep.gguf", "top.json"}));

  EXPECT_FALSE(cache.cached_commit("main").has_value());
  ASSERT_TRUE(cache.write_ref("main", commit).is_ok());
  ASSERT_TRUE(cache.write_ref("refs/pr/1", commit).is_ok());
  std::ifstream ref(dir + "/models--org--name/refs/main");
  std::string text((std::istreambuf_iterator<char>(ref)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, commit);
  EXPECT_EQ(cache.cached_commit("main"), commit);
  EXPECT_EQ(cache.cached_commit("refs/pr/1"), commit);
  EXPECT_EQ(cache.cached_commit(commit), commit);
  EXPECT_FALSE(cache.cached_commit("v2").has_value());
}

// Sets environment variables for one test and restores them after.
class ScopedEnv {
 public:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) {
        setenv(it->first.c_str(), it->second->c_str(), 1);
      } else {
        unsetenv(it->first.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(HubSettings, ReadsTheEnvironmentLikeHuggingfaceHub) {
  const std::string home = test::temp_dir("hf_home");
  ScopedEnv env;
  for (const char* v : {"HF_ENDPOINT", "HF_TOKEN", "HF_TOKEN_PATH", "HF_HUB_CACHE", "HF_HUB_OFFLINE"}) {
    env.set(v, nullptr);
  }
  env.set("HF_HOME", home.c_str());
  HubSettings s = resolve_hub_settings(HubOptions{});
  EXPECT_EQ(s.endpoint, "https://huggingface.co");
  EXPECT_EQ(s.cache_dir, home + "/hub");
  EXPECT_EQ(s.token, "");
  EXPECT_EQ(s.revision, "main");
  EXPECT_FALSE(s.offline);

  std::ofstream(home + "/token") << "hf_from_file\n";
  env.set("HF_ENDPOINT", "http://mirror.example/");
  env.set("HF_HUB_OFFLINE", "1");
  s = resolve_hub_settings(HubOptions{});
  EXPECT_EQ(s.token, "hf_from_file");
  EXPECT_EQ(s.endpoint, "http://mirror.example");
  EXPECT_TRUE(s.offline);

  env.set("HF_TOKEN", "hf_from_env");
  env.set("HF_HUB_CACHE", "/elsewhere");
  s = resolve_hub_settings(HubOptions{});
  EXPECT_EQ(s.token, "hf_from_env");
  EXPECT_EQ(s.cache_dir, "/elsewhere");

  HubOptions explicit_options;
  explicit_options.token = "hf_given";
  explicit_options.cache_dir = "/given";
  explicit_options.endpoint = "http://given";
  explicit_options.progress = 1;
  s = resolve_hub_settings(explicit_options);
  EXPECT_EQ(s.token, "hf_given");
  EXPECT_EQ(s.cache_dir, "/given");
  EXPECT_EQ(s.endpoint, "http://given");
  EXPECT_TRUE(s.progress);

  env.set("HF_HOME", nullptr);
  env.set("HF_HUB_CACHE", nullptr);
  env.set("XDG_CACHE_HOME", "/xdg");
  EXPECT_EQ(resolve_hub_settings(HubOptions{}).cache_dir, "/xdg/huggingface/hub");
}

TEST(ModelSpec, LocalPathOrRepo) {
  auto local = resolve_model_path("/models/x", "", HubOptions{});
  ASSERT_TRUE(local.has_value());
  EXPECT_EQ(*local, "/models/x");
  EXPECT_EQ(resolve_model_path("", "", HubOptions{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(resolve_model_path("", "not a repo", HubOptions{}).status().code(), StatusCode::kInvalidArgument);
}

TEST(ProgressBar, RedrawsInPlaceAndEndsTheLine) {
  testing::internal::CaptureStderr();
  {
    ProgressBar bar("model.safetensors", 2'000'000, 0, true);
    bar.update(500'000);
    bar.update(1'000'000);  // within 100 ms of the first draw: skipped
    bar.finish(2'000'000);
    ProgressBar off("x", 10, 0, false);
    off.update(5);
    off.finish(10);
  }
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.front(), '\r');
  EXPECT_EQ(out.back(), '\n');
  EXPECT_NE(out.find("model.safetensors  0.5/2.0 MB   25%"), std::string::npos) << out;
  EXPECT_NE(out.find("2.0/2.0 MB  100%"), std::string::npos) << out;
  EXPECT_EQ(out.find("1.0/2.0"), std::string::npos) << out;
  EXPECT_NE(out.find("MB/s"), std::string::npos);
}

}  // namespace
}  // namespace autoglm::hub
