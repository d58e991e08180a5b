#include "mock_hub_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include "hub/http_client.h"

namespace autoglm::test {
namespace {

constexpr int kStartTimeoutMs = 20000;

}  // namespace

bool python3_available() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && access((dir + "/python3").c_str(), X_OK) == 0) return true;
  }
  return false;
}

MockHubServer::MockHubServer() {
  const std::string script = std::string(AUTOGLM_SOURCE_DIR) + "/tests/hub/mock_hub.py";
  int in[2], out[2];
  // Close-on-exec, so that no other child of this process inherits the server's stdin and keeps it alive.
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    error_ = "pipe failed";
    return;
  }
  pid_ = fork();
  if (pid_ == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    execlp("python3", "python3", script.c_str(), "--exit-on-stdin-eof", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  stdin_fd_ = in[1];
  if (pid_ < 0) {
    close(out[0]);
    error_ = "fork failed";
    return;
  }
  // The first line is the port.
  std::string line;
  pollfd p{out[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && poll(&p, 1, kStartTimeoutMs) > 0) {
    char buf[64];
    const ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  port_ = std::atoi(line.c_str());
  if (port_ <= 0) error_ = "mock_hub.py did not start (output: '" + line + "')";
}

MockHubServer::~MockHubServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  if (stdin_fd_ >= 0) close(stdin_fd_);
}

std::string MockHubServer::endpoint() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

nlohmann::json MockHubServer::control(const std::string& what) const {
  hub::HttpClient http;
  hub::HttpRequest request;
  request.url = endpoint() + "/_control/" + what;
  request.timeout_s = 10;
  auto r = http.fetch(request);
  if (!r || r->status != 200) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, false);
}

void MockHubServer::set_fault(const std::string& file, const std::string& mode, long bytes, int times) const {
  control("fault?file=" + file + "&mode=" + mode + "&bytes=" + std::to_string(bytes) +
          "&times=" + std::to_string(times));
}

std::string MockHubServer::cdn_content(const std::string& sha256) const {
  hub::HttpClient http;
  hub::HttpRequest request;
  request.url = endpoint() + "/cdn/" + sha256;
  auto r = http.fetch(request);
  return r && r->status == 200 ? r->body : std::string();
}

}  // namespace autoglm::test
