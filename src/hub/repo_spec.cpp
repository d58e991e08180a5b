#include "hub/repo_spec.h"

#include <cctype>

namespace autoglm::hub {
namespace {

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// The hub's rule for each half of a repo id; "--" and ".." are refused because the cache folder name joins
// the halves with "--".
bool is_repo_name(const std::string& s) {
  if (s.empty() || s.size() > 96) return false;
  for (char c : s) {
    if (!is_name_char(c)) return false;
  }
  if (s.find("--") != std::string::npos || s.find("..") != std::string::npos) return false;
  return s.front() != '-' && s.front() != '.' && s.back() != '-' && s.back() != '.';
}

}  // namespace

bool is_safe_file_name(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

bool is_safe_relative_path(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  for (char c : path) {
    if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool is_commit_hash(const std::string& revision) {
  if (revision.size() != 40) return false;
  for (char c : revision) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c)))
      return false;
  }
  return true;
}

Expected<RepoSpec> parse_repo_spec(const std::string& spec) {
  RepoSpec r;
  const size_t colon = spec.find(':');
  r.repo_id = spec.substr(0, colon);
  if (colon != std::string::npos) {
    r.file_pattern = spec.substr(colon + 1);
    if (r.file_pattern.empty()) return invalid_argument("'" + spec + "': no file name after ':'");
    if (!is_safe_relative_path(r.file_pattern)) {
      return invalid_argument("'" + spec + "': '" + r.file_pattern + "' is not a file path inside the repo");
    }
  }
  const size_t slash = r.repo_id.find('/');
  const bool ok = slash == std::string::npos
                      ? is_repo_name(r.repo_id)
                      : is_repo_name(r.repo_id.substr(0, slash)) && is_repo_name(r.repo_id.substr(slash + 1));
  if (!ok) {
    return invalid_argument(
        "'" + spec +
        "' is not a Hugging Face model: expected org/name or org/name:FILE (letters, digits, "
        "'-', '_' and '.')");
  }
  return r;
}

}  // namespace autoglm::hub
