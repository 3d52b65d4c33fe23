// `scalefs verify`: compares the two members of one pair online, by chunk
// Checksum over ranges of the device, both members asked at the same time.
// A block that differs is checked again a few times before it counts, since
// a write in flight (applied on the sequencer, not yet on its peer) makes
// the members differ for a moment. Repair asks member A to push its copy of
// a range to B (ResyncRange), which the members order with client writes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "fsd/range_set.h"
#include "proto/chunk.grpc.pb.h"

namespace scalefs {

struct VerifyOptions {
  uint64_t range_bytes = 16 << 20;  // per Checksum call
  uint32_t block_size = 4096;
  // Pauses before each re-check of the blocks that still differ.
  std::vector<int> recheck_delays_ms = {20, 100, 300, 1000};
  int rpc_timeout_ms = 120000;
};

// Indexes of the entries that differ (missing entries on one side differ).
std::vector<uint64_t> DifferingBlocks(const std::vector<uint32_t>& a,
                                      const std::vector<uint32_t>& b);

class ReplicaVerifier {
 public:
  // `a` and `b` are the members' stubs and outlive the verifier; the device
  // range compared is [0, capacity).
  ReplicaVerifier(chunk::Chunk::StubInterface* a, chunk::Chunk::StubInterface* b,
                  uint64_t capacity, VerifyOptions options = {});

  // Called after each range with the bytes compared so far.
  using Progress = std::function<void(uint64_t done, uint64_t total)>;

  // The blocks that differ between the members, merged into ranges; an
  // error when a member cannot be asked.
  Result<RangeSet> Verify(const Progress& progress = nullptr);
  // The part of `ranges` that still differs, re-checked as Verify does.
  Result<RangeSet> Recheck(const RangeSet& ranges);
  // ResyncRange on member A over `ranges`, one 1 MiB region at a time.
  // kNotSupported when the member does not implement it.
  Status Repair(const RangeSet& ranges);

  uint64_t blocks() const { return (capacity_ + options_.block_size - 1) / options_.block_size; }

 private:
  // Adds to `out` the blocks of [offset, offset+length) that differ now.
  Status Compare(uint64_t offset, uint64_t length, RangeSet* out);

  chunk::Chunk::StubInterface* const members_[2];
  const uint64_t capacity_;
  const VerifyOptions options_;
};

}  // namespace scalefs
