#include "fsd/admin_commands.h"
#include "common/layout.h"
#include "common/rpc_channel.h"

#include <fcntl.h>
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <ctime>
#include <iostream>
#include <thread>

#include "common/cluster_config.h"
#include "common/log_files.h"
#include "common/metrics.h"
#include "common/version.h"
#include "common/layout.h"
#include "fsd/client_metrics.h"
#include "fsd/client_session.h"
#include "fsd/fuse_ops.h"
#include "fsd/meta_client.h"
#include "fsd/mount_options.h"
#include "fsd/pair_client.h"
#include "fsd/pair_status.h"
#include "fsd/rebalance_command.h"
#include "fsd/session_commands.h"

DECLARE_int32(meta_timeout_ms);

DEFINE_int32(max_idle_threads, 16, "idle FUSE worker threads kept by a mount");
DEFINE_int32(max_threads, 64, "FUSE worker threads of a mount at most");
// 8 MiB: eight 1 MiB reads in flight keep both members' disks and the
// transfers busy (cold sequential read 917-1028 -> 1041-1137 MB/s, dev
// cluster, alternated); random reads no longer pay for it since small reads
// fetch only their aligned block (39.7k IOPS at 2 and at 8 MiB).
DEFINE_int32(readahead_kb, 8192,
             "kernel readahead of a mount (its bdi's read_ahead_kb; needs root), 0 = leave");
DEFINE_int32(read_block_kb, 64,
             "a small read that misses the page cache fetches this much around it, aligned, "
             "and the kernel caches the rest (random readers find neighbours cached); 0 = off");
DEFINE_string(prefer_member, "auto",
              "member a mount sends each write and read to first: a, b, or auto (the member "
              "that sequences the region); the other one stays the failover");

extern char** environ;

namespace scalefs {

const char kUsage[] =
    "usage: scalefs [--meta ADDR] COMMAND [ARGS]\n"
    "  mount META MOUNTPOINT [-o opts] [-f]   mount (META '-' = default address); umount DIR\n"
    "      opts: allow_other, attr_timeout=S, entry_timeout=S, ro, nosuid, nodev, ...\n"
    "  pair add NAME ADDR_A ADDR_B | list | drain NAME | remove NAME  register, list, empty, drop\n"
    "  status [--watch [S]] [--json]          pairs, clients; exit 0 healthy, 1 degraded, 2 no meta\n"
    "  verify [PAIR] [--repair] [--range-mib N] | scrub [PAIR] [--rate N]  compare members\n"
    "  fsck | locks [PATH...]                  check meta's consistency | locks held, by client\n"
    "  rebalance [--rate N] [--dry-run] [--stop]  move extents to even out pairs (rebalance --help)\n"
    "  layout get PATH | layout set DIR ... | fileinfo PATH...  layouts, a file's extents\n"
    "  torture MOUNT... [--seconds N] [--seed S] [--files N] [--procs N]  checked random workload\n"
    "  ca init | ca issue ROLE NAME | ca show  CA and certificates (see scalefs ca); version\n"
    "Meta: --meta, else $SCALEFS_META, else the local cluster's; certificate: --cert, else the\n"
    "local cluster's tls/admin.crt (a mount's tls/client.crt). mount.scalefs META DIR [-o opts]\n";

namespace {
int Usage(const char* what) {
  std::cerr << what << kUsage;
  return 2;
}

// Raises the readahead of the mount at `path` (canonical) by its bdi, found
// in mountinfo without touching the mount itself (it is not served yet).
// The kernel then keeps min(this, max_readahead of FUSE init).
void SetReadahead(const std::string& path, int kb) {
  if (kb <= 0 || path.empty()) return;
  std::FILE* f = std::fopen("/proc/self/mountinfo", "r");
  if (f == nullptr) return;
  char line[4096];
  std::string dev;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned id, parent, major, minor;
    char root[2048], mnt[2048];
    if (std::sscanf(line, "%u %u %u:%u %2047s %2047s", &id, &parent, &major, &minor, root,
                    mnt) == 6 &&
        path == mnt) {
      dev = std::to_string(major) + ":" + std::to_string(minor);
    }
  }
  std::fclose(f);
  if (dev.empty()) return;
  const std::string sys = "/sys/class/bdi/" + dev + "/read_ahead_kb";
  if (std::FILE* w = std::fopen(sys.c_str(), "w")) {
    std::fprintf(w, "%d\n", kb);
    if (std::fclose(w) == 0) {
      LOG(INFO) << "readahead " << kb << " KiB (" << sys << ")";
      return;
    }
  }
  VLOG(1) << "cannot set " << sys;
}

// True when `path` (canonical) is the mount point of a mounted filesystem.
bool IsMountPoint(const std::string& path) {
  FILE* f = fopen("/proc/self/mountinfo", "r");
  if (f == nullptr) return false;
  char line[4096];
  bool found = false;
  while (!found && fgets(line, sizeof(line), f) != nullptr) {
    // "ID PARENT MAJ:MIN ROOT MOUNT_POINT ...", spaces in it escaped as \040.
    char point[PATH_MAX];
    if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1) continue;
    std::string p;
    for (const char* c = point; *c != '\0'; ++c) {
      if (c[0] == '\\' && c[1] && c[2] && c[3]) {
        const std::string octal(c + 1, 3);
        p.push_back(static_cast<char>(strtol(octal.c_str(), nullptr, 8)));
        c += 3;
      } else {
        p.push_back(*c);
      }
    }
    found = p == path;
  }
  fclose(f);
  return found;
}

// The name of a mount's log files: after its mount point, as systemd names
// units (/mnt/scalefs -> mount-mnt-scalefs), so every mount of a host has
// its own in the log folder (common/log_files.h).
std::string MountLogName(const std::string& mountpoint) {
  std::string name;
  for (char c : mountpoint) name += c == '/' ? '-' : c;
  while (!name.empty() && name[0] == '-') name.erase(0, 1);
  return "mount-" + (name.empty() ? "root" : name);
}

// libfuse's own messages (a failed mount, a bad option) go to the log with
// ours, not to the stderr a background mount no longer has.
void FuseLogToGlog(enum fuse_log_level level, const char* fmt, va_list ap) {
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::string text(buf);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  if (level <= FUSE_LOG_ERR) {
    LOG(ERROR) << "libfuse: " << text;
  } else if (level == FUSE_LOG_WARNING) {
    LOG(WARNING) << "libfuse: " << text;
  } else if (level <= FUSE_LOG_INFO) {
    LOG(INFO) << "libfuse: " << text;
  } else {
    VLOG(1) << "libfuse: " << text;
  }
}

// Writes one byte (0 = mounted) to the parent waiting in RunMount.
void TellParent(int fd, char status) {
  if (fd < 0) return;
  ssize_t n = write(fd, &status, 1);
  (void)n;
  close(fd);
}

int Mount(MountOptions opts, int report_fd) {
  if (FLAGS_read_block_kb < 0 || FLAGS_read_block_kb % 4 != 0 ||
      uint64_t(FLAGS_read_block_kb) << 10 > kMaxIoSize) {
    std::cerr << "scalefs mount: --read_block_kb must be a multiple of 4 from 0 to "
              << (kMaxIoSize >> 10) << "\n";
    return 2;
  }
  const std::string meta_addr = ResolveMetaAddress(opts.meta == "-" ? "" : opts.meta);
  MetaClient meta(meta_addr);
  Status s = meta.Ping(std::min(FLAGS_meta_timeout_ms, 5000));
  if (!s.ok()) {
    std::cerr << "scalefs mount: cannot reach meta at " << meta_addr << ": " << s.ToString()
              << "\n";
    return 1;
  }
  if (opts.fake) return 0;
  int prefer = -1;
  if (!ParsePreferMember(FLAGS_prefer_member, &prefer).ok()) return 2;
  // Before the session and the mount: a metrics port in use is a usage
  // error that leaves nothing behind.
  Metrics metrics;
  s = metrics.ServeFlag();
  if (!s.ok()) {
    std::cerr << "scalefs mount: " << s.message() << "\n";
    return 2;
  }
  ClientMetrics client_metrics(&metrics);
  meta.set_metrics(&client_metrics);
  // The session comes first: every mutating call of the mount is numbered
  // with it, and meta keeps what the mount holds open for it.
  meta::SessionInfo info;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  info.set_host(host);
  info.set_mount_point(opts.mountpoint);
  info.set_pid(static_cast<uint32_t>(getpid()));
  info.set_version(kScalefsVersion);
  ClientSession session(&meta, info);
  s = session.Open();
  if (!s.ok()) {
    std::cerr << "scalefs mount: cannot open a session at meta " << meta_addr << ": "
              << s.ToString() << "\n";
    return 1;
  }
  // A read-only certificate mounts read-only: the kernel refuses writes at
  // once (EROFS) instead of meta refusing each one later.
  if (session.read_only() &&
      std::find(opts.fuse_options.begin(), opts.fuse_options.end(), "ro") == opts.fuse_options.end()) {
    opts.fuse_options.push_back("ro");
  }
  ChunkPool pool(&meta, prefer, &client_metrics);
  ScalefsFuse fs(&meta, &pool, FuseTimeouts{opts.attr_timeout, opts.entry_timeout},
                 uint64_t(FLAGS_read_block_kb) << 10);
  fs.set_metrics(&client_metrics);
  const ScrapeHook depths = client_metrics.ShowDepths([&fs, &pool] {
    return ClientMetrics::Depths{fs.files().QueuedReleases(), pool.QueuedSmallWrites(),
                                 fs.files().OpenInodes().size()};
  });
  session.Start(
      [&fs] {
        return ClientSession::Holdings{fs.files().OpenInodes(), fs.locks().Held()};
      },
      [&fs](const meta::SessionEvent& e) {
        if (e.kind() == meta::SessionEvent::LOCK_GRANTED) fs.locks().Granted(e.lock());
      });

  const std::string fuse_opts = FuseOptionString(opts, meta_addr);
  std::vector<std::string> argv_s = {"scalefs", "-o", fuse_opts};
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse_session* se = fuse_session_new(&args, &ScalefsFuse::Ops(), sizeof(fuse_lowlevel_ops), &fs);
  fs.set_session(se);
  if (se == nullptr) {
    std::cerr << "scalefs mount: cannot create the FUSE session (options " << fuse_opts << ")\n";
    return 1;
  }
  int rc = 1;
  if (fuse_set_signal_handlers(se) != 0) {
    std::cerr << "scalefs mount: cannot install signal handlers\n";
  } else {
    char real[PATH_MAX];
    const std::string canonical =
        realpath(opts.mountpoint.c_str(), real) != nullptr ? std::string(real) : std::string();
    if (fuse_session_mount(se, opts.mountpoint.c_str()) != 0) {
      std::cerr << "scalefs mount: cannot mount on " << opts.mountpoint << "\n";
    } else {
      SetReadahead(canonical, FLAGS_readahead_kb);
      // Logged before the parent hears of the mount, so whoever waits for it finds the line.
      LOG(INFO) << "mounted " << meta_addr << " on " << (canonical.empty() ? opts.mountpoint : canonical);
      if (report_fd >= 0) {
        // Detach like fuse_daemonize, now that the mount exists.
        TellParent(report_fd, 0);
        setsid();
        if (chdir("/") != 0) PLOG(WARNING) << "chdir /";
        // The log is in files (RunMount): nothing is left for a terminal.
        int null_fd = open("/dev/null", O_RDWR);
        dup2(null_fd, 0);
        dup2(null_fd, 1);
        dup2(null_fd, 2);
        if (null_fd > 2) close(null_fd);
      }
      fuse_loop_config* cfg = fuse_loop_cfg_create();
      fuse_loop_cfg_set_idle_threads(cfg, FLAGS_max_idle_threads);
      fuse_loop_cfg_set_max_threads(cfg, FLAGS_max_threads);
      rc = fuse_session_loop_mt(se, cfg) == 0 ? 0 : 1;
      fuse_loop_cfg_destroy(cfg);
      fuse_session_unmount(se);
      LOG(INFO) << "unmounted " << opts.mountpoint;
      // Closes reach meta before the session ends with everything it held.
      fs.files().FlushReleases();
      session.Close();
    }
    fuse_remove_signal_handlers(se);
  }
  fuse_session_destroy(se);
  fuse_opt_free_args(&args);
  return rc;
}

void PrintPairs(const std::vector<meta::Pair>& pairs) {
  printf("%-4s %-12s %-45s %10s %10s %10s\n", "ID", "NAME", "MEMBERS", "CAPACITY", "FREE",
         "GENERATION");
  for (const meta::Pair& p : pairs) {
    const std::string members = p.address_a() + "," + p.address_b();
    printf("%-4u %-12s %-45s %10s %10s %10llu%s\n", p.id(), p.name().c_str(), members.c_str(),
           HumanBytes(p.capacity()).c_str(), HumanBytes(p.free()).c_str(),
           static_cast<unsigned long long>(p.generation()), p.draining() ? "  draining" : "");
  }
}
}  // namespace

std::unique_ptr<MetaClient> ConnectMeta(const std::string& meta_flag, const std::string& command,
                                        int timeout_ms) {
  const std::string addr = ResolveMetaAddress(meta_flag);
  auto meta = std::make_unique<MetaClient>(addr, timeout_ms);
  Status s = meta->Ping(kAdminPingMs);
  if (!s.ok()) {
    std::cerr << "scalefs " << command << ": meta at " << addr << " does not answer ("
              << s.message() << "); is scalefs-meta running there? (--meta or $SCALEFS_META "
              << "name another)\n";
    return nullptr;
  }
  return meta;
}

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "K", "M", "G", "T", "P", "E"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    snprintf(buf, sizeof(buf), "%lluB", static_cast<unsigned long long>(bytes));
  } else {
    snprintf(buf, sizeof(buf), "%.1f%s", v, kUnits[u]);
  }
  return buf;
}

int RunMount(const std::vector<std::string>& args, bool helper, const std::string& meta_flag) {
  MountOptions opts;
  Status s = ParseMountArgs(args, helper, &opts);
  if (!s.ok()) return Usage((s.message() + "\n").c_str());
  if (opts.meta == "-" && !meta_flag.empty()) opts.meta = meta_flag;
  char real[PATH_MAX];
  if (realpath(opts.mountpoint.c_str(), real) == nullptr) {
    std::cerr << "scalefs mount: " << opts.mountpoint << ": " << strerror(errno) << "\n";
    return 1;
  }
  opts.mountpoint = real;
  // A second mount on top would hide the first and its open files.
  if (IsMountPoint(opts.mountpoint)) {
    std::cerr << "scalefs mount: " << opts.mountpoint
              << " is a mount point already; unmount it first (scalefs umount "
              << opts.mountpoint << ")\n";
    return 1;
  }
  int prefer = -1;
  s = ParsePreferMember(FLAGS_prefer_member, &prefer);
  if (!s.ok()) return Usage((s.message() + "\n").c_str());
  // A mount logs to files from here on (unless --logtostderr), whether it
  // stays in the foreground or not.
  auto logs = LogToFiles(MountLogName(opts.mountpoint));
  if (!logs.ok()) {
    std::cerr << "scalefs mount: " << logs.status().message() << "\n";
    return 2;
  }
  fuse_set_log_func(FuseLogToGlog);
  for (const std::string& o : opts.ignored) LOG(INFO) << "ignoring mount option " << o;
  if (opts.foreground || opts.fake) return Mount(opts, -1);

  // Daemonize before any gRPC object exists (gRPC does not survive fork);
  // the parent exits once the child reports the mount, with its status.
  int fds[2];
  if (pipe(fds) != 0) {
    perror("scalefs mount: pipe");
    return 1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("scalefs mount: fork");
    return 1;
  }
  if (pid == 0) {
    close(fds[0]);
    int rc = Mount(opts, fds[1]);
    _exit(rc);
  }
  close(fds[1]);
  char status = 1;
  if (read(fds[0], &status, 1) != 1) {
    // The child exited without mounting; its own exit status says why.
    int ws = 0;
    waitpid(pid, &ws, 0);
    return WIFEXITED(ws) && WEXITSTATUS(ws) != 0 ? WEXITSTATUS(ws) : 1;
  }
  return status == 0 ? 0 : 1;
}

int RunUmount(const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("umount takes MOUNTPOINT\n");
  std::vector<std::string> argv_s = {"fusermount3", "-u", args[0]};
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, "fusermount3", nullptr, nullptr, argv.data(), environ) != 0) {
    perror("scalefs umount: fusermount3");
    return 1;
  }
  int ws = 0;
  if (waitpid(pid, &ws, 0) < 0) return 1;
  return WIFEXITED(ws) ? WEXITSTATUS(ws) : 1;
}

int RunPair(const std::vector<std::string>& args, const std::string& meta_flag) {
  if (args.empty()) return Usage("pair needs add, list, drain or remove\n");
  if (args[0] == "drain") return RunPairDrain({args.begin() + 1, args.end()}, meta_flag);
  if (args[0] == "remove") return RunPairRemove({args.begin() + 1, args.end()}, meta_flag);
  if (args[0] == "add") {
    if (args.size() != 4) return Usage("pair add takes NAME ADDR_A ADDR_B\n");
    auto meta = ConnectMeta(meta_flag, "pair add");
    if (meta == nullptr) return 1;
    auto p = meta->PairAdd(args[1], args[2], args[3]);
    if (!p.ok()) {
      std::cerr << "scalefs pair add: " << p.status().ToString() << "\n";
      return 1;
    }
    printf("added pair %u %s (%s, %s), capacity %s\n", p->id(), p->name().c_str(),
           p->address_a().c_str(), p->address_b().c_str(), HumanBytes(p->capacity()).c_str());
    return 0;
  }
  if (args[0] == "list") {
    if (args.size() != 1) return Usage("pair list takes no arguments\n");
    auto meta = ConnectMeta(meta_flag, "pair list");
    if (meta == nullptr) return 1;
    auto pairs = meta->PairList();
    if (!pairs.ok()) {
      std::cerr << "scalefs pair list: " << pairs.status().ToString() << "\n";
      return 1;
    }
    PrintPairs(*pairs);
    return 0;
  }
  return Usage(("unknown pair command '" + args[0] + "'\n").c_str());
}

int RunFsck(const std::vector<std::string>& args, const std::string& meta_flag) {
  if (!args.empty()) return Usage("fsck takes no arguments\n");
  auto meta = ConnectMeta(meta_flag, "fsck");
  if (meta == nullptr) return 1;
  auto r = meta->Fsck();
  if (!r.ok()) {
    std::cerr << "scalefs fsck: " << r.status().ToString() << "\n";
    return 1;
  }
  for (const std::string& p : r->problems()) printf("problem: %s\n", p.c_str());
  printf("fsck: %d problems; %llu inodes, %llu entries, %llu extents, allocated %s, free %s\n",
         r->problems_size(), static_cast<unsigned long long>(r->inodes()),
         static_cast<unsigned long long>(r->entries()),
         static_cast<unsigned long long>(r->extents()), HumanBytes(r->allocated_bytes()).c_str(),
         HumanBytes(r->free_bytes()).c_str());
  return r->problems_size() == 0 ? 0 : 1;
}

}  // namespace scalefs
