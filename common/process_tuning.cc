#include "common/process_tuning.h"

#include <absl/synchronization/mutex.h>
#include <malloc.h>

namespace scalefs {

void TuneProcess() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Above the largest chunk request (kMaxIoSize plus framing)...
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  // ...and freed memory is kept for the next request rather than returned,
  // up to 16 MiB in each of at most 4 arenas, so memory stays bounded with
  // the client's hundred threads.
  mallopt(M_TRIM_THRESHOLD, 16 << 20);
  mallopt(M_ARENA_MAX, 4);
}

}  // namespace scalefs
