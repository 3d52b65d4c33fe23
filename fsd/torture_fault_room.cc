// What a torture process does around the faults it must make room for: a
// client's kill (it stops between operations, the others keep off its
// mount) and a full file system (an allowed ENOSPC ends the file).
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "fsd/torture_worker.h"

namespace scalefs::torture {

Status TortureWorker::ParkIfClosed() {
  MountState& own = shared_->mounts[MountOf(0)];
  if (own.closed.load() == 0) return Status::OK();
  // Everything written so far is acknowledged before the client goes: the
  // model stays exact across the kill.
  for (size_t i = 0; i < descs_.size(); ++i) {
    Desc& d = descs_[i];
    if (!d.unsynced) continue;
    ++ops_;
    history_.Begin(ops_, "fsync fd of " + d.path + " (inode " + std::to_string(d.inode->id) +
                             ") before the client of " + views_[0] + " is killed");
    const int got = fsync(d.fd) == 0 ? 0 : errno;
    if (NoSpaceAllowed(got, d.phase)) {
      if (Status s = ForgetInode(d.inode, "fsync"); !s.ok()) return s;
      i = static_cast<size_t>(-1);  // descriptors went: from the start again
      continue;
    }
    if (Status s = ExpectErrno("fsync", "fsync", 0, got); !s.ok()) return s;
    d.unsynced = false;
    d.inode->open_writers_unsynced--;
  }
  ++ops_;
  history_.Begin(ops_, "stopped while the client of " + views_[0] + " is killed and mounted again");
  const uint64_t kills = own.kills.load();
  own.parked.fetch_add(1);
  const double until = MonotonicSeconds() + 300;
  while (own.closed.load() != 0 && MonotonicSeconds() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  own.parked.fetch_sub(1);
  if (own.closed.load() != 0) return Fail("park", views_[0] + " not mounted again in 300 s");
  if (own.kills.load() != kills) {
    // The descriptors died with the client; their files live on (or, if
    // unlinked, went with the old session), as the model has them.
    for (const Desc& d : descs_) close(d.fd);
    while (!descs_.empty()) CloseDesc(descs_.size() - 1);
    history_.End("the client was killed; its descriptors are gone");
  } else {
    history_.End("ok");
  }
  return Status::OK();
}

bool TortureWorker::NoSpaceAllowed(int err, uint64_t since) const {
  return err == ENOSPC && (shared_->full.load() != 0 || Phase() != since);
}

Status TortureWorker::ForgetInode(std::shared_ptr<ModelInode> inode, const std::string& what,
                                  const std::string& created) {
  shared_->procs[proc_].enospc.fetch_add(1, std::memory_order_relaxed);
  history_.End("ENOSPC, the file system being full: the file's content is unknown now");
  for (size_t i = descs_.size(); i-- > 0;) {
    if (descs_[i].inode != inode) continue;
    const int fd = descs_[i].fd;
    CloseDesc(i);
    close(fd);  // may say ENOSPC again: nothing of it is kept
  }
  std::vector<std::string> names;
  for (const auto& [path, file] : model_.files()) {
    if (file == inode) names.push_back(path);
  }
  for (const std::string& path : names) {
    ++ops_;
    history_.Begin(ops_, "unlink " + path + " (after the " + what + "'s ENOSPC)");
    const int expected = model_.Unlink(path, MonotonicSeconds());
    int got = unlink(Abs(0, path).c_str()) == 0 ? 0 : errno;
    if (got == ENOENT && path == created) got = 0;  // the failed create never made it
    if (Status s = ExpectErrno("unlink", "unlink of " + path, expected, got); !s.ok()) return s;
  }
  return Status::OK();
}

bool TortureWorker::EnterView(int view, bool wait) {
  if (view == 0) return true;
  MountState& m = shared_->mounts[MountOf(view)];
  for (;;) {
    m.users.fetch_add(1);
    if (m.closed.load() == 0) return true;
    m.users.fetch_sub(1);
    if (!wait) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void TortureWorker::LeaveView(int view) {
  if (view != 0) shared_->mounts[MountOf(view)].users.fetch_sub(1);
}

}  // namespace scalefs::torture
