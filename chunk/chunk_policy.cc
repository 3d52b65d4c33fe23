#include "chunk/chunk_policy.h"

#include "proto/chunk.grpc.pb.h"

namespace scalefs {

MethodPolicy ChunkPolicy() {
  const RoleMask member = Mask(Role::kMember);
  const std::pair<const char*, RoleMask> methods[] = {
      // A mount's I/O; the peer forwards writes and flushes too.
      {"Read", Role::kClient | Role::kMember | Role::kAdmin},
      // Admins write too: `scalefs rebalance` copies extents between pairs.
      {"Write", Role::kClient | Role::kMember | Role::kAdmin},
      {"WriteBatch", Role::kClient | Role::kMember | Role::kAdmin},
      {"Flush", Role::kClient | Role::kMember | Role::kAdmin},
      // Between the two members of a pair only.
      {"Replicate", member},
      {"SyncState", member},
      // Meta joins a member to its pair; a member joins its peer.
      {"Join", Role::kMeta | Role::kMember},
      // State, for meta's probes, the peer and `scalefs status`.
      {"Info", Role::kMeta | Role::kMember | Role::kAdmin},
      // `scalefs verify [--repair]`.
      {"Checksum", Role::kAdmin | Role::kMember},
      // verify --repair; a member asks the region's sequencer (its peer)
      // to push a block it found damaged.
      {"ResyncRange", Role::kAdmin | Role::kMember},
      // verify, scrub: mend this member's damaged blocks from its peer.
      {"Repair", Mask(Role::kAdmin)},
  };
  MethodPolicy policy;
  for (const auto& [name, roles] : methods) {
    policy["/" + std::string(chunk::Chunk::service_full_name()) + "/" + name] = roles;
  }
  return policy;
}

}  // namespace scalefs
