#include "test/harness/cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "common/layout.h"
#include "common/rpc_channel.h"
#include "test/harness/spawner.h"

namespace scalefs::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

int RunShell(const std::string& command, std::string* out) {
  std::string cmd = command + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  std::string text;
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  int rc = pclose(p);
  if (out != nullptr) *out = text;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

// The first port of a slice of 10000-19999 this process holds alone. ctest
// runs test binaries side by side, and a port one process probed free could
// be taken by another's daemon before its own bound it. The slice is claimed
// by an flock on a file held open for the process's life (not inherited by
// the daemons it starts); 0 when every slice is taken: the kernel chooses.
static int PortSliceBase() {
  static const int base = [] {
    const std::string dir = "/tmp/scalefs-test-ports";
    mkdir(dir.c_str(), 0755);
    for (int k = 0; k < 20; ++k) {
      const std::string path = dir + "/slice-" + std::to_string(k);
      int fd = open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
      if (fd < 0) continue;
      if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 10000 + 500 * k;
      close(fd);
    }
    return 0;
  }();
  return base;
}

static bool PortBindable(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

int FreePort() {
  // Never give a port this process gave before: a daemon may not have bound
  // it yet (with the kernel's choice, a CI run got one port for both members
  // of a pair).
  static std::mutex mu;
  static std::set<int> given;
  static int next = 0;
  std::lock_guard<std::mutex> l(mu);
  if (const int base = PortSliceBase(); base != 0) {
    for (int tries = 0; tries < 500; ++tries) {
      const int port = base + next;
      next = (next + 1) % 500;
      if (next == 0) given.clear();  // wrapped: the early clusters are long gone
      if (given.insert(port).second && PortBindable(port)) return port;
    }
  }
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    const int port = ntohs(a.sin_port);
    if (given.insert(port).second) return port;
  }
}

bool IsMounted(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  // A dead client's mount answers ENOTCONN to stat: do not resolve through it.
  std::error_code ec;
  std::string canon = fs::weakly_canonical(fs::path(dir).parent_path(), ec).string();
  if (ec) canon = fs::path(dir).parent_path().string();
  canon += "/" + fs::path(dir).filename().string();
  while (std::getline(in, line)) {
    if (line.find(" " + canon + " ") != std::string::npos && line.find("fuse") != std::string::npos)
      return true;
  }
  return false;
}

Cluster::Cluster(ClusterOptions options) : options_(std::move(options)) {
  char tmpl[] = "/tmp/scalefs-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  // Other users must reach the mount point: tests switch uid to check permissions.
  chmod(dir_.c_str(), 0755);
  mnt_ = dir_ + "/mnt";
  fs::create_directories(mnt_);
  fs::create_directories(dir_ + "/log");
  fs::create_directories(dir_ + "/dev");
  meta_addr_ = "127.0.0.1:" + std::to_string(FreePort());
  for (int i = 0; i < options_.pairs * 2; ++i) member_ports_.push_back(FreePort());
}

Cluster::~Cluster() {
  if (IsMounted(mnt_)) Unmount();
  // A test that failed before its UnmountAt must not leave a mount behind.
  for (const std::string& dir : mounts_) {
    if (IsMounted(dir)) RunShell("fusermount3 -uz " + dir);
  }
  for (auto& [name, p] : pids_) {
    if (p.pid > 0) {
      kill(p.pid, SIGKILL);
      WaitSpawned(p.pidfd, -1);
    }
    if (p.pidfd >= 0) close(p.pidfd);
  }
  if (std::getenv("SCALEFS_KEEP_TEST_STATE") == nullptr) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string Cluster::MemberName(int pair, int member) {
  return "pair" + std::to_string(pair) + (member == 0 ? "a" : "b");
}
std::string Cluster::MemberAddress(int pair, int member) const {
  return "127.0.0.1:" + std::to_string(member_ports_[pair * 2 + member]);
}
std::string Cluster::DevicePath(int pair, int member) const {
  return dir_ + "/dev/" + MemberName(pair, member) + ".img";
}

std::string Cluster::DeviceSha256(int pair, int member) const {
  std::string out;
  RunShell("sha256sum " + DevicePath(pair, member), &out);
  return out.substr(0, 64);
}

std::vector<std::string> Cluster::DaemonNames() const {
  std::vector<std::string> names{"meta"};
  for (int p = 0; p < options_.pairs; ++p)
    for (int m = 0; m < 2; ++m) names.push_back(MemberName(p, m));
  return names;
}

uint64_t Cluster::DeviceSize(int pair) const {
  if (pair < static_cast<int>(options_.pair_device_sizes.size()) &&
      options_.pair_device_sizes[pair] != 0) {
    return options_.pair_device_sizes[pair];
  }
  return options_.device_size;
}

std::string Cluster::MetricsAddress(const std::string& name) {
  int& port = metrics_ports_[name];
  if (port == 0) port = FreePort();
  return "127.0.0.1:" + std::to_string(port);
}

std::vector<std::string> Cluster::CommonFlags(const std::string& name) {
  return {"--log_dir=" + dir_ + "/log", "--log_name=" + name,
          "--metrics_listen=" + MetricsAddress(name)};
}

std::string Cluster::SeeLogs(const std::string& name) const {
  return "see " + LogPath(name) + " and " + StderrPath(name);
}

std::vector<std::string> Cluster::DaemonArgv(const std::string& name) {
  const std::string bin = SCALEFS_BIN_DIR;
  const std::vector<std::string> common = CommonFlags(name);
  if (name == "meta") {
    std::vector<std::string> argv{bin + "/scalefs-meta", "--listen=" + meta_addr_,
                                  "--db=" + dir_ + "/metadb"};
    for (const std::string& f : TlsFlags("meta")) argv.push_back(f);
    argv.insert(argv.end(), common.begin(), common.end());
    argv.insert(argv.end(), options_.meta_flags.begin(), options_.meta_flags.end());
    return argv;
  }
  for (int p = 0; p < options_.pairs; ++p) {
    for (int m = 0; m < 2; ++m) {
      if (MemberName(p, m) != name) continue;
      std::vector<std::string> argv{bin + "/scalefs-chunk", "--listen=" + MemberAddress(p, m),
                                    "--peer=" + MemberAddress(p, 1 - m),
                                    "--device=" + DevicePath(p, m),
                                    "--size=" + std::to_string(DeviceSize(p))};
      for (const std::string& f : TlsFlags(name)) argv.push_back(f);
      argv.insert(argv.end(), common.begin(), common.end());
      argv.insert(argv.end(), options_.chunk_flags.begin(), options_.chunk_flags.end());
      return argv;
    }
  }
  return {};
}

Status Cluster::StartProcess(const std::string& name, const std::vector<std::string>& argv) {
  if (argv.empty()) return Status::Invalid("no daemon named " + name);
  auto spawned = Spawn(argv, StderrPath(name));
  if (!spawned.ok()) return spawned.status();
  Spawned& old = pids_[name];
  if (old.pidfd >= 0) close(old.pidfd);
  old = *spawned;
  return Status::OK();
}

Status Cluster::StartDaemon(const std::string& name) {
  Status s = StartProcess(name, DaemonArgv(name));
  if (!s.ok()) return s;
  // Ready when it accepts gRPC connections.
  std::string addr;
  if (name == "meta") {
    addr = meta_addr_;
  } else {
    for (int p = 0; p < options_.pairs; ++p)
      for (int m = 0; m < 2; ++m)
        if (MemberName(p, m) == name) addr = MemberAddress(p, m);
  }
  auto channel = NewChannel(addr, name == "meta" ? Role::kMeta : Role::kMember,
                            Credentials("admin"));
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + 20s))
    return Status::Unavailable(name + " did not start listening on " + addr + "; " +
                               SeeLogs(name));
  return Status::OK();
}

void Cluster::Signal(const std::string& name, int sig) {
  auto it = pids_.find(name);
  if (it != pids_.end() && it->second.pid > 0) kill(it->second.pid, sig);
}

void Cluster::WaitExit(const std::string& name) {
  auto it = pids_.find(name);
  if (it == pids_.end() || it->second.pid <= 0) return;
  WaitSpawned(it->second.pidfd, -1);
  it->second.pid = -1;
}

bool Cluster::Running(const std::string& name) const {
  auto it = pids_.find(name);
  if (it == pids_.end() || it->second.pid <= 0) return false;
  return !WaitSpawned(it->second.pidfd, 0);
}

std::vector<std::string> Cluster::TlsFlags(const std::string& name) const {
  if (options_.insecure) return {"--insecure"};
  return {"--ca_cert=" + tls_dir() + "/ca.crt", "--cert=" + tls_dir() + "/" + name + ".crt",
          "--key=" + tls_dir() + "/" + name + ".key"};
}

Status Cluster::Issue(const std::string& role, const std::string& name,
                      const std::vector<std::string>& extra) {
  std::string cmd = std::string(SCALEFS_BIN_DIR) + "/scalefs ca issue " + role + " " + name +
                    " --dir " + tls_dir();
  for (const std::string& e : extra) cmd += " '" + e + "'";
  std::string out;
  if (RunShell(cmd, &out) != 0) return Status::IoError(cmd + ": " + out);
  return Status::OK();
}

Status Cluster::MakeCertificates() {
  std::string out;
  const std::string init = std::string(SCALEFS_BIN_DIR) + "/scalefs ca init --dir " + tls_dir();
  if (RunShell(init, &out) != 0) return Status::IoError(init + ": " + out);
  Status s = Issue("meta", "meta");
  for (int p = 0; s.ok() && p < options_.pairs; ++p)
    for (int m = 0; s.ok() && m < 2; ++m) s = Issue("member", MemberName(p, m));
  if (s.ok()) s = Issue("client", "client");
  if (s.ok()) s = Issue("admin", "admin");
  return s;
}

std::shared_ptr<grpc::ChannelCredentials> Cluster::Credentials(const std::string& cert) const {
  if (options_.insecure) return grpc::InsecureChannelCredentials();
  auto creds = TlsChannelCredentials(
      {tls_dir() + "/ca.crt", tls_dir() + "/" + cert + ".crt", tls_dir() + "/" + cert + ".key"});
  return creds.ok() ? *creds : grpc::InsecureChannelCredentials();
}

Status Cluster::Start() {
  if (!options_.insecure) {
    Status s = MakeCertificates();
    if (!s.ok()) return s;
  }
  // The CLI and mounts this test starts find their certificates as a user's
  // do: in the local cluster's state folder (tls/admin.*, tls/client.*).
  setenv("SCALEFS_STATE", dir_.c_str(), 1);
  for (const auto& name : DaemonNames()) {
    Status s = StartDaemon(name);
    if (!s.ok()) return s;
  }
  const int registered = options_.registered_pairs < 0 ? options_.pairs : options_.registered_pairs;
  for (int p = 0; p < registered; ++p) {
    std::string out;
    int rc = Cli({"pair", "add", "pair" + std::to_string(p), MemberAddress(p, 0), MemberAddress(p, 1)},
                 &out);
    if (rc != 0) return Status::IoError("pair add failed: " + out);
  }
  return options_.mount ? Mount() : Status::OK();
}

Status Cluster::WaitMounted(const std::string& dir, const std::string& client_name) {
  for (int i = 0; i < 200; ++i) {
    if (IsMounted(dir)) return Status::OK();
    if (!Running(client_name)) break;
    std::this_thread::sleep_for(50ms);
  }
  return Status::IoError("mount at " + dir + " did not appear; " + SeeLogs(client_name));
}

Status Cluster::MountAt(const std::string& dir, const std::string& client_name) {
  return MountAt(dir, client_name, {});
}

Status Cluster::MountAt(const std::string& dir, const std::string& client_name,
                        const std::vector<std::string>& flags) {
  return MountProgramAt("scalefs", dir, client_name, flags);
}

Status Cluster::MountProgramAt(const std::string& program, const std::string& dir,
                               const std::string& client_name,
                               const std::vector<std::string>& flags) {
  fs::create_directories(dir);
  std::vector<std::string> argv{std::string(SCALEFS_BIN_DIR) + "/" + program, "mount", meta_addr_,
                                dir, "-f"};
  if (options_.insecure) argv.insert(argv.begin() + 1, "--insecure");
  const std::vector<std::string> common = CommonFlags(client_name);
  argv.insert(argv.end(), common.begin(), common.end());
  argv.insert(argv.end(), flags.begin(), flags.end());
  for (const auto& o : options_.mount_options) {
    argv.push_back("-o");
    argv.push_back(o);
  }
  Status s = StartProcess(client_name, argv);
  if (!s.ok()) return s;
  mounts_.insert(dir);
  return WaitMounted(dir, client_name);
}

Status Cluster::UnmountAt(const std::string& dir, const std::string& client_name) {
  std::string out;
  if (IsMounted(dir) && RunShell("fusermount3 -u " + dir, &out) != 0) {
    // A dead client leaves the mount behind; detach it.
    RunShell("fusermount3 -uz " + dir);
  }
  auto it = pids_.find(client_name);
  if (it != pids_.end() && it->second.pid > 0) {
    for (int i = 0; i < 200 && Running(client_name); ++i) std::this_thread::sleep_for(50ms);
    if (Running(client_name)) kill(it->second.pid, SIGKILL);
    WaitExit(client_name);
  }
  if (IsMounted(dir)) return Status::Busy("still mounted: " + dir + ": " + out);
  mounts_.erase(dir);
  return Status::OK();
}

Status Cluster::Mount() { return MountAt(mnt_, "client"); }
Status Cluster::Unmount() { return UnmountAt(mnt_, "client"); }

int Cluster::Cli(const std::vector<std::string>& args, std::string* output) {
  std::string cmd = std::string(SCALEFS_BIN_DIR) + "/scalefs --meta=" + meta_addr_ +
                    (options_.insecure ? " --insecure" : "");
  for (const auto& a : args) cmd += " '" + a + "'";
  return RunShell(cmd, output);
}

namespace {
// Larger limits than the programs' own: tests send oversized requests to see
// the server refuse them.
std::shared_ptr<grpc::Channel> TestChannel(const std::string& addr, Role role,
                                           std::shared_ptr<grpc::ChannelCredentials> creds) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  args.SetSslTargetNameOverride(ServerNameFor(role));
  return grpc::CreateCustomChannel(addr, std::move(creds), args);
}
}  // namespace

std::unique_ptr<scalefs::meta::Meta::Stub> Cluster::MetaStub(const std::string& cert) const {
  return scalefs::meta::Meta::NewStub(TestChannel(meta_addr_, Role::kMeta, Credentials(cert)));
}

std::unique_ptr<scalefs::chunk::Chunk::Stub> Cluster::ChunkStub(int pair, int member,
                                                               const std::string& cert) const {
  return scalefs::chunk::Chunk::NewStub(
      TestChannel(MemberAddress(pair, member), Role::kMember, Credentials(cert)));
}

}  // namespace scalefs::test
