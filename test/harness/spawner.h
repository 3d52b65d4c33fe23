// Starts a cluster's daemons and mounts from a process forked before the
// test opened anything: a process forked from the test itself copies the
// descriptors its threads hold open on a mount, and closing them (close on
// exec, or at exit) sends FUSE FLUSH, which a client answers only once meta
// has the file's commit. A meta restarted while a worker wrote thus hung in
// its own exec until the client gave up (EIO). The daemons are children of
// the spawner; the test follows each through a pidfd.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace scalefs::test {

struct Spawned {
  pid_t pid = -1;
  int pidfd = -1;  // readable once the process has exited
};

// Runs argv[0] with argv, stdin /dev/null, stdout and stderr appended to
// `log`, in a process group of its own. The spawner starts on first use.
Result<Spawned> Spawn(const std::vector<std::string>& argv, const std::string& log);

// Waits until the process of `pidfd` has exited (timeout_ms < 0: for ever);
// true if it has.
bool WaitSpawned(int pidfd, int timeout_ms);

}  // namespace scalefs::test
