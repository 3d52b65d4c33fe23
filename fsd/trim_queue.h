// Space this client's creates preallocated and its closed files never wrote,
// on its way back to meta (meta::FileTrim). A close must not wait for a call
// of its own, and a loop of creates should not pay one per file: the trims
// wait here up to `delay` and go out together, from a thread of their own,
// in one Trim call.
//
// A file opened again before its trim left takes its space back (Take), so
// a trim never frees space this client is about to write into.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"
#include "proto/meta.pb.h"

namespace scalefs {

// Space a client allocated ahead of its writes and did not write, with the
// file's alloc_gen as that client's own last allocation change left it.
struct AheadSpace {
  std::vector<meta::ByteRange> ranges;
  uint64_t alloc_gen = 0;
};

class TrimQueue {
 public:
  using Sender = std::function<Status(const meta::TrimRequest&)>;
  static constexpr std::chrono::milliseconds kDefaultDelay{20};
  static constexpr size_t kMaxFilesPerCall = 256;

  explicit TrimQueue(Sender send, std::chrono::milliseconds delay = kDefaultDelay);
  // Sends what is left.
  ~TrimQueue();
  TrimQueue(const TrimQueue&) = delete;
  TrimQueue& operator=(const TrimQueue&) = delete;

  void Add(uint64_t ino, AheadSpace space);
  // The queued space of `ino`, no longer queued; waits while a call that
  // carries it is in flight.
  AheadSpace Take(uint64_t ino);
  // Sends everything queued now, on this thread.
  void Flush();

  size_t queued() const;

 private:
  struct Entry {
    AheadSpace space;
    std::chrono::steady_clock::time_point since;
  };
  void Run();
  // Up to kMaxFilesPerCall entries that are due (any, with `all`), marked
  // in flight.
  std::vector<meta::FileTrim> TakeDueLocked(bool all);
  void Send(const std::vector<meta::FileTrim>& batch);

  const Sender send_;
  const std::chrono::milliseconds delay_;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // the thread: something queued, or stop
  std::condition_variable landed_;   // Take: a call in flight ended
  std::map<uint64_t, Entry> queued_;
  std::map<uint64_t, int> in_flight_;
  bool stop_ = false;
  bool idle_ = false;  // the thread waits with nothing queued
  std::thread thread_;
};

}  // namespace scalefs
