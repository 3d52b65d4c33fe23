// Critical sections on the shared files. Every process changes them, each
// only while it holds the file's cluster-wide lock (flock or fcntl), so the
// holder knows exactly what the file holds: what the last holder left, as
// recorded in TortureShared before it let go. Taking the lock must show it
// (scalefs drops a client's cached pages and attributes of a file when it
// takes a lock on it, and writes back what was written under a lock before
// releasing it), and no two processes may be inside at once.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "fsd/torture_worker.h"

namespace scalefs::torture {

namespace {
// The file's last changes, oldest first, each with the process that made
// it: who left what a holder found wrong.
std::string SharedChanges(const SharedFileState& state) {
  std::string out = "  its last changes (version: process, operation, UTC):";
  for (uint64_t v = state.version > kSharedChangesKept ? state.version - kSharedChangesKept + 1 : 1;
       v <= state.version; ++v) {
    const SharedChange& c = state.changes[v % kSharedChangesKept];
    if (c.version != v) continue;
    const time_t secs = static_cast<time_t>(c.wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char when[32];
    strftime(when, sizeof when, "%H:%M:%S", &tm);
    char line[200];
    snprintf(line, sizeof line, "\n    %llu: process %d #%llu %s.%03lld %s",
             static_cast<unsigned long long>(v), c.proc, static_cast<unsigned long long>(c.op),
             when, static_cast<long long>(c.wall_ms % 1000), c.what);
    out += line;
  }
  return out;
}
}  // namespace

namespace {
void OnAlarm(int) {}  // only interrupts a lock wait (EINTR)

// Takes (`lock`) or drops the lock of shared file `index` on `fd`; `wait`
// false tries once. The errno, 0 on success.
int LockShared(int index, int fd, bool lock, bool wait) {
  if (index % 2 == 0) {
    const int op = (lock ? LOCK_EX : LOCK_UN) | (wait ? 0 : LOCK_NB);
    return flock(fd, op) == 0 ? 0 : errno;
  }
  struct flock fl {};
  fl.l_type = lock ? F_WRLCK : F_UNLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;  // the whole file
  return fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl) == 0 ? 0 : errno;
}

int ReadAll(int fd, std::string* out) {
  out->clear();
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = pread(fd, buf, sizeof buf, static_cast<off_t>(out->size()));
    if (r < 0) return errno;
    if (r == 0) return 0;
    out->append(buf, static_cast<size_t>(r));
  }
}
}  // namespace

Status TortureWorker::OpLockedSection() {
  const int index = static_cast<int>(R(kSharedFiles));
  SharedFileState& state = shared_->files[index];
  const std::string path = SharedFilePath(views_[0], run_, index);
  const char* kind = index % 2 == 0 ? "flock" : "fcntl F_SETLKW";
  // What the section does, drawn before it starts so that the choices do
  // not depend on what the other processes did.
  const uint64_t change = R(4);
  const uint64_t at = R(kSharedFileMax), len = 1 + R(32 << 10), cut = R(kSharedFileMax);
  const std::string bytes = RandomBytes(len);
  const bool sync = R(3) == 0, unlock_by_close = R(3) == 0;
  history_.Begin(ops_, std::string("locked section (") + kind + ") on shared/s" +
                           std::to_string(index));
  const int fd = open(path.c_str(), O_RDWR);
  if (fd < 0) return ExpectErrno("shared-open", "open of " + path, 0, errno);
  int err = LockShared(index, fd, true, false);
  if (err == EAGAIN || err == EWOULDBLOCK) {
    shared_->procs[proc_].lock_waits.fetch_add(1, std::memory_order_relaxed);
    // A blocking wait, interrupted by SIGALRM if it takes too long: scalefs
    // ends a lock wait with EINTR on a signal.
    struct sigaction sa {};
    sa.sa_handler = OnAlarm;  // no SA_RESTART
    sigaction(SIGALRM, &sa, nullptr);
    alarm(kLockWaitSeconds);
    err = LockShared(index, fd, true, true);
    alarm(0);
    if (err == EINTR) {
      close(fd);
      const int32_t inside = state.holder.load();
      return Fail("lock-wait",
                  std::string(kind) + " of shared/s" + std::to_string(index) + " not granted in " +
                      std::to_string(kLockWaitSeconds) + " s; " +
                      (inside != 0 ? "process " + std::to_string(inside - 1) + " is inside"
                                   : "no process is inside; the last one out was process " +
                                         std::to_string(state.last_holder - 1) +
                                         " at its operation #" + std::to_string(state.last_op) +
                                         (state.last_by_close ? ", released by close"
                                                              : ", released by unlock") +
                                         ": the lock was not dropped"));
    }
  }
  if (err != 0) {
    close(fd);
    return ExpectErrno("lock", std::string(kind) + " of " + path, 0, err);
  }
  int32_t nobody = 0;
  if (!state.holder.compare_exchange_strong(nobody, proc_ + 1)) {
    close(fd);
    return Fail("lock-exclusive", std::string(kind) + " of shared/s" + std::to_string(index) +
                                      " granted while process " + std::to_string(nobody - 1) +
                                      " holds it");
  }
  auto leave = [&](const Status& s) {
    state.holder.store(0);
    close(fd);
    return s;
  };
  // Exact: the last holder's version.
  struct stat st;
  if (fstat(fd, &st) != 0) return leave(Fail("fstat", path + ": " + strerror(errno)));
  std::string got;
  if ((err = ReadAll(fd, &got)) != 0) return leave(ExpectErrno("shared-read", "read", 0, err));
  const std::string want(state.data, state.size);
  std::string diff = DescribeDifference(want, got);
  if (!diff.empty()) {
    return leave(Fail("locked-content", "shared/s" + std::to_string(index) + " under " + kind +
                                            " (version " + std::to_string(state.version) +
                                            "): " + diff + "\n" + SharedChanges(state)));
  }
  if (static_cast<uint64_t>(st.st_size) != state.size) {
    return leave(Fail("locked-size", "shared/s" + std::to_string(index) + " under " + kind +
                                         ": size " + std::to_string(st.st_size) +
                                         ", the last holder left " + std::to_string(state.size)));
  }
  // Change it, unless the fill fault is filling the file system: every byte
  // of a shared file must stay known to all, to its last close.
  shared_->sections_writing.fetch_add(1);
  const bool frozen = shared_->full.load() != 0;
  if (frozen) shared_->sections_writing.fetch_sub(1);
  struct Writing {
    std::atomic<int32_t>* n;
    bool on;
    ~Writing() {
      if (on) n->fetch_sub(1);
    }
  } writing{&shared_->sections_writing, !frozen};
  std::string what;
  if (frozen) {
    what = "no change (the file system is being filled)";
  } else if (change == 0) {  // truncate
    err = ftruncate(fd, static_cast<off_t>(cut)) == 0 ? 0 : errno;
    what = "ftruncate to " + std::to_string(cut);
    if (err == 0) {
      if (cut < state.size) memset(state.data + cut, 0, state.size - cut);
      state.size = static_cast<uint32_t>(cut);
    }
  } else {  // write somewhere or append
    const uint64_t off = change == 1 ? state.size : at;
    const uint64_t n = std::min<uint64_t>(len, kSharedFileMax - std::min<uint64_t>(off, kSharedFileMax));
    what = "write [" + std::to_string(off) + ",+" + std::to_string(n) + ")";
    if (n > 0) {
      err = pwrite(fd, bytes.data(), n, static_cast<off_t>(off)) == static_cast<ssize_t>(n)
                ? 0
                : (errno != 0 ? errno : EIO);
      if (err == 0) {
        memcpy(state.data + off, bytes.data(), n);
        state.size = static_cast<uint32_t>(std::max<uint64_t>(state.size, off + n));
      }
    }
  }
  if (err == 0 && sync) err = fsync(fd) == 0 ? 0 : errno;
  if (!frozen) {
    state.version++;
    SharedChange& c = state.changes[state.version % kSharedChangesKept];
    c.version = state.version;
    c.proc = proc_;
    c.op = ops_;
    c.wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
    snprintf(c.what, sizeof c.what, "%s%s%s (size %u)", what.c_str(), sync ? ", fsync" : "",
             unlock_by_close ? ", close" : ", unlock, close", state.size);
  }
  history_.End(what + (sync ? ", fsync" : "") + (unlock_by_close ? ", close" : ", unlock, close"));
  if (err != 0) return leave(ExpectErrno("shared-write", what, 0, err));
  shared_->procs[proc_].locked_sections.fetch_add(1, std::memory_order_relaxed);
  // Out before the lock goes: the next holder may be in at once.
  state.last_holder = proc_ + 1;
  state.last_op = ops_;
  state.last_by_close = unlock_by_close;
  state.holder.store(0);
  if (!unlock_by_close) {
    if ((err = LockShared(index, fd, false, true)) != 0) {
      close(fd);
      return ExpectErrno("unlock", std::string(kind) + " unlock", 0, err);
    }
  }
  // A close drops the process's POSIX locks and, the last one, its flock.
  if (close(fd) != 0) return ExpectErrno("shared-close", "close", 0, errno);
  return Status::OK();
}

}  // namespace scalefs::torture
