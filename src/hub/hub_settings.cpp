#include "hub/hub_settings.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace autoglm::hub {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string home_dir() {
  std::string home = env("HOME");
  if (home.empty()) {
    if (const passwd* pw = getpwuid(getuid())) home = pw->pw_dir;
  }
  return home;
}

// Python's os.path.expanduser, which huggingface_hub applies to its path variables.
std::string expand_user(const std::string& path) {
  if (path == "~" || path.rfind("~/", 0) == 0) return home_dir() + path.substr(1);
  return path;
}

std::string trim(std::string s) {
  auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), space));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), space).base(), s.end());
  return s;
}

// huggingface_hub's truthy values for boolean variables.
bool env_true(const char* name) {
  std::string v = env(name);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::toupper(c); });
  return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

std::string hf_home() {
  if (std::string v = env("HF_HOME"); !v.empty()) return expand_user(v);
  std::string cache = env("XDG_CACHE_HOME");
  if (cache.empty()) cache = home_dir() + "/.cache";
  return expand_user(cache) + "/huggingface";
}

std::string read_token_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) return {};
  std::stringstream ss;
  ss << f.rdbuf();
  return trim(ss.str());
}

}  // namespace

HubSettings resolve_hub_settings(const HubOptions& options) {
  HubSettings s;
  s.endpoint = !options.endpoint.empty() ? options.endpoint : env("HF_ENDPOINT");
  if (s.endpoint.empty()) s.endpoint = "https://huggingface.co";
  while (s.endpoint.size() > 1 && s.endpoint.back() == '/')
    s.endpoint.pop_back();

  s.token = trim(!options.token.empty() ? options.token : env("HF_TOKEN"));
  if (s.token.empty()) {
    std::string path = env("HF_TOKEN_PATH");
    s.token = read_token_file(path.empty() ? hf_home() + "/token" : expand_user(path));
  }

  if (!options.cache_dir.empty()) {
    s.cache_dir = expand_user(options.cache_dir);
  } else if (std::string v = env("HF_HUB_CACHE"); !v.empty()) {
    s.cache_dir = expand_user(v);
  } else {
    s.cache_dir = hf_home() + "/hub";
  }

  s.revision = options.revision.empty() ? "main" : options.revision;
  s.progress = options.progress < 0 ? isatty(STDERR_FILENO) != 0 : options.progress != 0;
  s.offline = options.offline || env_true("HF_HUB_OFFLINE");
  return s;
}

}  // namespace autoglm::hub
