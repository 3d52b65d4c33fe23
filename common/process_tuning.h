// Process-wide settings every scalefs program applies at start.
#pragma once

namespace scalefs {

// - Debian's absl is built without NDEBUG, so its mutexes run deadlock
//   detection (a lock-order graph update) on every lock gRPC takes.
// - glibc serves the data path's 256 KiB-4 MiB buffers with a fresh mmap
//   each, so every request page-faults and zeroes its buffer again; keeping
//   them in the heap lets them be reused.
void TuneProcess();

}  // namespace scalefs
