// The loop of a torture process and its data operations on its own subtree
// (the namespace ones are in torture_namespace_ops.cc). Every call's errno
// is compared with the model's, every byte read with the model's bytes: one
// process, one mount, so nothing is allowed to differ.
#include "fsd/torture_worker.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>

namespace scalefs::torture {

namespace {
constexpr size_t kMaxDescs = 4;
constexpr uint64_t kBlock = 4096;

// A buffer O_DIRECT accepts.
struct AlignedBuffer {
  explicit AlignedBuffer(size_t n) : size(n) {
    if (posix_memalign(&p, kBlock, std::max<size_t>(n, kBlock)) != 0) p = nullptr;
  }
  ~AlignedBuffer() { free(p); }
  char* data() { return static_cast<char*>(p); }
  void* p = nullptr;
  size_t size;
};

std::string Range(uint64_t off, uint64_t len) {
  return "[" + std::to_string(off) + ",+" + std::to_string(len) + ")";
}

// pread until `n` bytes or EOF; -1 with errno on an error.
ssize_t PreadFull(int fd, char* buf, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = pread(fd, buf + got, n - got, static_cast<off_t>(off + got));
    if (r < 0) return -1;
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(got);
}

ssize_t PwriteFull(int fd, const char* buf, size_t n, uint64_t off) {
  size_t put = 0;
  while (put < n) {
    const ssize_t r = pwrite(fd, buf + put, n - put, static_cast<off_t>(off + put));
    if (r <= 0) return -1;
    put += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(put);
}

// The whole file through `fd`, or the errno.
int ReadWhole(int fd, std::string* out) {
  out->clear();
  char buf[1 << 16];
  for (uint64_t off = 0;;) {
    const ssize_t r = pread(fd, buf, sizeof buf, static_cast<off_t>(off));
    if (r < 0) return errno;
    if (r == 0) return 0;
    out->append(buf, static_cast<size_t>(r));
    off += static_cast<uint64_t>(r);
  }
}
}  // namespace

double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string SharedFilePath(const std::string& mount, const std::string& run, int file) {
  return mount + "/" + run + "/shared/s" + std::to_string(file);
}

TortureWorker::TortureWorker(const TortureOptions& options, int proc, std::string run,
                             TortureShared* shared)
    : options_(options), proc_(proc), run_(std::move(run)), shared_(shared) {
  const size_t n = options_.mounts.size();
  for (size_t j = 0; j < n; ++j) views_.push_back(options_.mounts[(proc_ + j) % n]);
  std::seed_seq seq{options_.seed + static_cast<uint64_t>(proc_), uint64_t{0x746f7274}};
  rng_.seed(seq);
  history_.MirrorTo(shared_->procs[proc_].current, sizeof shared_->procs[proc_].current);
}

TortureWorker::~TortureWorker() {
  for (Desc& d : descs_) close(d.fd);
}

std::string TortureWorker::Abs(int view, const std::string& rel) const {
  std::string p = views_[view] + "/" + run_ + "/p" + std::to_string(proc_);
  return rel.empty() ? p : p + "/" + rel;
}

int TortureWorker::OtherView() {
  // Drawn even with one mount, so the choices of a run do not depend on it.
  const uint64_t r = rng_();
  return views_.size() == 1 ? 0 : 1 + static_cast<int>(r % (views_.size() - 1));
}

double TortureWorker::SettledBefore() const {
  // A change acknowledged before this is past every mount's cache window.
  return MonotonicSeconds() - options_.attr_timeout - 0.1;
}

std::string TortureWorker::RandomDir() {
  auto it = model_.dirs().begin();
  std::advance(it, R(model_.dirs().size()));
  return *it;
}

std::string TortureWorker::RandomPath() {
  const uint64_t pick = R(10);
  const size_t existing = model_.files().size() + model_.dirs().size() - 1;  // not the root
  if (pick < 6 && existing > 0) {
    uint64_t i = R(existing);
    if (i < model_.files().size()) {
      auto it = model_.files().begin();
      std::advance(it, i);
      return it->first;
    }
    auto it = std::next(model_.dirs().begin());  // past the root ("")
    std::advance(it, i - model_.files().size());
    return *it;
  }
  const std::string dir = RandomDir();
  const bool want_dir = R(5) == 0;
  return ModelTree::Join(dir, want_dir ? "d" + std::to_string(R(4))
                                       : "f" + std::to_string(R(options_.files)));
}

std::string TortureWorker::RandomFilePath() {
  if (!model_.files().empty() && R(10) < 8) {
    auto it = model_.files().begin();
    std::advance(it, R(model_.files().size()));
    return it->first;
  }
  return RandomPath();
}

std::string TortureWorker::RandomBytes(size_t n) {
  std::string s(n, '\0');
  uint64_t x = rng_() | 1;
  for (size_t i = 0; i < n; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    memcpy(&s[i], &x, std::min<size_t>(8, n - i));
  }
  return s;
}

TortureWorker::Desc* TortureWorker::RandomDesc() {
  return descs_.empty() ? nullptr : &descs_[R(descs_.size())];
}

void TortureWorker::MarkWritten(Desc* d) {
  if (!d->unsynced) {
    d->unsynced = true;
    d->phase = Phase();
    d->inode->open_writers_unsynced++;
  }
}

void TortureWorker::CloseDesc(size_t i) {
  if (descs_[i].unsynced) descs_[i].inode->open_writers_unsynced--;
  descs_.erase(descs_.begin() + static_cast<long>(i));
}

Status TortureWorker::Fail(const std::string& check, const std::string& detail) {
  last_check_ = check;
  history_.End("FAILED");
  return Status::IoError(check + ": " + detail);
}

Status TortureWorker::ExpectErrno(const std::string& check, const std::string& what, int expected,
                                  int got) {
  history_.End(got == 0 ? "ok" : ErrnoName(got));
  if (expected == got) return Status::OK();
  return Fail(check, what + " answered " + ErrnoName(got) + "; the model expects " +
                         ErrnoName(expected));
}

Status TortureWorker::Step() {
  ++ops_;
  shared_->procs[proc_].ops.fetch_add(1, std::memory_order_relaxed);
  // Weights: data operations most, the namespace next, checks through other
  // mounts and locked sections regularly.
  const uint64_t r = R(1000);
  if (r < 80) return OpCreate();
  if (r < 140) return OpOpen();
  if (r < 190) return OpClose();
  if (r < 330) return OpWriteDesc();
  if (r < 390) return OpWritePath();
  if (r < 470) return OpReadDesc();
  if (r < 530) return OpReadPath();
  if (r < 570) return OpTruncate();
  if (r < 600) return OpFallocate();
  if (r < 630) return OpFsync();
  if (r < 690) return OpRename();
  if (r < 720) return OpLink();
  if (r < 760) return OpUnlink();
  if (r < 785) return OpMkdir();
  if (r < 805) return OpRmdir();
  if (r < 845) return OpXattr();
  if (r < 875) return OpStat();
  if (r < 900) return OpList();
  if (r < 960) return OpLockedSection();
  if (r < 999) return OpPeek();
  return OpSubtreeCheck();
}

Status TortureWorker::OpCreate() {
  const std::string path = RandomPath();
  const bool excl = R(2) == 0;
  history_.Begin(ops_, std::string("create") + (excl ? " O_EXCL " : " ") + path);
  const uint64_t phase = Phase();
  const int expected = model_.Create(path, excl, MonotonicSeconds());
  const int fd = open(Abs(0, path).c_str(), O_CREAT | O_RDWR | (excl ? O_EXCL : 0), 0644);
  const int got = fd < 0 ? errno : 0;
  if (expected == 0 && NoSpaceAllowed(got, phase)) return ForgetInode(model_.File(path), "create", path);
  if (Status s = ExpectErrno("create-errno", "open(O_CREAT) of " + path, expected, got); !s.ok()) {
    if (fd >= 0) close(fd);
    return s;
  }
  if (fd < 0) return Status::OK();
  auto inode = model_.File(path);
  struct stat st;
  if (fstat(fd, &st) != 0) return Fail("fstat", path + ": " + strerror(errno));
  if (inode->st_ino == 0) inode->st_ino = st.st_ino;
  if (st.st_ino != inode->st_ino || static_cast<uint64_t>(st.st_size) != inode->data.size()) {
    close(fd);
    return Fail("create-attr", path + ": inode " + std::to_string(st.st_ino) + " size " +
                                   std::to_string(st.st_size) + ", the model's inode " +
                                   std::to_string(inode->st_ino) + " size " +
                                   std::to_string(inode->data.size()));
  }
  if (descs_.size() < kMaxDescs && R(2) == 0) {
    descs_.push_back({fd, path, inode});
  } else {
    close(fd);
  }
  return Status::OK();
}

Status TortureWorker::OpOpen() {
  if (descs_.size() >= kMaxDescs) return OpClose();
  const std::string path = RandomFilePath();
  const bool append = R(4) == 0;
  const bool direct = !append && R(4) == 0;
  history_.Begin(ops_, std::string("open O_RDWR") + (append ? "|O_APPEND " : "") +
                           (direct ? "|O_DIRECT " : " ") + path);
  const int expected = model_.IsDir(path) ? EISDIR : model_.IsFile(path) ? 0 : ENOENT;
  const int fd = open(Abs(0, path).c_str(),
                      O_RDWR | (append ? O_APPEND : 0) | (direct ? O_DIRECT : 0));
  if (Status s = ExpectErrno("open-errno", "open of " + path, expected, fd < 0 ? errno : 0);
      !s.ok()) {
    if (fd >= 0) close(fd);
    return s;
  }
  if (fd >= 0) descs_.push_back({fd, path, model_.File(path), append, direct});
  return Status::OK();
}

Status TortureWorker::OpClose() {
  if (descs_.empty()) return OpOpen();
  const size_t i = R(descs_.size());
  history_.Begin(ops_, "close fd of " + descs_[i].path + " (inode " +
                           std::to_string(descs_[i].inode->id) + ")");
  const int fd = descs_[i].fd;
  const std::shared_ptr<ModelInode> inode = descs_[i].inode;
  const uint64_t phase = descs_[i].unsynced ? descs_[i].phase : Phase();
  CloseDesc(i);
  const int got = close(fd) == 0 ? 0 : errno;
  if (NoSpaceAllowed(got, phase)) return ForgetInode(inode, "close");
  return ExpectErrno("close", "close", 0, got);
}

Status TortureWorker::OpWriteDesc() {
  Desc* d = RandomDesc();
  if (d == nullptr) return OpOpen();
  ModelInode* inode = d->inode.get();
  const uint64_t mode = R(3);  // 0 unaligned, 1 aligned, 2 small
  uint64_t off, len;
  if (d->direct || mode == 1) {
    off = R(kMaxFileSize / kBlock) * kBlock;
    len = (1 + R(d->direct ? 64 : 256)) * kBlock;
  } else if (mode == 0) {
    off = R(kMaxFileSize);
    len = 1 + R(128 << 10);
  } else {
    off = R(inode->data.size() + 8192);
    len = 1 + R(512);
  }
  if (d->append) off = inode->data.size();
  if (off + len > kMaxFileSize) len = off < kMaxFileSize ? kMaxFileSize - off : 0;
  if (d->direct) len = len / kBlock * kBlock;
  if (len == 0) return OpTruncate();
  const std::string bytes = RandomBytes(len);
  const uint64_t phase = d->unsynced ? d->phase : Phase();
  history_.Begin(ops_, std::string(d->direct ? "O_DIRECT " : d->append ? "append " : "") +
                           "write " + Range(off, len) + " via fd of " + d->path + " (inode " +
                           std::to_string(inode->id) + ")");
  ssize_t r;
  if (d->direct) {
    AlignedBuffer buf(len);
    memcpy(buf.data(), bytes.data(), len);
    r = PwriteFull(d->fd, buf.data(), len, off);
  } else if (d->append) {
    // A short count is a partial write: the rest is written again, so a full
    // file system answers it with its ENOSPC.
    size_t put = 0;
    r = 0;
    while (put < len) {
      const ssize_t w = write(d->fd, bytes.data() + put, len - put);
      if (w <= 0) {
        r = -1;
        break;
      }
      put += static_cast<size_t>(w);
      r = static_cast<ssize_t>(put);
    }
  } else {
    r = PwriteFull(d->fd, bytes.data(), len, off);
  }
  if (r != static_cast<ssize_t>(len)) {
    const int err = r < 0 ? errno : EIO;
    if (NoSpaceAllowed(err, phase)) return ForgetInode(d->inode, "write");
    return ExpectErrno("write", "write of " + std::to_string(len) + " bytes", 0, err);
  }
  history_.End("ok");
  ModelTree::Write(inode, off, bytes, MonotonicSeconds());
  MarkWritten(d);
  return Status::OK();
}

Status TortureWorker::OpWritePath() {
  const std::string path = RandomFilePath();
  const uint64_t off = R(2) == 0 ? R(kMaxFileSize) : R(kMaxFileSize / kBlock) * kBlock;
  uint64_t len = std::min<uint64_t>(1 + R(256 << 10), kMaxFileSize - off);
  const std::string bytes = RandomBytes(len);
  history_.Begin(ops_, "open O_WRONLY, write " + Range(off, len) + ", close " + path);
  const int expected = model_.IsDir(path) ? EISDIR : model_.IsFile(path) ? 0 : ENOENT;
  const int fd = open(Abs(0, path).c_str(), O_WRONLY);
  if (fd < 0 || expected != 0) {
    if (fd >= 0) close(fd);
    return ExpectErrno("open-errno", "open of " + path, expected, fd < 0 ? errno : 0);
  }
  const uint64_t phase = Phase();
  const ssize_t r = PwriteFull(fd, bytes.data(), len, off);
  const int werr = r == static_cast<ssize_t>(len) ? 0 : (r < 0 ? errno : EIO);
  const int cerr = close(fd) == 0 ? 0 : errno;
  if (NoSpaceAllowed(werr != 0 ? werr : cerr, phase)) return ForgetInode(model_.File(path), "write");
  if (Status s = ExpectErrno("write", "write", 0, werr != 0 ? werr : cerr); !s.ok()) return s;
  ModelTree::Write(model_.File(path).get(), off, bytes, MonotonicSeconds());
  return Status::OK();
}

Status TortureWorker::OpReadDesc() {
  Desc* d = RandomDesc();
  if (d == nullptr) return OpReadPath();
  const std::string& want_all = d->inode->data;
  uint64_t off, len;
  if (d->direct) {
    off = R(want_all.size() / kBlock + 2) * kBlock;
    len = (1 + R(64)) * kBlock;
  } else {
    off = R(want_all.size() + 4096);
    len = 1 + R(256 << 10);
  }
  history_.Begin(ops_, std::string(d->direct ? "O_DIRECT " : "") + "read " + Range(off, len) +
                           " via fd of " + d->path + " (inode " + std::to_string(d->inode->id) +
                           ")");
  AlignedBuffer buf(len);
  // O_DIRECT: one aligned request (a second one would start at EOF, unaligned).
  const ssize_t r = d->direct ? pread(d->fd, buf.data(), len, static_cast<off_t>(off))
                              : PreadFull(d->fd, buf.data(), len, off);
  if (r < 0) return ExpectErrno("read", "pread", 0, errno);
  history_.End(std::to_string(r) + " bytes");
  const std::string want = off < want_all.size() ? want_all.substr(off, len) : "";
  const std::string got(buf.data(), static_cast<size_t>(r));
  const std::string diff = DescribeDifference(want, got);
  if (!diff.empty()) {
    return Fail("read-content", "read " + Range(off, len) + " via fd of " + d->path +
                                    ", from offset " + std::to_string(off) + " " + diff);
  }
  struct stat st;
  if (fstat(d->fd, &st) != 0) return Fail("fstat", d->path + ": " + strerror(errno));
  if (static_cast<uint64_t>(st.st_size) != want_all.size() ||
      static_cast<int>(st.st_nlink) != d->inode->nlink || st.st_ino != d->inode->st_ino) {
    return Fail("fstat-attr", "fd of " + d->path + ": inode " + std::to_string(st.st_ino) +
                                  " size " + std::to_string(st.st_size) + " nlink " +
                                  std::to_string(st.st_nlink) + ", the model's inode " +
                                  std::to_string(d->inode->st_ino) + " size " +
                                  std::to_string(want_all.size()) + " nlink " +
                                  std::to_string(d->inode->nlink));
  }
  return Status::OK();
}

Status TortureWorker::OpReadPath() {
  const std::string path = RandomFilePath();
  history_.Begin(ops_, "open O_RDONLY, read all, close " + path);
  const int expected = model_.IsFile(path) ? 0 : model_.IsDir(path) ? EISDIR : ENOENT;
  const int fd = open(Abs(0, path).c_str(), O_RDONLY);
  if (fd < 0) return ExpectErrno("open-errno", "open of " + path, expected, errno);
  std::string got;
  int err = 0;
  if (expected == 0) err = ReadWhole(fd, &got);
  if (expected != 0 && err == 0) {  // a directory opens read-only: reading it is EISDIR
    char c;
    err = read(fd, &c, 1) < 0 ? errno : 0;
  }
  close(fd);
  if (Status s = ExpectErrno("read", "read of " + path, expected, err); !s.ok()) return s;
  if (expected != 0) return Status::OK();
  history_.End(std::to_string(got.size()) + " bytes");
  const std::string diff = DescribeDifference(model_.File(path)->data, got);
  if (!diff.empty()) return Fail("read-content", "whole file " + path + " " + diff);
  return Status::OK();
}

Status TortureWorker::OpTruncate() {
  const bool by_fd = !descs_.empty() && R(2) == 0;
  const uint64_t size = R(4) == 0 ? 0 : R(kMaxFileSize);
  if (by_fd) {
    Desc* d = RandomDesc();
    history_.Begin(ops_, "ftruncate to " + std::to_string(size) + " fd of " + d->path +
                             " (inode " + std::to_string(d->inode->id) + ")");
    if (Status s = ExpectErrno("truncate", "ftruncate", 0,
                               ftruncate(d->fd, static_cast<off_t>(size)) == 0 ? 0 : errno);
        !s.ok()) {
      return s;
    }
    ModelTree::Truncate(d->inode.get(), size, MonotonicSeconds());
    return Status::OK();
  }
  const std::string path = RandomFilePath();
  history_.Begin(ops_, "truncate " + path + " to " + std::to_string(size));
  const int expected = model_.IsFile(path) ? 0 : model_.IsDir(path) ? EISDIR : ENOENT;
  const int got = truncate(Abs(0, path).c_str(), static_cast<off_t>(size)) == 0 ? 0 : errno;
  if (Status s = ExpectErrno("truncate", "truncate of " + path, expected, got); !s.ok()) return s;
  if (got == 0) ModelTree::Truncate(model_.File(path).get(), size, MonotonicSeconds());
  return Status::OK();
}

Status TortureWorker::OpFallocate() {
  Desc* d = RandomDesc();
  if (d == nullptr) return OpOpen();
  const bool keep = R(2) == 0;
  const uint64_t off = R(kMaxFileSize);
  const uint64_t len = std::min<uint64_t>(1 + R(512 << 10), kMaxFileSize - off);
  history_.Begin(ops_, std::string("fallocate ") + (keep ? "KEEP_SIZE " : "") + Range(off, len) +
                           " fd of " + d->path + " (inode " + std::to_string(d->inode->id) + ")");
  const uint64_t phase = Phase();
  const int got = fallocate(d->fd, keep ? FALLOC_FL_KEEP_SIZE : 0, static_cast<off_t>(off),
                            static_cast<off_t>(len)) == 0
                      ? 0
                      : errno;
  if (NoSpaceAllowed(got, phase)) return ForgetInode(d->inode, "fallocate");
  if (Status s = ExpectErrno("fallocate", "fallocate", 0, got); !s.ok()) return s;
  ModelTree::Fallocate(d->inode.get(), off, len, keep, MonotonicSeconds());
  return Status::OK();
}

Status TortureWorker::OpFsync() {
  Desc* d = RandomDesc();
  if (d == nullptr) return OpOpen();
  const bool data_only = R(2) == 0;
  history_.Begin(ops_, std::string(data_only ? "fdatasync" : "fsync") + " fd of " + d->path +
                           " (inode " + std::to_string(d->inode->id) + ")");
  const uint64_t phase = d->unsynced ? d->phase : Phase();
  const int got = (data_only ? fdatasync(d->fd) : fsync(d->fd)) == 0 ? 0 : errno;
  if (NoSpaceAllowed(got, phase)) return ForgetInode(d->inode, "fsync");
  if (Status s = ExpectErrno("fsync", "fsync", 0, got); !s.ok()) return s;
  if (d->unsynced) {
    d->unsynced = false;
    d->inode->open_writers_unsynced--;
  }
  return Status::OK();
}

std::string TortureWorker::Run() {
  const double deadline = MonotonicSeconds() + options_.seconds;
  MountState& own = shared_->mounts[MountOf(0)];
  own.active.fetch_add(1);
  Status s;
  while (s.ok() && shared_->stop.load() == 0 && MonotonicSeconds() < deadline &&
         (options_.ops == 0 || ops_ < options_.ops)) {
    s = ParkIfClosed();
    if (s.ok()) s = Step();
  }
  if (s.ok()) s = ParkIfClosed();
  if (s.ok()) s = FinalCheck();
  own.active.fetch_sub(1);
  if (s.ok()) return "";
  shared_->stop.store(1);
  return Report(s);
}

std::string TortureWorker::Report(const Status& failure) const {
  std::string out = "torture: FAILED check '" + last_check_ + "' in process " +
                    std::to_string(proc_) + " (mount " + views_[0] + ", seed " +
                    std::to_string(options_.seed) + ", its seed " +
                    std::to_string(options_.seed + proc_) + ") at operation #" +
                    std::to_string(ops_) + ":\n  " + failure.message() + "\n" +
                    "the last " + std::to_string(history_.size()) +
                    " operations of process " + std::to_string(proc_) + " (UTC):\n" +
                    history_.Format();
  out += "reproduce this process alone: " + SingleProcessCommand(options_, proc_, ops_) + "\n";
  out += "reproduce the whole run:      " + TortureCommand(options_) + "\n";
  return out;
}

}  // namespace scalefs::torture
