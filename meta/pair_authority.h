// Meta as the tie-breaker of every storage pair (DESIGN.md, "Split brain").
// A member that loses its peer may write alone only while it holds meta's
// grant; at most one member of a pair holds it, and every change of the
// grant bumps the pair's generation, so a member that missed a change can
// always tell it is stale.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "meta/meta_store.h"
#include "proto/meta.pb.h"

namespace scalefs::meta {

class PairAuthority {
 public:
  explicit PairAuthority(MetaStore* store) : store_(store) {}

  // Member `member_index` lost its peer and asks to write alone.
  //  - nobody holds the grant: granted if the member is at the pair's current
  //    generation (solo = member+1, generation+1); a member behind it missed
  //    a change and is refused as stale.
  //  - the member holds it already: granted again (the call is idempotent).
  //  - the other member holds it: refused, "you are outdated".
  // A refusal is an OK reply with granted=false; errors are for bad requests.
  Result<GrantReply> RequestSolo(const GrantRequest& req);
  // The grant holder resynced its peer: both write again (solo = 0,
  // generation+1). Idempotent once nobody holds the grant.
  Result<GrantReply> EndSolo(const GrantRequest& req);
  Result<Pair> PairState(uint32_t pair_id);

 private:
  MetaStore* const store_;
};

}  // namespace scalefs::meta
