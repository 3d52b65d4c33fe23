#include "fsd/fuse_op_timing.h"

#include <chrono>
#include <tuple>

#include "fsd/caller.h"
#include "fsd/client_metrics.h"

namespace scalefs {

namespace {

ClientMetrics* MetricsOf(fuse_req_t req) {
  return static_cast<ScalefsFuse*>(fuse_req_userdata(req))->metrics();
}

// The wrapper of operation table entry `Field`, counted as `kOp`. The
// wrapped function is the table's, kept once per entry like the table.
template <auto Field, FuseOp kOp>
struct Timed;

template <typename... Args, void (*fuse_lowlevel_ops::*Field)(fuse_req_t, Args...), FuseOp kOp>
struct Timed<Field, kOp> {
  static inline void (*inner)(fuse_req_t, Args...) = nullptr;

  static void Call(fuse_req_t req, Args... args) {
    // Taken before the call: its reply frees req.
    RequestCallerScope caller(req);
    ClientMetrics* m = MetricsOf(req);
    if (m == nullptr) return inner(req, args...);
    // read and write also count the bytes the kernel asked for.
    if constexpr (kOp == FuseOp::kRead) {
      m->ReadRequest(std::get<1>(std::forward_as_tuple(args...)));  // (ino, size, ...)
    } else if constexpr (kOp == FuseOp::kWrite) {
      m->WriteRequest(std::get<2>(std::forward_as_tuple(args...)));  // (ino, buf, size, ...)
    }
    const auto start = std::chrono::steady_clock::now();
    inner(req, args...);
    m->Op(kOp, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  static void Wrap(const fuse_lowlevel_ops& in, fuse_lowlevel_ops* out) {
    if (in.*Field == nullptr) return;
    inner = in.*Field;
    out->*Field = &Call;
  }
};

}  // namespace

fuse_lowlevel_ops TimedOps(const fuse_lowlevel_ops& in) {
  fuse_lowlevel_ops out = in;
  using O = fuse_lowlevel_ops;
  Timed<&O::lookup, FuseOp::kLookup>::Wrap(in, &out);
  Timed<&O::getattr, FuseOp::kGetAttr>::Wrap(in, &out);
  Timed<&O::setattr, FuseOp::kSetAttr>::Wrap(in, &out);
  Timed<&O::readlink, FuseOp::kReadLink>::Wrap(in, &out);
  Timed<&O::mknod, FuseOp::kMknod>::Wrap(in, &out);
  Timed<&O::mkdir, FuseOp::kMkdir>::Wrap(in, &out);
  Timed<&O::unlink, FuseOp::kUnlink>::Wrap(in, &out);
  Timed<&O::rmdir, FuseOp::kRmdir>::Wrap(in, &out);
  Timed<&O::symlink, FuseOp::kSymlink>::Wrap(in, &out);
  Timed<&O::rename, FuseOp::kRename>::Wrap(in, &out);
  Timed<&O::link, FuseOp::kLink>::Wrap(in, &out);
  Timed<&O::open, FuseOp::kOpen>::Wrap(in, &out);
  Timed<&O::read, FuseOp::kRead>::Wrap(in, &out);
  Timed<&O::write, FuseOp::kWrite>::Wrap(in, &out);
  Timed<&O::flush, FuseOp::kFlush>::Wrap(in, &out);
  Timed<&O::release, FuseOp::kRelease>::Wrap(in, &out);
  Timed<&O::fsync, FuseOp::kFsync>::Wrap(in, &out);
  Timed<&O::opendir, FuseOp::kOpenDir>::Wrap(in, &out);
  Timed<&O::readdir, FuseOp::kReadDir>::Wrap(in, &out);
  Timed<&O::readdirplus, FuseOp::kReadDirPlus>::Wrap(in, &out);
  Timed<&O::releasedir, FuseOp::kReleaseDir>::Wrap(in, &out);
  Timed<&O::fsyncdir, FuseOp::kFsyncDir>::Wrap(in, &out);
  Timed<&O::statfs, FuseOp::kStatFs>::Wrap(in, &out);
  Timed<&O::setxattr, FuseOp::kSetXattr>::Wrap(in, &out);
  Timed<&O::getxattr, FuseOp::kGetXattr>::Wrap(in, &out);
  Timed<&O::listxattr, FuseOp::kListXattr>::Wrap(in, &out);
  Timed<&O::removexattr, FuseOp::kRemoveXattr>::Wrap(in, &out);
  Timed<&O::access, FuseOp::kAccess>::Wrap(in, &out);
  Timed<&O::create, FuseOp::kCreate>::Wrap(in, &out);
  Timed<&O::fallocate, FuseOp::kFallocate>::Wrap(in, &out);
  Timed<&O::getlk, FuseOp::kGetLk>::Wrap(in, &out);
  Timed<&O::setlk, FuseOp::kSetLk>::Wrap(in, &out);
  Timed<&O::flock, FuseOp::kFlock>::Wrap(in, &out);
  return out;
}

}  // namespace scalefs
