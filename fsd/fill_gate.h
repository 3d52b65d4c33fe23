// Which inodes this client may hand read-ahead bytes to the kernel's page
// cache for (fuse_lowlevel_notify_store). Stored pages land without the page
// lock a local writer holds, so a store that overlapped a local write or
// truncate could put old bytes back over new ones and even grow the kernel's
// idea of the size. A fill therefore runs only while no handle of this client
// may write the inode, and a writer (a writable open, a truncate) waits for
// the fills in flight before it starts. Writes of other clients are seen at
// the next open, as for any cached page (close-to-open).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>

namespace scalefs {

class FillGate {
 public:
  // False while `ino` has a writer; else the caller fills, then calls EndFill.
  bool BeginFill(uint64_t ino);
  void EndFill(uint64_t ino);
  // Waits until no fill of `ino` is in flight, then holds fills off until
  // the matching EndWrite.
  void BeginWrite(uint64_t ino);
  void EndWrite(uint64_t ino);
  // Waits for the fills of `ino` in flight. An open calls it: the kernel
  // drops the inode's cached pages when the open is answered, and bytes a
  // fill fetched before the open must not land after that (close-to-open).
  void Fence(uint64_t ino);

 private:
  struct Counts {
    int writers = 0;
    int fills = 0;
  };
  void EraseIfIdleLocked(std::map<uint64_t, Counts>::iterator it);

  std::mutex mu_;
  std::condition_variable fills_done_;
  std::map<uint64_t, Counts> inodes_;
};

}  // namespace scalefs
