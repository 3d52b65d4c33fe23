// Every FUSE operation of a mount timed in one place: TimedOps wraps each
// entry of the operation table, so the operations themselves know nothing
// of metrics (nor of naming their caller to meta: the wrapper also holds the
// RequestCallerScope of fsd/caller.h). A wrapper finds the mount's ClientMetrics through the
// session's userdata (ScalefsFuse::metrics(); none: not timed).
#pragma once

#include "fsd/fuse_ops.h"

namespace scalefs {

// `ops` with every operation that has one wrapped.
fuse_lowlevel_ops TimedOps(const fuse_lowlevel_ops& ops);

}  // namespace scalefs
