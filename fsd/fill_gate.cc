#include "fsd/fill_gate.h"

#include <glog/logging.h>

namespace scalefs {

bool FillGate::BeginFill(uint64_t ino) {
  std::lock_guard lock(mu_);
  Counts& c = inodes_[ino];
  if (c.writers > 0) return false;
  c.fills++;
  return true;
}

void FillGate::EndFill(uint64_t ino) {
  std::lock_guard lock(mu_);
  auto it = inodes_.find(ino);
  CHECK(it != inodes_.end() && it->second.fills > 0) << "EndFill without BeginFill, inode " << ino;
  if (--it->second.fills == 0) fills_done_.notify_all();
  EraseIfIdleLocked(it);
}

void FillGate::BeginWrite(uint64_t ino) {
  std::unique_lock lock(mu_);
  // Counted before waiting, so no new fill starts meanwhile.
  inodes_[ino].writers++;
  fills_done_.wait(lock, [&] { return inodes_[ino].fills == 0; });
}

void FillGate::EndWrite(uint64_t ino) {
  std::lock_guard lock(mu_);
  auto it = inodes_.find(ino);
  CHECK(it != inodes_.end() && it->second.writers > 0)
      << "EndWrite without BeginWrite, inode " << ino;
  it->second.writers--;
  EraseIfIdleLocked(it);
}

void FillGate::Fence(uint64_t ino) {
  BeginWrite(ino);
  EndWrite(ino);
}

void FillGate::EraseIfIdleLocked(std::map<uint64_t, Counts>::iterator it) {
  if (it->second.writers == 0 && it->second.fills == 0) inodes_.erase(it);
}

}  // namespace scalefs
