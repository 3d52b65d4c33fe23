// A real scalefs cluster on loopback for integration tests, after 3FS's
// test harness: one scalefs-meta, two scalefs-chunk per pair and a FUSE
// mount by the real `scalefs` client, each a separate process in a
// temporary state folder on free ports. Each logs as it would anywhere,
// to glog files in the folder's log/ under its name (its stderr beside
// them), and serves its Prometheus metrics on a free port of its own.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "common/rpc_security.h"
#include "common/status.h"
#include "test/harness/spawner.h"
#include "proto/chunk.grpc.pb.h"
#include "proto/meta.grpc.pb.h"

namespace scalefs::test {

struct ClusterOptions {
  int pairs = 2;
  uint64_t device_size = 1ull << 30;
  // Per pair, overriding device_size where given (and non-zero).
  std::vector<uint64_t> pair_device_sizes;
  bool mount = true;
  // How many of the pairs Start registers with meta (-1: all). The members
  // of the others run, for a test to `scalefs pair add` them later.
  int registered_pairs = -1;
  std::vector<std::string> mount_options;  // extra -o options
  std::vector<std::string> chunk_flags;    // extra scalefs-chunk flags, e.g. --peer_timeout_ms=1000
  std::vector<std::string> meta_flags;     // extra scalefs-meta flags, e.g. --session_timeout_s=3
  // Plaintext gRPC (--insecure everywhere). By default the cluster runs as
  // users run it: its own CA, a certificate per daemon, the mount's client
  // certificate and the CLI's admin certificate in state_dir()/tls.
  bool insecure = false;
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions options = {});
  ~Cluster();  // unmounts and kills everything, removes the state folder
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Starts meta and every member, registers the pairs, mounts.
  Status Start();

  const std::string& mnt() const { return mnt_; }
  const std::string& state_dir() const { return dir_; }
  const std::string& meta_address() const { return meta_addr_; }
  // "pair0a", "pair0b", ...
  static std::string MemberName(int pair, int member);
  std::string MemberAddress(int pair, int member) const;
  std::string DevicePath(int pair, int member) const;
  // sha256 of a member's whole device image: "nothing changed" checks.
  std::string DeviceSha256(int pair, int member) const;

  // Process control by name: "meta", "pair0a", ..., "client".
  Status StartDaemon(const std::string& name);
  void Signal(const std::string& name, int sig);
  void Kill(const std::string& name) { Signal(name, 9); WaitExit(name); }
  void WaitExit(const std::string& name);
  bool Running(const std::string& name) const;
  std::vector<std::string> DaemonNames() const;

  Status Mount();
  Status Unmount();
  // A second client of the same cluster at another mount point.
  Status MountAt(const std::string& dir, const std::string& client_name);
  Status UnmountAt(const std::string& dir, const std::string& client_name);
  // MountAt with extra `scalefs mount` flags, e.g. {"--prefer_member=b"}.
  Status MountAt(const std::string& dir, const std::string& client_name,
                 const std::vector<std::string>& flags);
  // MountAt with another client program of the build (bin/PROGRAM), e.g. the
  // test-only "scalefs-test-faults".
  Status MountProgramAt(const std::string& program, const std::string& dir,
                        const std::string& client_name, const std::vector<std::string>& flags);
  // The log of a daemon or client started by name: the link glog keeps to
  // its current file. What it wrote to stderr is in StderrPath.
  std::string LogPath(const std::string& name) const { return dir_ + "/log/" + name + ".INFO"; }
  std::string StderrPath(const std::string& name) const {
    return dir_ + "/log/" + name + ".stderr";
  }
  // Where a daemon or client started by name serves /metrics (HOST:PORT).
  std::string MetricsAddress(const std::string& name);

  // Runs `scalefs --meta=<meta> args...`; returns the exit status.
  int Cli(const std::vector<std::string>& args, std::string* output = nullptr);

  // Stubs that show the certificate `cert` of tls_dir() ("admin", "client",
  // "pair0b", or one made by Issue).
  std::unique_ptr<scalefs::meta::Meta::Stub> MetaStub(const std::string& cert = "admin") const;
  std::unique_ptr<scalefs::chunk::Chunk::Stub> ChunkStub(int pair, int member,
                                                         const std::string& cert = "client") const;
  std::shared_ptr<grpc::ChannelCredentials> Credentials(const std::string& cert) const;

  std::string tls_dir() const { return dir_ + "/tls"; }
  // `scalefs ca issue ROLE NAME extra...` into tls_dir().
  Status Issue(const std::string& role, const std::string& name,
               const std::vector<std::string>& extra = {});
  // The flags that make a program use certificate `name` of tls_dir()
  // (or --insecure).
  std::vector<std::string> TlsFlags(const std::string& name) const;

 private:
  Status StartProcess(const std::string& name, const std::vector<std::string>& argv);
  std::vector<std::string> DaemonArgv(const std::string& name);
  // --log_dir, --log_name and --metrics_listen of a process started by name.
  std::vector<std::string> CommonFlags(const std::string& name);
  // "see <log> and <stderr>" of a process started by name.
  std::string SeeLogs(const std::string& name) const;
  uint64_t DeviceSize(int pair) const;
  Status MakeCertificates();
  Status WaitMounted(const std::string& dir, const std::string& client_name);

  ClusterOptions options_;
  std::string dir_, mnt_, meta_addr_;
  std::vector<int> member_ports_;
  std::map<std::string, Spawned> pids_;  // by name; pid -1 once waited for
  std::map<std::string, int> metrics_ports_;
  std::set<std::string> mounts_;  // mounted by MountAt and not unmounted yet
};

// Runs a command line through /bin/sh; returns the exit status, output in *out.
int RunShell(const std::string& command, std::string* out = nullptr);
// Free TCP port on 127.0.0.1.
int FreePort();
bool IsMounted(const std::string& dir);

}  // namespace scalefs::test
