// One process of `scalefs torture`: random operations on its own subtree
// (checked exactly against its ModelTree), locked sections on the shared
// files (checked exactly by whoever holds the lock), and looks through the
// other mounts once scalefs's cache window allows. The runner forks one per
// --procs; they share only TortureShared, a MAP_SHARED anonymous mapping.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/status.h"
#include "fsd/torture_history.h"
#include "fsd/torture_model.h"
#include "fsd/torture_options.h"

namespace scalefs::torture {

// Files every process changes, each only inside a critical section under a
// cluster-wide lock of the file itself: flock for even ones, a whole-file
// fcntl (POSIX) write lock for odd ones.
inline constexpr int kSharedFiles = 4;
inline constexpr uint32_t kSharedFileMax = 256 << 10;
// Operations a failure report shows.
inline constexpr size_t kHistoryKept = 64;
// Files of a subtree stay below this, so they span two stripe units (two pairs).
inline constexpr uint64_t kMaxFileSize = 3 << 20;
// A lock not granted within this long is a failure (the section of whoever
// holds it takes milliseconds).
inline constexpr int kLockWaitSeconds = 30;

// What a shared file must hold: changed only by the holder of its lock.
// One change of a shared file, for the report of a failure seen in it.
struct SharedChange {
  uint64_t version;  // the file's version after it
  int32_t proc;
  uint64_t op;
  int64_t wall_ms;
  char what[80];  // "write [off,+n)", "ftruncate to n", with how the lock went
};
inline constexpr int kSharedChangesKept = 16;

struct SharedFileState {
  std::atomic<int32_t> holder;  // 1 + the process inside its critical section, 0 when none
  uint32_t size;
  uint64_t version;  // critical sections that changed it
  // Who left the section last, at which of its operations, and how it let
  // go of the lock: what a lock that never comes free points at.
  int32_t last_holder;  // 1 + the process
  uint64_t last_op;
  bool last_by_close;
  SharedChange changes[kSharedChangesKept];  // the last ones, by version % kept
  char data[kSharedFileMax];  // zeros past size
};

struct ProcStats {
  std::atomic<uint64_t> ops;
  std::atomic<uint64_t> locked_sections;
  std::atomic<uint64_t> cross_mount_checks;  // files and listings compared through another mount
  std::atomic<uint64_t> lock_waits;          // a non-blocking attempt found the lock taken
  std::atomic<uint64_t> enospc;              // ENOSPC answers while the file system was full
  char current[256];                         // the operation begun last (OpHistory::MirrorTo)
};

// A mount whose client the fault injector kills (torture_faults.h): its own
// processes come to a stop between operations with every write fsynced, the
// others keep off it, until it is mounted again.
struct MountState {
  std::atomic<int32_t> closed;  // 1 from the injector's wish to kill until the new mount
  std::atomic<int32_t> active;  // its processes that still run (or make their final check)
  std::atomic<int32_t> parked;  // of them, those stopped for the kill
  std::atomic<int32_t> users;   // other processes' operations through it now
  std::atomic<uint64_t> kills;  // how often its client was killed
};

struct TortureShared {
  std::atomic<int32_t> stop;  // set by the first process that fails
  ProcStats procs[kMaxProcs];
  SharedFileState files[kSharedFiles];
  MountState mounts[kMaxMounts];
  // The fill fault (torture_faults.h): `full` from before its ballast until
  // the space is back; `full_phases` counts them. ENOSPC is an allowed answer
  // of a write, close, fsync or fallocate only while full, or when a full
  // phase began since the writes it reports on.
  std::atomic<int32_t> full;
  std::atomic<uint64_t> full_phases;
  std::atomic<int32_t> sections_writing;  // locked sections changing a shared file now
};

// The run's folder in each mount: RUN/p<k> for process k, RUN/shared/s<i>.
std::string SharedFilePath(const std::string& mount, const std::string& run, int file);

class TortureWorker {
 public:
  TortureWorker(const TortureOptions& options, int proc, std::string run, TortureShared* shared);
  ~TortureWorker();

  // Works until --seconds, --ops or another process's failure, then checks
  // its whole subtree on every mount. "" when clean, else the report.
  std::string Run();

 private:
  // An open descriptor of the subtree and what it reaches.
  struct Desc {
    int fd = -1;
    std::string path;  // at open; the inode may have been renamed or unlinked since
    std::shared_ptr<ModelInode> inode;
    bool append = false;
    bool direct = false;
    bool unsynced = false;  // wrote since its last fsync
    uint64_t phase = 0;     // full_phases when its unsynced writes began
  };

  Status Step();  // one random operation
  // The operations; each records itself in history_.
  Status OpCreate();
  Status OpOpen();
  Status OpClose();
  Status OpWriteDesc();
  Status OpWritePath();
  Status OpReadDesc();
  Status OpReadPath();
  Status OpTruncate();
  Status OpFallocate();
  Status OpFsync();
  Status OpRename();
  Status OpLink();
  Status OpUnlink();
  Status OpMkdir();
  Status OpRmdir();
  Status OpXattr();
  Status OpStat();
  Status OpList();
  Status OpLockedSection();   // torture_locked_section.cc
  Status OpPeek();            // torture_tree_check.cc: one file or listing through another mount
  Status OpSubtreeCheck();    // torture_tree_check.cc: the whole subtree through another mount
  // Every name of the subtree through mount `view` (0: our own): exact for
  // what settled before `before`, names and identity for the rest.
  Status CheckSubtree(int view, double before);
  Status CheckFileThrough(int view, const std::string& path);
  Status CheckListingThrough(int view, const std::string& dir);
  Status FinalCheck();
  // Its own mount closed for a client kill: fsyncs every descriptor, waits
  // until the mount is back, then drops the descriptors the kill ended.
  Status ParkIfClosed();
  // `err` of an operation begun in full phase `since` is an ENOSPC the fill
  // fault allows.
  bool NoSpaceAllowed(int err, uint64_t since) const;
  // After an allowed ENOSPC: the inode's content is unknown, so every
  // descriptor of it is closed and every name of it unlinked (`created`: a
  // name its failed create may not have made).
  Status ForgetInode(std::shared_ptr<ModelInode> inode, const std::string& what,
                     const std::string& created = "");
  uint64_t Phase() const { return shared_->full_phases.load(); }
  // Another process's operation through view `view`: false (and nothing
  // entered) while that mount is closed, unless `wait`, which waits for it.
  bool EnterView(int view, bool wait);
  void LeaveView(int view);
  int MountOf(int view) const { return (proc_ + view) % static_cast<int>(views_.size()); }

  // Paths and choices.
  std::string Abs(int view, const std::string& rel) const;
  int OtherView();
  uint64_t R(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  std::string RandomDir();
  std::string RandomPath();  // an existing name mostly, else a new one
  std::string RandomFilePath();
  std::string RandomBytes(size_t n);
  Desc* RandomDesc();
  void MarkWritten(Desc* d);
  void CloseDesc(size_t i);
  // Failure of check `check`: the Status a failing operation returns.
  Status Fail(const std::string& check, const std::string& detail);
  // errno `got` of `what` must be the model's `expected`.
  Status ExpectErrno(const std::string& check, const std::string& what, int expected, int got);
  // The settle point: changes older than this are visible on every mount.
  double SettledBefore() const;
  std::string Report(const Status& failure) const;

  const TortureOptions options_;
  const int proc_;
  const std::string run_;
  TortureShared* const shared_;
  std::vector<std::string> views_;  // views_[0] is our mount, then the others in turn
  std::mt19937_64 rng_;
  ModelTree model_;
  std::vector<Desc> descs_;
  OpHistory history_{kHistoryKept};
  uint64_t ops_ = 0;
  std::string last_check_;  // name of the failed check, for the report
};

// Steady clock, seconds.
double MonotonicSeconds();

}  // namespace scalefs::torture
