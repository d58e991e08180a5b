// tests/hub/mock_hub.py run as a child process for one test: its endpoint, its control requests, and its end
// (killed and reaped by the destructor; if the test process dies first, the server sees its stdin close and
// exits, so no server outlives its test).
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>

namespace autoglm::test {

// True when a python3 executable is on PATH.
bool python3_available();

class MockHubServer {
 public:
  MockHubServer();
  ~MockHubServer();
  MockHubServer(const MockHubServer&) = delete;
  MockHubServer& operator=(const MockHubServer&) = delete;

  bool ok() const { return port_ > 0; }
  const std::string& error() const { return error_; }
  // http://127.0.0.1:PORT
  std::string endpoint() const;

  // GET /_control/<what> as JSON (null when the request fails).
  nlohmann::json control(const std::string& what) const;
  nlohmann::json stats() const { return control("stats"); }
  void reset_stats() const { control("reset"); }
  // Per repo: "commit", and "files": {name: {"sha256", "size", "etag", "lfs"}}.
  nlohmann::json repos() const { return control("repos"); }
  // mock_hub.py's fault switches: mode cut (after `bytes`, `times` times), corrupt, ignore_range or none.
  void set_fault(const std::string& file, const std::string& mode, long bytes = 0, int times = 1) const;
  // The content of an LFS object, from the mock's CDN path.
  std::string cdn_content(const std::string& sha256) const;

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;  // the server's stdin: closing it (or dying) ends the server
  int port_ = 0;
  std::string error_;
};

}  // namespace autoglm::test
