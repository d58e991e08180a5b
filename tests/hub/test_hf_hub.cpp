// download_hf_model against tests/hub/mock_hub.py, a local stand-in for the Hugging Face hub: the cache
// layout, resumption, checksums, tokens, errors, patterns and offline use. Each test runs its own server and
// cache, so CTest may run them in parallel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "hub/blob_download.h"
#include "hub/hf_hub.h"
#include "hub/sha256.h"
#include "mock_hub_server.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

namespace fs = std::filesystem;
using test::MockHubServer;

constexpr const char* kModel = "test-org/tiny-model";
constexpr const char* kGguf = "test-org/tiny-gguf";
constexpr const char* kGated = "test-org/gated-model";
constexpr const char* kGatedToken = "hf_test_secret_token";  // mock_hub.py's GATED_TOKEN
constexpr const char* kShard1 = "model-00001-of-00002.safetensors";
constexpr const char* kShard2 = "model-00002-of-00002.safetensors";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class HfHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::python3_available()) GTEST_SKIP() << "python3 is not on PATH: the mock hub cannot run";
    // Nothing of the machine's own Hugging Face setup (a token, an endpoint, offline mode) may leak in.
    for (const char* v : {"HF_TOKEN", "HF_TOKEN_PATH", "HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_HUB_CACHE"}) {
      unsetenv(v);
    }
    hf_home_ = test::temp_dir("hf_home");
    setenv("HF_HOME", hf_home_.c_str(), 1);
    server_ = std::make_unique<MockHubServer>();
    ASSERT_TRUE(server_->ok()) << server_->error();
    repos_ = server_->repos();
    ASSERT_TRUE(repos_.is_object());
    cache_ = test::temp_dir("cache");
    options_.endpoint = server_->endpoint();
    options_.cache_dir = cache_;
    options_.progress = 0;
  }
  void TearDown() override {
    server_.reset();
    unsetenv("HF_HOME");
    unsetenv("HF_TOKEN");
    unsetenv("HF_HUB_OFFLINE");
  }

  std::string commit(const std::string& repo) const { return repos_[repo]["commit"].get<std::string>(); }
  const nlohmann::json& file(const std::string& repo, const std::string& name) const {
    return repos_[repo]["files"][name];
  }
  std::string repo_dir(const std::string& repo) const {
    return cache_ + "/models--" + repo.substr(0, repo.find('/')) + "--" + repo.substr(repo.find('/') + 1);
  }
  std::string blob(const std::string& repo, const std::string& name) const {
    return repo_dir(repo) + "/blobs/" + file(repo, name)["etag"].get<std::string>();
  }
  std::string snapshot(const std::string& repo) const {
    return repo_dir(repo) + "/snapshots/" + commit(repo);
  }
  int64_t got(const std::string& name) const {
    const nlohmann::json s = server_->stats();
    return s["files_got"].contains(name) ? s["files_got"][name].get<int64_t>() : 0;
  }
  // The downloaded file has the mock's content (size and SHA-256).
  void expect_content(const std::string& path, const std::string& repo, const std::string& name) const {
    ASSERT_TRUE(fs::is_regular_file(path)) << path;
    EXPECT_EQ(static_cast<int64_t>(fs::file_size(path)), file(repo, name)["size"].get<int64_t>()) << name;
    auto sha = hub::sha256_file(path);
    ASSERT_TRUE(sha.has_value());
    EXPECT_EQ(*sha, file(repo, name)["sha256"].get<std::string>()) << name;
  }
  std::vector<std::string> incomplete_files(const std::string& repo) const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(repo_dir(repo) + "/blobs", ec)) {
      if (e.path().extension() == ".incomplete") out.push_back(e.path().filename().string());
    }
    return out;
  }
  // A leftover of an interrupted earlier run: `bytes` written to blobs/{etag}.incomplete.
  void write_leftover(const std::string& repo, const std::string& name, const std::string& bytes) const {
    fs::create_directories(repo_dir(repo) + "/blobs");
    std::ofstream(blob(repo, name) + ".incomplete", std::ios::binary) << bytes;
  }

  std::string hf_home_;
  std::string cache_;
  std::unique_ptr<MockHubServer> server_;
  nlohmann::json repos_;
  HubOptions options_;
};

TEST_F(HfHubTest, DownloadsAModelInTheHuggingfaceHubLayout) {
  auto path = download_hf_model(kModel, options_);
  ASSERT_TRUE(path.has_value()) << path.status().to_string();
  EXPECT_EQ(*path, snapshot(kModel));

  const std::vector<std::string> expected = {"config.json",
                                             "tokenizer.json",
                                             "generation_config.json",
                                             "tokenizer_config.json",
                                             "model.safetensors.index.json",
                                             kShard1,
                                             kShard2};
  for (const auto& name : expected) {
    const fs::path link = *path + "/" + name;
    ASSERT_TRUE(fs::is_symlink(link)) << name;
    // Relative links into blobs/, named by the ETag (SHA-256 for LFS files, git blob hash for the others).
    EXPECT_EQ(fs::read_symlink(link).string(),
              "../../blobs/" + file(kModel, name)["etag"].get<std::string>());
    expect_content(link.string(), kModel, name);
    expect_content(blob(kModel, name), kModel, name);
  }
  EXPECT_EQ(file(kModel, kShard1)["etag"], file(kModel, kShard1)["sha256"]);
  // Not needed by the engine, or not in the index.
  for (const char* skipped : {"README.md", ".gitattributes", "consolidated.safetensors"}) {
    EXPECT_FALSE(fs::exists(*path + "/" + skipped)) << skipped;
    EXPECT_EQ(got(skipped), 0) << skipped;
  }
  std::ifstream ref(repo_dir(kModel) + "/refs/main");
  std::string ref_text((std::istreambuf_iterator<char>(ref)), std::istreambuf_iterator<char>());
  EXPECT_EQ(ref_text, commit(kModel));  // no newline, as huggingface_hub writes it
  EXPECT_TRUE(incomplete_files(kModel).empty());
  EXPECT_TRUE(fs::exists(cache_ + "/.locks/models--test-org--tiny-model"));
  const nlohmann::json stats = server_->stats();
  EXPECT_EQ(stats["get"], expected.size());
  EXPECT_EQ(stats["range_get"], 0);
}

TEST_F(HfHubTest, ASecondCallDownloadsNothing) {
  auto first = download_hf_model(kModel, options_);
  ASSERT_TRUE(first.has_value()) << first.status().to_string();
  server_->reset_stats();
  auto second = download_hf_model(kModel, options_);
  ASSERT_TRUE(second.has_value()) << second.status().to_string();
  EXPECT_EQ(*second, *first);
  const nlohmann::json stats = server_->stats();
  EXPECT_EQ(stats["api"], 1);  // the file list, to learn the current commit
  EXPECT_EQ(stats["head"], 0);
  EXPECT_EQ(stats["get"], 0);
}

TEST_F(HfHubTest, BlobsAlreadyCachedAreLinkedNotDownloaded) {
  ASSERT_TRUE(download_hf_model(kModel, options_).has_value());
  // The blobs stay, the snapshot goes: as when a new commit keeps the content of an older one.
  fs::remove_all(snapshot(kModel));
  server_->reset_stats();
  auto again = download_hf_model(kModel, options_);
  ASSERT_TRUE(again.has_value()) << again.status().to_string();
  const nlohmann::json stats = server_->stats();
  EXPECT_EQ(stats["head"], 7);  // the metadata names the blob...
  EXPECT_EQ(stats["get"], 0);   // ...which is there already
  expect_content(*again + "/" + kShard1, kModel, kShard1);
}

TEST_F(HfHubTest, ACutConnectionIsResumedWithARange) {
  server_->set_fault(kShard1, "cut", 400'000);
  auto path = download_hf_model(kModel, options_);
  ASSERT_TRUE(path.has_value()) << path.status().to_string();
  expect_content(*path + "/" + kShard1, kModel, kShard1);
  EXPECT_EQ(got(kShard1), 2);
  EXPECT_EQ(server_->stats()["range_get"], 1);
  EXPECT_TRUE(incomplete_files(kModel).empty());
}

TEST_F(HfHubTest, ALeftoverOfAnEarlierRunIsResumed) {
  const std::string content = server_->cdn_content(file(kModel, kShard2)["sha256"]);
  ASSERT_EQ(content.size(), file(kModel, kShard2)["size"].get<size_t>());
  write_leftover(kModel, kShard2, content.substr(0, 700'000));
  server_->reset_stats();
  auto path = download_hf_model(kModel, options_);
  ASSERT_TRUE(path.has_value()) << path.status().to_string();
  expect_content(*path + "/" + kShard2, kModel, kShard2);
  EXPECT_EQ(got(kShard2), 1);
  EXPECT_EQ(server_->stats()["range_get"], 1);
}

TEST_F(HfHubTest, AServerIgnoringTheRangeRestartsFromZero) {
  write_leftover(kModel, kShard2, std::string(300'000, 'x'));  // wrong bytes, never sent by the server
  server_->set_fault(kShard2, "ignore_range");
  auto path = download_hf_model(kModel, options_);
  ASSERT_TRUE(path.has_value()) << path.status().to_string();
  expect_content(*path + "/" + kShard2, kModel, kShard2);
}

TEST_F(HfHubTest, AChecksumMismatchIsRejectedAndLeavesNoBlob) {
  server_->set_fault(kShard2, "corrupt");
  auto path = download_hf_model(kModel, options_);
  ASSERT_FALSE(path.has_value());
  const std::string message = path.status().message();
  EXPECT_EQ(path.status().code(), StatusCode::kParseError) << message;
  EXPECT_TRUE(contains(message, kShard2)) << message;
  EXPECT_TRUE(contains(message, "checksum mismatch")) << message;
  EXPECT_TRUE(contains(message, file(kModel, kShard2)["sha256"].get<std::string>())) << message;
  EXPECT_FALSE(fs::exists(blob(kModel, kShard2)));
  EXPECT_TRUE(incomplete_files(kModel).empty());
  EXPECT_FALSE(fs::exists(snapshot(kModel) + "/" + kShard2));
  EXPECT_FALSE(fs::exists(repo_dir(kModel) + "/refs/main"));  // no ref to an incomplete snapshot

  server_->set_fault(kShard2, "none");
  auto retry = download_hf_model(kModel, options_);
  ASSERT_TRUE(retry.has_value()) << retry.status().to_string();
  expect_content(*retry + "/" + kShard2, kModel, kShard2);
}

TEST_F(HfHubTest, ACorruptLeftoverFailsTheChecksumAndIsDeleted) {
  // The hash covers the resumed prefix: a leftover that is not the file's start cannot pass.
  write_leftover(kModel, kShard2, std::string(300'000, 'x'));
  auto path = download_hf_model(kModel, options_);
  ASSERT_FALSE(path.has_value());
  EXPECT_TRUE(contains(path.status().message(), "checksum mismatch")) << path.status().message();
  EXPECT_TRUE(incomplete_files(kModel).empty());
  auto retry = download_hf_model(kModel, options_);
  ASSERT_TRUE(retry.has_value()) << retry.status().to_string();
}

TEST_F(HfHubTest, AGatedRepoNeedsAToken) {
  auto anonymous = download_hf_model(kGated, options_);
  ASSERT_FALSE(anonymous.has_value());
  EXPECT_EQ(anonymous.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(anonymous.status().message(), "HF_TOKEN")) << anonymous.status().message();
  EXPECT_TRUE(contains(anonymous.status().message(), "401")) << anonymous.status().message();

  HubOptions wrong = options_;
  wrong.token = "hf_wrong_token_value";
  auto refused = download_hf_model(kGated, wrong);
  ASSERT_FALSE(refused.has_value());
  EXPECT_TRUE(contains(refused.status().message(), "403")) << refused.status().message();
  EXPECT_TRUE(contains(refused.status().message(), "HF_TOKEN")) << refused.status().message();
  EXPECT_FALSE(contains(refused.status().message(), wrong.token)) << "the token must never be printed";

  setenv("HF_TOKEN", kGatedToken, 1);
  server_->reset_stats();
  auto with_token = download_hf_model(kGated, options_);
  ASSERT_TRUE(with_token.has_value()) << with_token.status().to_string();
  expect_content(*with_token + "/model.safetensors", kGated, "model.safetensors");
  // The CDN is another host: libcurl kept the Authorization header from it.
  EXPECT_EQ(server_->stats()["cdn_auth"], 0);
  EXPECT_EQ(got("model.safetensors"), 1);
}

TEST_F(HfHubTest, TheTokenFileIsRead) {
  std::ofstream(hf_home_ + "/token") << kGatedToken << "\n";
  auto path = download_hf_model(kGated, options_);
  ASSERT_TRUE(path.has_value()) << path.status().to_string();
}

TEST_F(HfHubTest, MissingReposRevisionsAndFilesAreClearErrors) {
  auto repo = download_hf_model("test-org/no-such-model", options_);
  ASSERT_FALSE(repo.has_value());
  EXPECT_EQ(repo.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(repo.status().message(), "test-org/no-such-model")) << repo.status().message();
  EXPECT_TRUE(contains(repo.status().message(), "HF_TOKEN")) << repo.status().message();  // or private?
  HubOptions with_token = options_;
  with_token.token = "hf_some_token";
  auto known_missing = download_hf_model("test-org/no-such-model", with_token);
  ASSERT_FALSE(known_missing.has_value());
  EXPECT_EQ(known_missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(known_missing.status().message(), "404")) << known_missing.status().message();

  HubOptions v9 = options_;
  v9.revision = "v9";
  auto revision = download_hf_model(kModel, v9);
  ASSERT_FALSE(revision.has_value());
  EXPECT_EQ(revision.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(revision.status().message(), "revision 'v9'")) << revision.status().message();

  auto missing_file = download_hf_model(std::string(kGguf) + ":tiny-Q5_K_M.gguf", options_);
  ASSERT_FALSE(missing_file.has_value());
  EXPECT_EQ(missing_file.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(missing_file.status().message(), "tiny-Q4_K_M.gguf"))
      << missing_file.status().message();

  auto not_a_model = download_hf_model(kGguf, options_);
  ASSERT_FALSE(not_a_model.has_value());
  EXPECT_TRUE(contains(not_a_model.status().message(), std::string(kGguf) + ":FILE"))
      << not_a_model.status().message();
  EXPECT_EQ(server_->stats()["get"], 0);
}

TEST_F(HfHubTest, AGlobPicksOneFile) {
  auto path = download_hf_model(std::string(kGguf) + ":*Q4_K_M.gguf", options_);
  ASSERT_TRUE(path.has_value()) << path.status().to_string();
  EXPECT_EQ(*path, snapshot(kGguf) + "/tiny-Q4_K_M.gguf");
  expect_content(*path, kGguf, "tiny-Q4_K_M.gguf");
  EXPECT_EQ(server_->stats()["get"], 1);
  EXPECT_TRUE(fs::exists(repo_dir(kGguf) + "/refs/main"));

  auto ambiguous = download_hf_model(std::string(kGguf) + ":tiny-*.gguf", options_);
  ASSERT_FALSE(ambiguous.has_value());
  EXPECT_EQ(ambiguous.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(ambiguous.status().message(), "tiny-Q8_0.gguf")) << ambiguous.status().message();
}

TEST_F(HfHubTest, ASplitGgufBringsAllItsShards) {
  auto path = download_hf_model(std::string(kGguf) + ":*Q2_K*", options_);
  ASSERT_TRUE(path.has_value()) << path.status().to_string();
  EXPECT_EQ(*path, snapshot(kGguf) + "/split/big-Q2_K-00001-of-00002.gguf");
  for (const char* shard : {"split/big-Q2_K-00001-of-00002.gguf", "split/big-Q2_K-00002-of-00002.gguf"}) {
    const std::string link = snapshot(kGguf) + "/" + shard;
    EXPECT_EQ(fs::read_symlink(link).string(),
              "../../../blobs/" + file(kGguf, shard)["etag"].get<std::string>());
    expect_content(link, kGguf, shard);
  }
}

TEST_F(HfHubTest, OfflineModeResolvesFromTheCacheOnly) {
  auto offline_first = options_;
  offline_first.offline = true;
  auto uncached = download_hf_model(kModel, offline_first);
  ASSERT_FALSE(uncached.has_value());
  EXPECT_EQ(uncached.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(uncached.status().message(), "offline")) << uncached.status().message();
  EXPECT_TRUE(contains(uncached.status().message(), "not in the cache")) << uncached.status().message();

  auto model = download_hf_model(kModel, options_);
  ASSERT_TRUE(model.has_value()) << model.status().to_string();
  auto gguf = download_hf_model(std::string(kGguf) + ":*Q8_0.gguf", options_);
  ASSERT_TRUE(gguf.has_value()) << gguf.status().to_string();
  server_->reset_stats();

  auto cached_model = download_hf_model(kModel, offline_first);
  ASSERT_TRUE(cached_model.has_value()) << cached_model.status().to_string();
  EXPECT_EQ(*cached_model, *model);
  setenv("HF_HUB_OFFLINE", "1", 1);  // the variable alone turns it on too
  auto cached_gguf = download_hf_model(std::string(kGguf) + ":*Q8_0.gguf", options_);
  ASSERT_TRUE(cached_gguf.has_value()) << cached_gguf.status().to_string();
  EXPECT_EQ(*cached_gguf, *gguf);
  auto other_file = download_hf_model(std::string(kGguf) + ":*Q4_K_M.gguf", options_);
  ASSERT_FALSE(other_file.has_value());
  EXPECT_EQ(other_file.status().code(), StatusCode::kNotFound);
  const nlohmann::json stats = server_->stats();
  EXPECT_EQ(stats["api"], 0);
  EXPECT_EQ(stats["head"], 0);

  // A snapshot missing a shard is not a model.
  unsetenv("HF_HUB_OFFLINE");
  fs::remove(snapshot(kModel) + "/" + kShard2);
  auto partial = download_hf_model(kModel, offline_first);
  ASSERT_FALSE(partial.has_value());
  EXPECT_TRUE(contains(partial.status().message(), kShard2)) << partial.status().message();
}

TEST_F(HfHubTest, AnUnreachableHubFallsBackToTheCache) {
  auto model = download_hf_model(kModel, options_);
  ASSERT_TRUE(model.has_value()) << model.status().to_string();
  server_.reset();  // nothing listens on the port any more
  auto cached = download_hf_model(kModel, options_);
  ASSERT_TRUE(cached.has_value()) << cached.status().to_string();
  EXPECT_EQ(*cached, *model);
  auto uncached = download_hf_model(kGated, options_);
  ASSERT_FALSE(uncached.has_value());
  EXPECT_EQ(uncached.status().code(), StatusCode::kIoError) << uncached.status().to_string();
}

TEST_F(HfHubTest, ARenamedRepoFollowsTheHubsRedirects) {
  auto path = download_hf_model("test-org/old-tiny-model", options_);
  ASSERT_TRUE(path.has_value()) << path.status().to_string();
  EXPECT_EQ(*path, cache_ + "/models--test-org--old-tiny-model/snapshots/" + commit(kModel));
  expect_content(*path + "/" + kShard1, kModel, kShard1);
}

TEST_F(HfHubTest, RetriesThatBringNothingEndWithAClearError) {
  server_->set_fault(kShard1, "cut", 0, 100);
  hub::HttpClient http;
  hub::BlobDownload d;
  d.url = server_->endpoint() + "/" + kModel + "/resolve/main/" + kShard1;
  d.blob_path = test::temp_dir("blobs") + "/blob";
  d.display_name = kShard1;
  d.expected_size = file(kModel, kShard1)["size"];
  d.max_attempts = 3;
  d.first_pause_ms = 10;
  d.http_error = [](const hub::HttpResponse& r) { return io_error("HTTP " + std::to_string(r.status)); };
  const Status s = hub::download_blob(http, d);
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.to_string();
  EXPECT_TRUE(contains(s.message(), kShard1)) << s.message();
  EXPECT_TRUE(contains(s.message(), "3 attempts")) << s.message();
  EXPECT_EQ(got(kShard1), 3);
  EXPECT_FALSE(fs::exists(d.blob_path));
}

TEST_F(HfHubTest, AProgressBarIsDrawnWhenAsked) {
  options_.progress = 1;
  testing::internal::CaptureStderr();
  auto path = download_hf_model(std::string(kGguf) + ":tiny-Q4_K_M.gguf", options_);
  const std::string err = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(path.has_value()) << path.status().to_string();
  EXPECT_TRUE(contains(err, "\rtiny-Q4_K_M.gguf  1.0/1.0 MB  100%")) << err;
  EXPECT_TRUE(contains(err, "MB/s\n")) << err;
}

// huggingface_hub itself (when installed) reads what we wrote, and writes what we read: the layouts agree.
TEST_F(HfHubTest, HuggingfaceHubSharesTheCache) {
  std::string out, err;
  if (test::run_command("python3 -c 'import huggingface_hub' 2>/dev/null", &out) != 0) {
    GTEST_SKIP() << "huggingface_hub is not installed";
  }
  auto ours = download_hf_model(kModel, options_);
  ASSERT_TRUE(ours.has_value()) << ours.status().to_string();
  const std::string env =
      "HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_XET=1 HF_ENDPOINT=" + server_->endpoint() +
      " HF_HOME=" + hf_home_ + " ";
  const std::string read_ours = env +
                                "HF_HUB_OFFLINE=1 python3 -c \"import sys; from huggingface_hub import "
                                "hf_hub_download as d; print(d('" +
                                std::string(kModel) + "', '" + kShard2 + "', cache_dir='" + cache_ + "'))\"";
  ASSERT_EQ(test::run_command(read_ours, &out, &err), 0) << err;
  EXPECT_EQ(out, *ours + "/" + kShard2 + "\n");

  const std::string python_cache = test::temp_dir("python_cache");
  const std::string write_theirs =
      env + "python3 -c \"from huggingface_hub import snapshot_download as s; s('" + std::string(kModel) +
      "', cache_dir='" + python_cache + "', allow_patterns=['*.json', 'model-*.safetensors'])\"";
  ASSERT_EQ(test::run_command(write_theirs, &out, &err), 0) << err;
  HubOptions offline = options_;
  offline.cache_dir = python_cache;
  offline.offline = true;
  auto theirs = download_hf_model(kModel, offline);
  ASSERT_TRUE(theirs.has_value()) << theirs.status().to_string();
  EXPECT_EQ(*theirs, python_cache + "/models--test-org--tiny-model/snapshots/" + commit(kModel));

  // Same blobs, links, and refs (their own extras, .locks/ and trees/, aside).
  auto layout = [](const std::string& root) {
    std::vector<std::string> entries;
    for (const auto& e : fs::recursive_directory_iterator(root + "/models--test-org--tiny-model")) {
      const std::string rel = e.path().lexically_relative(root).generic_string();
      if (contains(rel, "/trees")) continue;
      entries.push_back(rel + (e.is_symlink() ? " -> " + fs::read_symlink(e.path()).string() : ""));
    }
    std::sort(entries.begin(), entries.end());
    return entries;
  };
  EXPECT_EQ(layout(cache_), layout(python_cache));
}

}  // namespace
}  // namespace autoglm
