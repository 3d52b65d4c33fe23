#include "meta/pair_authority.h"

#include <glog/logging.h>

namespace scalefs::meta {

namespace {
const char* MemberName(uint32_t index) { return index == 0 ? "A" : "B"; }

Status CheckMember(const GrantRequest& req) {
  if (req.member_index() > 1) {
    return Status::Invalid("member index " + std::to_string(req.member_index()) +
                           " is not 0 (A) or 1 (B)");
  }
  return Status::OK();
}
}  // namespace

Result<GrantReply> PairAuthority::RequestSolo(const GrantRequest& req) {
  Status s = CheckMember(req);
  if (!s.ok()) return s;
  GrantReply reply;
  const uint32_t me = req.member_index() + 1;
  // Decided and persisted under the store's mutation lock, in one synced
  // batch: two members asking at once see each other's outcome.
  Result<Pair> r = store_->UpdatePair(req.pair_id(), [&](Pair* p) {
    if (p->solo() == me) {
      reply.set_granted(true);
      return false;  // already held: nothing to write
    }
    if (p->solo() != 0) {
      reply.set_reason("member " + std::string(MemberName(p->solo() - 1)) +
                       " holds the grant since generation " + std::to_string(p->generation()) +
                       "; you are outdated");
      return false;
    }
    if (req.generation() != p->generation()) {
      reply.set_reason("stale generation " + std::to_string(req.generation()) + ", pair is at " +
                       std::to_string(p->generation()) + "; you are outdated");
      return false;
    }
    p->set_solo(me);
    p->set_generation(p->generation() + 1);
    reply.set_granted(true);
    return true;
  });
  if (!r.ok()) return r.status();
  *reply.mutable_pair() = *r;
  LOG(INFO) << "pair " << r->name() << ": member " << MemberName(req.member_index())
            << (reply.granted() ? " holds the grant" : " refused the grant: " + reply.reason())
            << ", generation " << r->generation();
  return reply;
}

Result<GrantReply> PairAuthority::EndSolo(const GrantRequest& req) {
  Status s = CheckMember(req);
  if (!s.ok()) return s;
  GrantReply reply;
  const uint32_t me = req.member_index() + 1;
  Result<Pair> r = store_->UpdatePair(req.pair_id(), [&](Pair* p) {
    if (p->solo() == 0) {
      reply.set_granted(true);
      return false;
    }
    if (p->solo() != me) {
      reply.set_reason("member " + std::string(MemberName(p->solo() - 1)) +
                       " holds the grant, not you");
      return false;
    }
    p->set_solo(0);
    p->set_generation(p->generation() + 1);
    reply.set_granted(true);
    return true;
  });
  if (!r.ok()) return r.status();
  *reply.mutable_pair() = *r;
  LOG(INFO) << "pair " << r->name() << ": member " << MemberName(req.member_index())
            << (reply.granted() ? " ended its grant" : " cannot end the grant: " + reply.reason())
            << ", generation " << r->generation();
  return reply;
}

Result<Pair> PairAuthority::PairState(uint32_t pair_id) {
  return store_->UpdatePair(pair_id, [](Pair*) { return false; });
}

}  // namespace scalefs::meta
