// `scalefs verify` and `scalefs scrub`: compares the two members of one pair
// online, by each 4 KiB block's stored CRC32C and whether the member's bytes
// still match it (chunk Checksum with `stored`), both members asked at the
// same time. A block that differs is checked again a few times before it
// counts, since a write in flight (applied on the sequencer, not yet on its
// peer) makes the members differ for a moment. Repair takes the copy that
// matches its checksum: a member whose block is damaged mends it from its
// peer (chunk Repair); where both copies are sound but differ, member A
// pushes its copy to B (ResyncRange); where both are damaged, nothing is
// repaired. The members order either with client writes.
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
  uint64_t rate = 0;  // bytes/s both members read for the first pass; 0 = unlimited
  // Members read only the blocks that have a checksum (scrub); verify reads
  // every block, also data older than checksums.
  bool written_only = false;
};

// Indexes of the entries that differ (missing entries on one side differ).
std::vector<uint64_t> DifferingBlocks(const std::vector<uint32_t>& a,
                                      const std::vector<uint32_t>& b);

// The blocks found damaged (not matching their checksum), by member.
struct DamagedBlocks {
  RangeSet only[2];  // on member A only / B only: the other copy is good
  RangeSet both;     // on both members: nothing to repair from
};

// What Repair did, in blocks.
struct RepairCounts {
  uint64_t mended[2] = {0, 0};  // damaged blocks of A / B mended from the peer
  uint64_t pushed = 0;          // sound but differing blocks pushed from A to B
};

class ReplicaVerifier {
 public:
  // `a` and `b` are the members' stubs and outlive the verifier; the device
  // range compared is [0, capacity).
  ReplicaVerifier(chunk::Chunk::StubInterface* a, chunk::Chunk::StubInterface* b,
                  uint64_t capacity, VerifyOptions options = {});

  // Called after each range with the bytes compared so far.
  using Progress = std::function<void(uint64_t done, uint64_t total)>;

  // The blocks that differ between the members or are damaged on either,
  // merged into ranges; an error when a member cannot be asked. damaged()
  // says which of them are damaged where.
  Result<RangeSet> Verify(const Progress& progress = nullptr);
  // The part of `ranges` that still differs, re-checked as Verify does.
  Result<RangeSet> Recheck(const RangeSet& ranges);
  // Repairs `ranges` (from the last Verify or Recheck) as the file comment
  // says, one 1 MiB region at a time. kNotSupported when member A does not
  // implement ResyncRange.
  Status Repair(const RangeSet& ranges, RepairCounts* counts = nullptr);
  // Of the last Verify or Recheck.
  const DamagedBlocks& damaged() const { return damaged_; }

  uint64_t blocks() const { return (capacity_ + options_.block_size - 1) / options_.block_size; }

 private:
  // Adds to `out` the blocks of [offset, offset+length) that differ now, and
  // to `damaged` those damaged on either member.
  Status Compare(uint64_t offset, uint64_t length, RangeSet* out, DamagedBlocks* damaged);
  Status CallRepair(int member, uint64_t offset, uint64_t length, uint64_t* mended);
  Status CallResyncRange(uint64_t offset, uint64_t length);

  chunk::Chunk::StubInterface* const members_[2];
  const uint64_t capacity_;
  const VerifyOptions options_;
  DamagedBlocks damaged_;
};

}  // namespace scalefs
