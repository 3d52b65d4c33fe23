// This member's place in a storage pair, kept in a small state file beside the
// device so a restarted member remembers its pair, its peer and its generation.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

namespace scalefs {

struct Membership {
  std::string pair_name;      // empty while unjoined
  uint32_t pair_id = 0;
  uint32_t member_index = 0;  // 0 = A, 1 = B
  std::string peer_address;
  uint64_t generation = 0;
  uint64_t capacity = 0;      // bytes of the pair device: min of both members
  std::string meta_address;   // where to ask for grants (given by meta at join)

  bool joined() const { return !pair_name.empty(); }
  bool operator==(const Membership&) const = default;
};

class MemberState {
 public:
  // Loads the state file at `path`, or creates it (unjoined, with a new
  // device uuid) on the member's first start.
  static Result<std::unique_ptr<MemberState>> Open(const std::string& path);

  Membership membership() const;
  std::string device_uuid() const;
  const std::string& path() const { return path_; }

  // Records membership `m` durably. Re-joining the same pair with the same
  // values is a no-op; a newer generation of the same pair replaces it; a
  // different pair is refused (Exists), an older generation is Stale.
  Status Join(const Membership& m);

  // OK when joined; otherwise the Stale status every write answers with.
  Status CheckJoined() const;

  // Adopts a newer pair generation (a grant changed), durably. An older one
  // is refused as Stale.
  Status SetGeneration(uint64_t generation);
  // The peer's device uuid as this member last saw it: a different one means
  // the peer's device was replaced and needs a full sync.
  std::string peer_device_uuid() const;
  Status SetPeerDeviceUuid(const std::string& uuid);

 private:
  MemberState(std::string path, std::string uuid, Membership m)
      : path_(std::move(path)), device_uuid_(std::move(uuid)), membership_(std::move(m)) {}
  // Write temp + fsync + rename + fsync dir: the file is the old or the new
  // record after a crash, never a torn mix. Called with mu_ held (or before
  // the object is shared).
  Status Save(const Membership& m) const;

  const std::string path_;
  const std::string device_uuid_;
  mutable std::mutex mu_;
  Membership membership_;  // guarded by mu_
  std::string peer_device_uuid_;  // guarded by mu_
};

}  // namespace scalefs
