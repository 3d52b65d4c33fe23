// The namespace operations of a torture process on its own subtree
// (rename, link, unlink, mkdir, rmdir, xattrs, stat, listings), each checked
// against the model as the data operations in torture_worker.cc are.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "fsd/torture_worker.h"

namespace scalefs::torture {

Status TortureWorker::OpRename() {
  const std::string from = RandomPath();
  // Over an existing name half of the time.
  const std::string to = R(2) == 0 ? RandomFilePath() : RandomPath();
  history_.Begin(ops_, "rename " + from + " -> " + to);
  const int expected = model_.Rename(from, to, MonotonicSeconds());
  const int got = rename(Abs(0, from).c_str(), Abs(0, to).c_str()) == 0 ? 0 : errno;
  return ExpectErrno("rename-errno", "rename " + from + " -> " + to, expected, got);
}

Status TortureWorker::OpLink() {
  const std::string from = RandomFilePath();
  const std::string to = RandomPath();
  history_.Begin(ops_, "link " + from + " -> " + to);
  const int expected = model_.Link(from, to, MonotonicSeconds());
  const int got = link(Abs(0, from).c_str(), Abs(0, to).c_str()) == 0 ? 0 : errno;
  return ExpectErrno("link-errno", "link " + from + " -> " + to, expected, got);
}

Status TortureWorker::OpUnlink() {
  const std::string path = RandomFilePath();
  bool open = false;
  for (const Desc& d : descs_) open = open || d.inode == model_.File(path);
  history_.Begin(ops_, "unlink " + path + (open ? " (open)" : ""));
  const int expected = model_.Unlink(path, MonotonicSeconds());
  const int got = unlink(Abs(0, path).c_str()) == 0 ? 0 : errno;
  return ExpectErrno("unlink-errno", "unlink " + path, expected, got);
}

Status TortureWorker::OpMkdir() {
  std::string dir = RandomDir();
  if (std::count(dir.begin(), dir.end(), '/') >= 1) dir = ModelTree::Parent(dir);  // depth <= 3
  const std::string path = ModelTree::Join(dir, "d" + std::to_string(R(4)));
  history_.Begin(ops_, "mkdir " + path);
  const int expected = model_.Mkdir(path, MonotonicSeconds());
  const int got = mkdir(Abs(0, path).c_str(), 0755) == 0 ? 0 : errno;
  return ExpectErrno("mkdir-errno", "mkdir " + path, expected, got);
}

Status TortureWorker::OpRmdir() {
  const std::string path = R(4) == 0 ? RandomPath() : RandomDir();
  if (path.empty()) return OpList();  // never the subtree's root
  history_.Begin(ops_, "rmdir " + path);
  const int expected = model_.Rmdir(path, MonotonicSeconds());
  const int got = rmdir(Abs(0, path).c_str()) == 0 ? 0 : errno;
  return ExpectErrno("rmdir-errno", "rmdir " + path, expected, got);
}

Status TortureWorker::OpXattr() {
  const std::string path = RandomFilePath();
  auto inode = model_.File(path);
  if (inode == nullptr) return OpStat();  // the model keeps xattrs of files only
  const std::string name = "user.torture." + std::to_string(R(3));
  const std::string abs = Abs(0, path);
  const uint64_t kind = R(4);
  if (kind == 0) {  // set, with or without CREATE/REPLACE
    const int flags = R(3) == 0 ? XATTR_CREATE : R(2) == 0 ? XATTR_REPLACE : 0;
    const std::string value = RandomBytes(1 + R(64));
    history_.Begin(ops_, "setxattr " + path + " " + name + " (" + std::to_string(value.size()) +
                             " bytes" + (flags == XATTR_CREATE ? ", CREATE" : "") +
                             (flags == XATTR_REPLACE ? ", REPLACE" : "") + ")");
    const bool has = inode->xattrs.count(name) > 0;
    const int expected = flags == XATTR_CREATE && has ? EEXIST
                         : flags == XATTR_REPLACE && !has ? ENODATA
                                                          : 0;
    const int got = setxattr(abs.c_str(), name.c_str(), value.data(), value.size(), flags) == 0
                        ? 0
                        : errno;
    if (Status s = ExpectErrno("xattr-errno", "setxattr " + name, expected, got); !s.ok()) return s;
    if (got == 0) {
      inode->xattrs[name] = value;
      inode->meta_changed = MonotonicSeconds();
    }
    return Status::OK();
  }
  if (kind == 1) {
    history_.Begin(ops_, "removexattr " + path + " " + name);
    const int expected = inode->xattrs.count(name) ? 0 : ENODATA;
    const int got = removexattr(abs.c_str(), name.c_str()) == 0 ? 0 : errno;
    if (Status s = ExpectErrno("xattr-errno", "removexattr " + name, expected, got); !s.ok()) {
      return s;
    }
    if (got == 0) {
      inode->xattrs.erase(name);
      inode->meta_changed = MonotonicSeconds();
    }
    return Status::OK();
  }
  history_.Begin(ops_, "getxattr and listxattr " + path);
  char buf[4096];
  std::string got_all;
  for (int i = 0; i < 3; ++i) {
    const std::string n = "user.torture." + std::to_string(i);
    const ssize_t r = getxattr(abs.c_str(), n.c_str(), buf, sizeof buf);
    auto it = inode->xattrs.find(n);
    const int want = it == inode->xattrs.end() ? ENODATA : 0;
    if (Status s = ExpectErrno("xattr-errno", "getxattr " + n, want, r < 0 ? errno : 0); !s.ok()) {
      return s;
    }
    if (r >= 0 && std::string(buf, static_cast<size_t>(r)) != it->second) {
      return Fail("xattr-value", path + " " + n + ": " +
                                     DescribeDifference(it->second, std::string(buf, r)));
    }
  }
  const ssize_t len = listxattr(abs.c_str(), buf, sizeof buf);
  if (len < 0) return ExpectErrno("xattr-errno", "listxattr", 0, errno);
  std::set<std::string> listed;
  for (ssize_t i = 0; i < len; i += static_cast<ssize_t>(strlen(buf + i)) + 1) {
    if (strncmp(buf + i, "user.torture.", 13) == 0) listed.insert(buf + i);
  }
  std::set<std::string> want;
  for (const auto& [n, v] : inode->xattrs) want.insert(n);
  history_.End(std::to_string(listed.size()) + " names");
  if (listed != want) {
    std::string l, w;
    for (const auto& n : listed) l += " " + n;
    for (const auto& n : want) w += " " + n;
    return Fail("xattr-list", path + ": listed {" + l + " }, the model has {" + w + " }");
  }
  return Status::OK();
}

Status TortureWorker::OpStat() {
  const std::string path = RandomPath();
  history_.Begin(ops_, "lstat " + path);
  struct stat st;
  const int got = lstat(Abs(0, path).c_str(), &st) == 0 ? 0 : errno;
  if (Status s = ExpectErrno("stat-errno", "lstat " + path, model_.Exists(path) ? 0 : ENOENT, got);
      !s.ok()) {
    return s;
  }
  if (got != 0) return Status::OK();
  if (model_.IsDir(path)) {
    if (!S_ISDIR(st.st_mode)) return Fail("stat-type", path + " is not a directory");
    return Status::OK();
  }
  auto inode = model_.File(path);
  if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != inode->data.size() ||
      static_cast<int>(st.st_nlink) != inode->nlink ||
      (inode->st_ino != 0 && st.st_ino != inode->st_ino)) {
    return Fail("stat-attr", path + ": mode " + std::to_string(st.st_mode) + " inode " +
                                 std::to_string(st.st_ino) + " size " +
                                 std::to_string(st.st_size) + " nlink " +
                                 std::to_string(st.st_nlink) +
                                 "; the model's: regular file, inode " +
                                 std::to_string(inode->st_ino) + " size " +
                                 std::to_string(inode->data.size()) + " nlink " +
                                 std::to_string(inode->nlink));
  }
  return Status::OK();
}

Status TortureWorker::OpList() {
  const std::string dir = RandomDir();
  history_.Begin(ops_, "readdir " + (dir.empty() ? "." : dir));
  Status s = CheckListingThrough(0, dir);
  if (s.ok()) history_.End("ok");
  return s;
}

}  // namespace scalefs::torture
