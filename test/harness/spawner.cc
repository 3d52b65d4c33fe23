#include "test/harness/spawner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace scalefs::test {
namespace {

bool WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool ReadAll(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// The spawner's loop: a request is its length, then the log path, the
// argument count, each argument and each variable of the test's environment
// as of the request (a cluster sets SCALEFS_STATE), NUL-terminated; the
// answer the pid, or -errno. It ends when the
// test closes its end. SIGCHLD ignored: the kernel reaps its children, and
// the test sees their exit through its pidfds.
[[noreturn]] void Serve(int sock) {
  signal(SIGCHLD, SIG_IGN);
  for (;;) {
    uint32_t len = 0;
    if (!ReadAll(sock, &len, sizeof len)) _exit(0);
    std::string req(len, '\0');
    if (!ReadAll(sock, req.data(), len)) _exit(0);
    std::vector<std::string> parts;
    for (size_t at = 0; at < req.size();) {
      const size_t end = req.find('\0', at);
      parts.push_back(req.substr(at, end - at));
      at = end + 1;
    }
    int32_t answer = -EINVAL;
    const size_t argc = parts.size() >= 2 ? strtoul(parts[1].c_str(), nullptr, 10) : 0;
    if (argc >= 1 && parts.size() >= 2 + argc) {
      std::vector<char*> args, env;
      for (size_t i = 2; i < 2 + argc; ++i) args.push_back(parts[i].data());
      args.push_back(nullptr);
      for (size_t i = 2 + argc; i < parts.size(); ++i) env.push_back(parts[i].data());
      env.push_back(nullptr);
      const pid_t pid = fork();
      if (pid == 0) {
        setpgid(0, 0);
        signal(SIGCHLD, SIG_DFL);
        const int out = open(parts[0].c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        const int null = open("/dev/null", O_RDONLY);
        dup2(out, 1);
        dup2(out, 2);
        dup2(null, 0);
        close_range(3, ~0U, 0);
        execve(args[0], args.data(), env.data());
        _exit(127);
      }
      answer = pid > 0 ? pid : -errno;
    }
    if (!WriteAll(sock, &answer, sizeof answer)) _exit(0);
  }
}

std::mutex mu;
int sock = -1;

Status StartSpawner() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return Status::FromErrno(errno, "socketpair for the spawner");
  }
  const pid_t pid = fork();
  if (pid < 0) return Status::FromErrno(errno, "fork of the spawner");
  if (pid == 0) {
    close(sv[0]);
    Serve(sv[1]);
  }
  close(sv[1]);
  sock = sv[0];
  return Status::OK();
}

}  // namespace

Result<Spawned> Spawn(const std::vector<std::string>& argv, const std::string& log) {
  if (argv.empty()) return Status::Invalid("nothing to spawn");
  std::string req = log + '\0' + std::to_string(argv.size()) + '\0';
  for (const std::string& a : argv) req += a + '\0';
  for (char** e = environ; *e != nullptr; ++e) req += std::string(*e) + '\0';
  std::lock_guard l(mu);
  if (sock < 0) {
    if (Status s = StartSpawner(); !s.ok()) return s;
  }
  const uint32_t len = static_cast<uint32_t>(req.size());
  int32_t answer = 0;
  if (!WriteAll(sock, &len, sizeof len) || !WriteAll(sock, req.data(), req.size()) ||
      !ReadAll(sock, &answer, sizeof answer)) {
    return Status::IoError("the spawner is gone");
  }
  if (answer < 0) return Status::FromErrno(-answer, "fork for " + argv[0]);
  Spawned out;
  out.pid = answer;
  // Gone already (auto-reaped): -1, which WaitSpawned takes as exited.
  out.pidfd = static_cast<int>(syscall(SYS_pidfd_open, out.pid, 0));
  if (out.pidfd >= 0) fcntl(out.pidfd, F_SETFD, FD_CLOEXEC);
  return out;
}

bool WaitSpawned(int pidfd, int timeout_ms) {
  if (pidfd < 0) return true;
  pollfd p{pidfd, POLLIN, 0};
  for (;;) {
    const int r = poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

}  // namespace scalefs::test
