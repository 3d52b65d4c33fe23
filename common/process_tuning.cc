#include "common/process_tuning.h"

#include <absl/synchronization/mutex.h>
#include <malloc.h>

namespace scalefs {

void TuneProcess() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Above the largest chunk request (kMaxIoSize plus framing)...
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  // ...and freed memory is kept for the next request rather than returned.
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

}  // namespace scalefs
