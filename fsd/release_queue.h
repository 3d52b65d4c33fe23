// Files whose last handle on this client closed, on their way to meta
// (meta::FileRelease): the session's open of each ends there, and the space
// the client's create preallocated or its writer allocated ahead and never
// wrote goes back. A close must not wait for a call of its own, and a loop
// of creates should not pay one per file: releases wait here up to `delay`
// and go out together, from a thread of their own, in one Release call.
//
// A file opened again before its release left takes it back (Take): its
// open at meta never ended, and no trim frees space this client is about to
// write into.
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
#include "fsd/holdings_gate.h"
#include "proto/meta.pb.h"

namespace scalefs {

// Space a client allocated ahead of its writes and did not write, with the
// file's alloc_gen as that client's own last allocation change left it.
struct AheadSpace {
  std::vector<meta::ByteRange> ranges;
  uint64_t alloc_gen = 0;
};

class ReleaseQueue {
 public:
  using Sender = std::function<Status(const meta::ReleaseRequest&)>;
  static constexpr std::chrono::milliseconds kDefaultDelay{20};
  // A file with no space to give back (most closes of readers) waits longer:
  // a file opened again meanwhile (a build reads its headers over and over)
  // never costs meta a release, and the rest go out in fewer calls. Only an
  // unlinked file's space waits for it, that much longer.
  static constexpr std::chrono::milliseconds kDefaultCloseDelay{1000};
  static constexpr size_t kMaxFilesPerCall = 256;

  // `gate`, when given, holds a reclaim off while a call is out: the inodes
  // it carries count as open (Pending) until it lands.
  explicit ReleaseQueue(Sender send, std::chrono::milliseconds delay = kDefaultDelay,
                        std::chrono::milliseconds close_delay = kDefaultCloseDelay,
                        HoldingsGate* gate = nullptr);
  // Sends what is left.
  ~ReleaseQueue();
  ReleaseQueue(const ReleaseQueue&) = delete;
  ReleaseQueue& operator=(const ReleaseQueue&) = delete;

  // The last handle of `ino` closed; `space` is what to give back.
  void Add(uint64_t ino, AheadSpace space);
  // The queued release of `ino`, no longer queued (its space is returned);
  // waits while a call that carries it is in flight, so a release that went
  // out reached meta before whatever the caller sends next.
  AheadSpace Take(uint64_t ino);
  // Sends everything queued now, on this thread, and returns once every
  // release queued or in flight has reached meta; false if there was none.
  bool Flush();

  size_t queued() const;
  // The inodes queued or in a call in flight.
  std::vector<uint64_t> Pending() const;

 private:
  struct Entry {
    AheadSpace space;
    std::chrono::steady_clock::time_point since;
  };
  void Run();
  std::chrono::steady_clock::time_point DueLocked(const Entry& e) const;
  // Up to kMaxFilesPerCall entries that are due (any, with `all`), marked
  // in flight.
  // *next_due: when the earliest entry left is due.
  std::vector<meta::FileRelease> TakeDueLocked(
      bool all, std::chrono::steady_clock::time_point* next_due = nullptr);
  void Send(const std::vector<meta::FileRelease>& batch);

  const Sender send_;
  HoldingsGate* const gate_;
  const std::chrono::milliseconds delay_;
  const std::chrono::milliseconds close_delay_;
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
