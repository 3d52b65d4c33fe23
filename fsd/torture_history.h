// The last operations of one torture process, with wall-clock timestamps:
// what a failure report shows as the history that led to it.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

namespace scalefs::torture {

class OpHistory {
 public:
  explicit OpHistory(size_t keep) : keep_(keep) {}

  // Begin also writes "#index what" into buf (NUL-terminated, cut to cap):
  // where a process that hangs was, for the runner to tell.
  void MirrorTo(char* buf, size_t cap) {
    mirror_ = buf;
    mirror_cap_ = cap;
  }
  // Starts the record of operation number `index` (from 1).
  void Begin(uint64_t index, std::string what);
  // The answer of the operation begun last ("ok", "ENOENT", "4096 bytes").
  void End(const std::string& result);
  // One line per operation, oldest first:
  // "  2026-12-01 21:40:07.123  #42  write p3/f1 [4096,+512) -> ok".
  std::string Format() const;
  size_t size() const { return records_.size(); }

 private:
  struct Record {
    int64_t wall_us;
    uint64_t index;
    std::string what;
    std::string result;
  };
  size_t keep_;
  std::deque<Record> records_;
  char* mirror_ = nullptr;
  size_t mirror_cap_ = 0;
};

// "ENOENT" for ENOENT, "0" for 0.
std::string ErrnoName(int err);

}  // namespace scalefs::torture
