// A process's subtree read back through a mount, its own or another of the
// cluster: what settled (older than the mounts' attribute and entry timeout,
// and for data closed or fsynced: close-to-open) must be exactly the model;
// at the end, after every descriptor is closed and the window has passed,
// everything is, on every mount.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "fsd/torture_worker.h"

namespace scalefs::torture {

namespace {
// The check's name: through our own mount or through another one.
std::string Named(int view, const char* what) {
  return std::string(view == 0 ? "" : "other-mount-") + what;
}

void SleepSeconds(double s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

// `attempt` again while it fails with ESTALE through another mount, a few
// times. Linux's dcache gives ESTALE when a lookup finds a directory that
// another client moved and the old parent's lock is busy (__d_unalias's
// trylock), as NFS clients see too: a race of the kernel, not an answer of
// scalefs, and gone on the next try.
template <typename Fn>
bool RetryStale(int view, Fn attempt) {
  for (int i = 0;; ++i) {
    if (attempt()) return true;
    if (view == 0 || errno != ESTALE || i == 10) return false;
    SleepSeconds(0.02);
  }
}
}  // namespace

Status TortureWorker::CheckListingThrough(int view, const std::string& dir) {
  const std::string abs = Abs(view, dir);
  DIR* d = nullptr;
  RetryStale(view, [&] { return (d = opendir(abs.c_str())) != nullptr; });
  if (d == nullptr) {
    return Fail(Named(view, "listing"), "opendir " + abs + ": " + ErrnoName(errno));
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  }
  const int err = errno;
  closedir(d);
  if (err != 0) return Fail(Named(view, "listing"), "readdir " + abs + ": " + ErrnoName(err));
  std::sort(names.begin(), names.end());
  const std::vector<std::string> want = model_.List(dir);
  if (names != want) {
    std::string got_s, want_s;
    for (const auto& n : names) got_s += " " + n;
    for (const auto& n : want) want_s += " " + n;
    return Fail(Named(view, "listing"),
                abs + " lists {" + got_s + " }, the model has {" + want_s + " }");
  }
  shared_->procs[proc_].cross_mount_checks.fetch_add(view != 0, std::memory_order_relaxed);
  return Status::OK();
}

Status TortureWorker::CheckFileThrough(int view, const std::string& path) {
  auto inode = model_.File(path);
  const std::string abs = Abs(view, path);
  int fd = -1;
  RetryStale(view, [&] { return (fd = open(abs.c_str(), O_RDONLY)) >= 0; });
  if (fd < 0) return Fail(Named(view, "open"), "open " + abs + ": " + ErrnoName(errno));
  struct stat st;
  std::string got;
  int err = fstat(fd, &st) == 0 ? 0 : errno;
  if (err == 0) {
    got.clear();
    char buf[1 << 16];
    for (;;) {
      const ssize_t r = pread(fd, buf, sizeof buf, static_cast<off_t>(got.size()));
      if (r < 0) err = errno;
      if (r <= 0) break;
      got.append(buf, static_cast<size_t>(r));
    }
  }
  close(fd);
  if (err != 0) return Fail(Named(view, "read"), abs + ": " + ErrnoName(err));
  if (st.st_ino != inode->st_ino || static_cast<int>(st.st_nlink) != inode->nlink ||
      static_cast<uint64_t>(st.st_size) != inode->data.size()) {
    return Fail(Named(view, "attr"),
                abs + ": inode " + std::to_string(st.st_ino) + " size " +
                    std::to_string(st.st_size) + " nlink " + std::to_string(st.st_nlink) +
                    "; the model's inode " + std::to_string(inode->st_ino) + " size " +
                    std::to_string(inode->data.size()) + " nlink " +
                    std::to_string(inode->nlink));
  }
  const std::string diff = DescribeDifference(inode->data, got);
  if (!diff.empty()) {
    return Fail(Named(view, "read-content"), abs + " (closed and settled) " + diff);
  }
  char names[4096];
  const ssize_t len = listxattr(abs.c_str(), names, sizeof names);
  if (len < 0) return Fail(Named(view, "xattr"), "listxattr " + abs + ": " + ErrnoName(errno));
  std::map<std::string, std::string> xattrs;
  for (ssize_t i = 0; i < len; i += static_cast<ssize_t>(strlen(names + i)) + 1) {
    if (strncmp(names + i, "user.torture.", 13) != 0) continue;
    char value[4096];
    const ssize_t n = getxattr(abs.c_str(), names + i, value, sizeof value);
    if (n < 0) {
      return Fail(Named(view, "xattr"),
                  "getxattr " + abs + " " + (names + i) + ": " + ErrnoName(errno));
    }
    xattrs[names + i] = std::string(value, static_cast<size_t>(n));
  }
  if (xattrs != inode->xattrs) {
    return Fail(Named(view, "xattr"), abs + ": " + std::to_string(xattrs.size()) +
                                          " user.torture xattrs differ from the model's " +
                                          std::to_string(inode->xattrs.size()));
  }
  shared_->procs[proc_].cross_mount_checks.fetch_add(view != 0, std::memory_order_relaxed);
  return Status::OK();
}

Status TortureWorker::CheckSubtree(int view, double before) {
  for (const std::string& dir : model_.dirs()) {
    if (!model_.ListingSettled(dir, before)) continue;
    if (Status s = CheckListingThrough(view, dir); !s.ok()) return s;
  }
  for (const auto& [path, inode] : model_.files()) {
    if (model_.FileSettled(path, before)) {
      if (Status s = CheckFileThrough(view, path); !s.ok()) return s;
    } else if (model_.NameSettled(path, before)) {
      // The name is past the window, its data not: the name must lead to
      // the model's inode.
      struct stat st;
      const std::string abs = Abs(view, path);
      if (!RetryStale(view, [&] { return lstat(abs.c_str(), &st) == 0; })) {
        return Fail(Named(view, "lookup"), "lstat " + abs + ": " + ErrnoName(errno));
      }
      if (!S_ISREG(st.st_mode) || st.st_ino != inode->st_ino) {
        return Fail(Named(view, "lookup"), abs + " is inode " + std::to_string(st.st_ino) +
                                               ", the model's is " +
                                               std::to_string(inode->st_ino));
      }
    }
  }
  return Status::OK();
}

Status TortureWorker::OpPeek() {
  const int view = OtherView();
  const bool file = R(2) == 0;
  if (!EnterView(view, false)) {
    history_.Begin(ops_, "through " + views_[view] + ": skipped, its client is being killed");
    history_.End("ok");
    return Status::OK();
  }
  struct Leave {
    TortureWorker* w;
    int view;
    ~Leave() { w->LeaveView(view); }
  } leave{this, view};
  if (file) {
    const std::string path = RandomFilePath();
    history_.Begin(ops_, "through " + views_[view] + ": open, fstat, read all, xattrs of " + path);
    if (!model_.FileSettled(path, SettledBefore())) {
      history_.End("skipped: missing, changed within the attribute timeout, or not closed");
      return Status::OK();
    }
    Status s = CheckFileThrough(view, path);
    if (s.ok()) history_.End("ok");
    return s;
  }
  const std::string dir = RandomDir();
  history_.Begin(ops_, "through " + views_[view] + ": readdir " + (dir.empty() ? "." : dir));
  if (!model_.ListingSettled(dir, SettledBefore())) {
    history_.End("skipped: changed within the entry timeout");
    return Status::OK();
  }
  Status s = CheckListingThrough(view, dir);
  if (s.ok()) history_.End("ok");
  return s;
}

Status TortureWorker::OpSubtreeCheck() {
  const int view = OtherView();
  history_.Begin(ops_, "wait out the attribute timeout, then the whole subtree through " +
                           views_[view]);
  SleepSeconds(options_.attr_timeout + 0.1);
  if (!EnterView(view, false)) {
    history_.End("skipped: its client is being killed");
    return Status::OK();
  }
  Status s = CheckSubtree(view, SettledBefore());
  LeaveView(view);
  if (s.ok()) history_.End("ok");
  return s;
}

Status TortureWorker::FinalCheck() {
  while (!descs_.empty()) {
    ++ops_;
    history_.Begin(ops_, "final: close fd of " + descs_.back().path);
    const int fd = descs_.back().fd;
    const std::shared_ptr<ModelInode> inode = descs_.back().inode;
    const uint64_t phase = descs_.back().unsynced ? descs_.back().phase : Phase();
    CloseDesc(descs_.size() - 1);
    const int got = close(fd) == 0 ? 0 : errno;
    if (NoSpaceAllowed(got, phase)) {
      if (Status s = ForgetInode(inode, "close"); !s.ok()) return s;
      continue;
    }
    if (Status s = ExpectErrno("close", "close", 0, got); !s.ok()) return s;
  }
  SleepSeconds(options_.attr_timeout + 0.2);
  const double before = SettledBefore();
  for (size_t view = 0; view < views_.size(); ++view) {
    ++ops_;
    history_.Begin(ops_, "final: the whole subtree through " + views_[view]);
    // Nothing changed within the window and nothing is open: every file
    // and listing is checked, exactly.
    for (const auto& [path, inode] : model_.files()) {
      if (!model_.FileSettled(path, before)) {
        return Fail("final-coverage", path + " is not settled after the wait");
      }
    }
    EnterView(static_cast<int>(view), /*wait=*/true);
    Status s = CheckSubtree(static_cast<int>(view), before);
    LeaveView(static_cast<int>(view));
    if (!s.ok()) return s;
    history_.End(std::to_string(model_.files().size()) + " names of files, " +
                 std::to_string(model_.dirs().size()) + " directories: ok");
  }
  return Status::OK();
}

}  // namespace scalefs::torture
