#include "fsd/torture_command.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <new>
#include <random>
#include <thread>

#include "common/rpc_security.h"
#include "fsd/admin_commands.h"
#include "fsd/session_commands.h"
#include "fsd/torture_faults.h"
#include "fsd/torture_options.h"
#include "fsd/torture_worker.h"

namespace scalefs {

namespace torture {
namespace {

struct Child {
  pid_t pid = -1;
  int report_fd = -1;
};

int RemoveEntry(const char* path, const struct stat*, int type, FTW*) {
  const int r = type == FTW_DP ? rmdir(path) : unlink(path);
  if (r != 0) fprintf(stderr, "torture: removing %s: %s\n", path, strerror(errno));
  return r;
}

std::string ReadAllFrom(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// Makes the run's folder through the first mount and waits until every
// other mount shows it: they must be mounts of one cluster.
Status PrepareRun(const TortureOptions& o, const std::string& run) {
  for (const std::string& m : o.mounts) {
    struct stat st;
    if (stat(m.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Status::Invalid(m + " is not a directory (a scalefs mount)");
    }
  }
  const std::string top = o.mounts[0] + "/" + run;
  auto make = [](const std::string& dir) {
    return mkdir(dir.c_str(), 0755) == 0 ? Status::OK() : Status::FromErrno(errno, "mkdir " + dir);
  };
  if (Status s = make(top); !s.ok()) return s;
  if (Status s = make(top + "/shared"); !s.ok()) return s;
  for (int k = 0; k < o.procs; ++k) {
    if (Status s = make(top + "/p" + std::to_string(k)); !s.ok()) return s;
  }
  for (int i = 0; i < kSharedFiles; ++i) {
    const std::string f = SharedFilePath(o.mounts[0], run, i);
    const int fd = open(f.c_str(), O_CREAT | O_EXCL | O_RDWR, 0644);
    if (fd < 0) return Status::FromErrno(errno, "create " + f);
    close(fd);
  }
  for (size_t j = 1; j < o.mounts.size(); ++j) {
    const std::string there = o.mounts[j] + "/" + run + "/shared/s" + std::to_string(kSharedFiles - 1);
    struct stat st;
    const double until = MonotonicSeconds() + o.attr_timeout + 5;
    while (stat(there.c_str(), &st) != 0) {
      if (MonotonicSeconds() > until) {
        return Status::NotFound(o.mounts[j] + " does not show " + run + ", made through " +
                                o.mounts[0] + ": not a mount of the same cluster?");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return Status::OK();
}

// The shared files after every process finished: each mount must show what
// the last holder of its lock left (close-to-open).
std::string CheckSharedFiles(const TortureOptions& o, const std::string& run,
                             const TortureShared& shared) {
  std::this_thread::sleep_for(std::chrono::duration<double>(o.attr_timeout + 0.1));
  for (const std::string& m : o.mounts) {
    for (int i = 0; i < kSharedFiles; ++i) {
      const SharedFileState& state = shared.files[i];
      const std::string path = SharedFilePath(m, run, i);
      const int fd = open(path.c_str(), O_RDONLY);
      if (fd < 0) return "open " + path + ": " + ErrnoName(errno);
      std::string got;
      char buf[1 << 16];
      ssize_t n;
      while ((n = pread(fd, buf, sizeof buf, static_cast<off_t>(got.size()))) > 0) {
        got.append(buf, static_cast<size_t>(n));
      }
      const int err = n < 0 ? errno : 0;
      close(fd);
      if (err != 0) return "read " + path + ": " + ErrnoName(err);
      const std::string diff = DescribeDifference(std::string(state.data, state.size), got);
      if (!diff.empty()) {
        return path + " after " + std::to_string(state.version) + " locked changes: " + diff;
      }
    }
  }
  return "";
}

}  // namespace
}  // namespace torture

int RunTorture(const std::vector<std::string>& args, const std::string& meta_flag) {
  using namespace torture;
  auto parsed = ParseTortureArgs(args);
  if (!parsed.ok()) {
    std::cerr << "scalefs torture: " << parsed.status().message() << "\n" << kTortureUsage << kFaultsUsage;
    return 2;
  }
  TortureOptions o = *parsed;
  // verify and fsck at the end call meta as the admin: find out now.
  if (Status s = InitRpcSecurityFromFlags("scalefs", "admin"); !s.ok()) {
    std::cerr << "scalefs torture: " << s.message() << "\n";
    return 2;
  }
  if (!o.seed_given) o.seed = std::random_device()() % 1000000000;
  const std::string run = "torture-" + std::to_string(o.seed) + "-" + std::to_string(getpid());
  std::unique_ptr<FaultInjector> faults;
  if (!o.faults.empty()) {
    std::string dir = o.cluster;
    if (dir.empty()) dir = getenv("SCALEFS_STATE") != nullptr ? getenv("SCALEFS_STATE") : "/var/lib/scalefs";
    faults = std::make_unique<FaultInjector>(*ParseFaultPlan(o.faults), dir, meta_flag, o.seed,
                                             o.mounts[0] + "/" + run + "-ballast", o.mounts);
    if (Status s = faults->Check(); !s.ok()) {
      std::cerr << "scalefs torture: " << s.message() << "\n";
      return 2;
    }
  }
  printf("torture: seed %llu, %d processes on %zu mounts for %d s; folder %s\n  (%s)\n",
         static_cast<unsigned long long>(o.seed), o.procs, o.mounts.size(), o.seconds,
         run.c_str(), TortureCommand(o).c_str());
  fflush(stdout);
  if (Status s = PrepareRun(o, run); !s.ok()) {
    std::cerr << "scalefs torture: " << s.ToString() << "\n";
    return s.code() == Status::Code::kInvalid ? 2 : 1;
  }

  void* mem = mmap(nullptr, sizeof(TortureShared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    perror("scalefs torture: mmap");
    return 1;
  }
  // Anonymous memory is zeros: no one holds a lock, every shared file is empty.
  TortureShared* shared = new (mem) TortureShared;

  const double start = MonotonicSeconds();
  std::vector<Child> children(o.procs);
  for (int k = 0; k < o.procs; ++k) {
    int fds[2];
    if (pipe(fds) != 0) {
      perror("scalefs torture: pipe");
      return 1;
    }
    const pid_t pid = fork();
    if (pid < 0) {
      perror("scalefs torture: fork");
      return 1;
    }
    if (pid == 0) {
      close(fds[0]);
      std::string report;
      {
        TortureWorker worker(o, k, run, shared);
        report = worker.Run();
      }
      for (size_t put = 0; put < report.size();) {
        const ssize_t n = write(fds[1], report.data() + put, report.size() - put);
        if (n <= 0) break;
        put += static_cast<size_t>(n);
      }
      _exit(report.empty() ? 0 : 1);
    }
    close(fds[1]);
    children[k] = {pid, fds[0]};
  }

  if (faults) {
    faults->set_shared(shared);
    faults->Start(o.seconds);
  }

  // Wait, with progress; a process that runs far past its time is hung.
  const double hung_after = start + o.seconds + 120 + 4 * o.attr_timeout;
  std::vector<std::string> failures;
  std::vector<bool> done(o.procs, false);
  int left = o.procs;
  double next_progress = start + 10;
  while (left > 0) {
    int status = 0;
    // Our own children only: the fault injector's commands (system) are
    // children of this process too, and must be left to it.
    pid_t pid = 0;
    for (int k = 0; k < o.procs && pid <= 0; ++k) {
      if (!done[k]) pid = waitpid(children[k].pid, &status, WNOHANG);
    }
    if (pid > 0) {
      for (int k = 0; k < o.procs; ++k) {
        if (children[k].pid != pid) continue;
        done[k] = true;
        --left;
        const std::string report = ReadAllFrom(children[k].report_fd);
        close(children[k].report_fd);
        if (!report.empty()) {
          failures.push_back(report);
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
          failures.push_back("torture: FAILED: process " + std::to_string(k) + " ended with " +
                             (WIFSIGNALED(status) ? std::string("signal ") + strsignal(WTERMSIG(status))
                                                  : "status " + std::to_string(WEXITSTATUS(status))) +
                             " (seed " + std::to_string(o.seed) + ")\n");
          shared->stop.store(1);
        }
      }
      continue;
    }
    const double now = MonotonicSeconds();
    if (now > hung_after) {
      // Who holds and waits for which lock, before anything is killed.
      printf("torture: processes hung; scalefs locks:\n");
      fflush(stdout);
      RunLocks({}, meta_flag);
      fflush(stdout);
      for (int k = 0; k < o.procs; ++k) {
        if (done[k]) continue;
        failures.push_back("torture: FAILED check 'hang': process " + std::to_string(k) +
                           " still running " + std::to_string(static_cast<int>(now - start)) +
                           " s after a " + std::to_string(o.seconds) + " s run, after " +
                           std::to_string(shared->procs[k].ops.load()) + " operations (seed " +
                           std::to_string(o.seed) + "), in " +
                           std::string(shared->procs[k].current,
                                       strnlen(shared->procs[k].current,
                                               sizeof shared->procs[k].current)) +
                           "; killed\n");
        kill(children[k].pid, SIGKILL);
      }
      shared->stop.store(1);
      for (int k = 0; k < o.procs; ++k) {
        if (!done[k]) waitpid(children[k].pid, nullptr, 0);
      }
      break;
    }
    if (now >= next_progress) {
      uint64_t ops = 0;
      for (int k = 0; k < o.procs; ++k) ops += shared->procs[k].ops.load();
      printf("torture: %3.0f s, %llu operations\n", now - start,
             static_cast<unsigned long long>(ops));
      fflush(stdout);
      next_progress += 10;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double elapsed = MonotonicSeconds() - start;
  if (faults) {
    // The fault in progress is undone and the cluster healthy before the
    // final checks.
    faults->Stop();
    printf("%s", faults->Report().c_str());
    for (const std::string& f : faults->Failures()) failures.push_back(f);
  }

  if (failures.empty()) {
    const std::string shared_check = CheckSharedFiles(o, run, *shared);
    if (!shared_check.empty()) {
      failures.push_back("torture: FAILED check 'final-shared-content' (seed " +
                         std::to_string(o.seed) + "): " + shared_check +
                         "\nreproduce the whole run: " + TortureCommand(o) + "\n");
    }
  }

  uint64_t ops = 0, sections = 0, cross = 0, waits = 0;
  for (int k = 0; k < o.procs; ++k) {
    const ProcStats& p = shared->procs[k];
    ops += p.ops.load();
    sections += p.locked_sections.load();
    cross += p.cross_mount_checks.load();
    waits += p.lock_waits.load();
  }
  printf("torture: %llu operations in %.1f s (%.0f ops/s) by %d processes on %zu mounts: "
         "%llu locked sections (%llu waited for the lock), %llu files and listings compared "
         "through another mount\n",
         static_cast<unsigned long long>(ops), elapsed, ops / std::max(elapsed, 0.001), o.procs,
         o.mounts.size(), static_cast<unsigned long long>(sections),
         static_cast<unsigned long long>(waits), static_cast<unsigned long long>(cross));
  uint64_t enospc = 0;
  for (int k = 0; k < o.procs; ++k) enospc += shared->procs[k].enospc.load();
  if (shared->full_phases.load() != 0) {
    printf("torture: %llu ENOSPC answers while the file system was full (%llu fills); each "
           "file's names unlinked after it\n",
           static_cast<unsigned long long>(enospc),
           static_cast<unsigned long long>(shared->full_phases.load()));
  }
  for (const std::string& f : failures) printf("\n%s", f.c_str());
  fflush(stdout);

  if (failures.empty()) {
    // What is left is for fsck to account for: nothing of ours.
    const std::string top = o.mounts[0] + "/" + run;
    if (nftw(top.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
      failures.push_back("torture: FAILED check 'cleanup': could not remove " + top + "\n");
      printf("%s", failures.back().c_str());
    }
  } else {
    printf("\nthe run's files stay in %s/%s for a look\n", o.mounts[0].c_str(), run.c_str());
  }
  fflush(stdout);
  munmap(mem, sizeof(TortureShared));

  printf("\ntorture: scalefs verify\n");
  fflush(stdout);
  const int verify = RunVerify({}, meta_flag);
  fflush(stdout);
  printf("torture: scalefs fsck\n");
  fflush(stdout);
  const int fsck = RunFsck({}, meta_flag);
  fflush(stdout);
  if (verify != 0) failures.push_back("verify");
  if (fsck != 0) failures.push_back("fsck");
  if (failures.empty()) {
    printf("torture: clean (seed %llu): %llu operations, verify and fsck clean\n",
           static_cast<unsigned long long>(o.seed), static_cast<unsigned long long>(ops));
    return 0;
  }
  printf("torture: FAILED (seed %llu): %zu problems%s%s; see above\n",
         static_cast<unsigned long long>(o.seed), failures.size(),
         verify != 0 ? ", verify not clean" : "", fsck != 0 ? ", fsck not clean" : "");
  return 1;
}

}  // namespace scalefs
