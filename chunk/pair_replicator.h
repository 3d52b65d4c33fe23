// The DRBD part of a member: protocol C replication to the pair peer with both
// members primary. Writes are acknowledged only after both replicas applied
// them, and concurrent writes through the two members converge (see Write).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "chunk/block_device.h"
#include "chunk/member_state.h"
#include "common/status.h"
#include "proto/chunk.grpc.pb.h"

namespace scalefs {

class PairReplicator {
 public:
  // The device is cut into regions; each region is sequenced by one member.
  static constexpr uint64_t kRegionSize = 1 << 20;
  static uint32_t SequencerOf(uint64_t offset) {
    return static_cast<uint32_t>((offset / kRegionSize) % 2);
  }

  // `device` and `state` outlive the replicator. `peer_address` is the
  // configured peer (host:port); calls to it time out after peer_timeout_ms.
  PairReplicator(BlockDevice* device, MemberState* state, std::string peer_address,
                 int peer_timeout_ms);

  const std::string& peer_address() const { return peer_address_; }

  // A client write (forwarded=false) or the part of one the peer handed us
  // because we sequence it (forwarded=true). OK only once both members have
  // applied every byte.
  Status Write(uint64_t offset, std::string_view data, bool forwarded);
  // Applies a write the peer already ordered, locally only.
  Status Replicate(uint64_t offset, std::string_view data, uint64_t generation);
  // fdatasync here and, unless local_only, on the peer at the same time.
  Status Flush(bool local_only);
  // Meta's `pair add`: checks the request against this member's configuration
  // and persists it.
  Status Join(const Membership& m);

 private:
  // Orders and applies one piece inside a region this member sequences.
  Status WriteSequenced(uint64_t offset, std::string_view piece, const Membership& m);
  std::mutex& RegionLock(uint64_t offset) {
    return region_locks_[(offset / kRegionSize / 2) % region_locks_.size()];
  }

  BlockDevice* const device_;
  MemberState* const state_;
  const std::string peer_address_;
  const int peer_timeout_ms_;
  std::unique_ptr<chunk::Chunk::Stub> peer_;
  // Striped: a region maps to one mutex; two regions sharing one only
  // serialize more than needed.
  std::array<std::mutex, 256> region_locks_;
};

}  // namespace scalefs
