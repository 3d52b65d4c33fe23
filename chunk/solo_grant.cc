// PairReplicator's side of meta's grant to write alone (RequestSolo, and
// meta's PairState polled by the monitor): who may write without the peer,
// and when this member is outdated. EndSolo is given back by the resync.
#include "chunk/pair_replicator.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

#include "chunk/peer_call.h"
#include "common/layout.h"
#include "common/rpc_channel.h"
#include "common/rpc_status.h"

namespace scalefs {

namespace {
using Clock = std::chrono::steady_clock;
// For the two hosts' clocks running at slightly different rates.
constexpr auto kLeaseMargin = std::chrono::milliseconds(50);
}  // namespace

// The peer serves reads while a confirmation it asked for is younger than
// Lease(): from us (an Info answer saying we do not write alone) or from meta
// (PairState saying nobody does). Every such confirmation was asked before
// meta granted us and before we took the grant, so all of them have run out
// by Lease() after now, on the peer's clock: only then may a write it does
// not have be acknowledged, or a client could read the old bytes from it
// right after. (DRBD's fencing freezes I/O until the peer is outdated for the
// same reason.) The first writes after a failover wait up to Lease().
void PairReplicator::WaitOutPeerLease() {
  Clock::time_point until;
  {
    std::lock_guard<std::mutex> l(mu_);
    until = solo_acks_from_;
  }
  if (Clock::now() < until) std::this_thread::sleep_until(until);
}

std::unique_ptr<meta::Meta::Stub> PairReplicator::MetaStub() {
  const std::string addr =
      options_.meta_address.empty() ? state_->membership().meta_address : options_.meta_address;
  if (addr.empty()) return nullptr;
  std::lock_guard<std::mutex> l(mu_);
  if (!meta_channel_ || meta_stub_address_ != addr) {
    meta_channel_ = NewChannel(addr, Role::kMeta);
    meta_stub_address_ = addr;
  }
  return meta::Meta::NewStub(meta_channel_);
}

void PairReplicator::MarkOutdated(const std::string& why) {
  std::lock_guard<std::mutex> l(mu_);
  if (conn_ == Conn::kSyncTarget || solo_) return;  // BEGIN/END or our grant decide
  if (disk_ != Disk::kOutdated) LOG(WARNING) << "outdated: " << why;
  disk_ = Disk::kOutdated;
  outdated_reason_ = why;
  if (conn_ == Conn::kConnected || conn_ == Conn::kSyncSource) conn_ = Conn::kWFConnection;
}

Status PairReplicator::EnsureSolo(const std::string& why) {
  std::lock_guard<std::mutex> g(grant_mu_);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (solo_) {
      if (conn_ == Conn::kConnected || conn_ == Conn::kSyncSource) {
        LOG(WARNING) << "lost peer while holding the grant: " << why;
        conn_ = Conn::kWFConnection;
        peer_disk_ = "Outdated";
      }
      return Status::OK();
    }
    if (disk_ == Disk::kOutdated) {
      return Status::Stale("outdated: peer holds the grant (" + outdated_reason_ + ")");
    }
    if (conn_ == Conn::kSyncTarget || disk_ == Disk::kInconsistent) {
      return Status::Stale("Inconsistent: resync from peer in progress");
    }
  }
  const Membership m = state_->membership();
  auto stub = MetaStub();
  if (!stub) {
    return Status::Unavailable("peer unreachable (" + why +
                               ") and no meta address to ask for the grant: writes blocked");
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(options_.meta_timeout_ms));
  meta::GrantRequest req;
  req.set_pair_id(m.pair_id);
  req.set_member_index(m.member_index);
  req.set_generation(m.generation);
  meta::GrantReply reply;
  Status s = FromGrpc(stub->RequestSolo(&ctx, req, &reply), "RequestSolo");
  if (!s.ok()) {
    if (s.code() == Status::Code::kUnavailable) {
      return Status::Unavailable("cannot reach peer (" + why + ") nor meta (" + s.message() +
                                 "): writes blocked");
    }
    return s;
  }
  if (!reply.granted()) {
    MarkOutdated("meta refused the grant: " + reply.reason());
    return Status::Stale("outdated: pair generation " +
                         std::to_string(reply.pair().generation()) + ", " + reply.reason());
  }
  s = state_->SetGeneration(reply.pair().generation());
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> l(mu_);
  solo_ = true;
  solo_acks_from_ = Clock::now() + Lease() + kLeaseMargin;
  disk_ = Disk::kUpToDate;
  conn_ = Conn::kWFConnection;
  peer_disk_ = "Outdated";
  LOG(WARNING) << "writing alone with meta's grant at generation " << reply.pair().generation()
               << " (" << why << ")";
  return Status::OK();
}

void PairReplicator::PollMeta(const Membership& m) {
  const Clock::time_point asked = Clock::now();
  auto stub = MetaStub();
  if (!stub) return;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(std::min(options_.meta_timeout_ms,
                                                      options_.monitor_interval_ms * 2)));
  meta::PairStateRequest req;
  req.set_pair_id(m.pair_id);
  meta::Pair pair;
  if (!stub->PairState(&ctx, req, &pair).ok()) return;
  const uint32_t me = m.member_index + 1;
  const Membership now = state_->membership();
  // A reply older than what we adopted meanwhile (END of a resync) is stale.
  if (pair.generation() < now.generation) return;
  if (pair.solo() == me) {
    // We hold the grant (e.g. after a restart): our data is the pair's.
    if (!state_->SetGeneration(pair.generation()).ok()) return;
    std::lock_guard<std::mutex> l(mu_);
    if (!solo_) {
      LOG(WARNING) << "meta says this member holds the grant";
      solo_acks_from_ = Clock::now() + Lease() + kLeaseMargin;
    }
    solo_ = true;
    disk_ = Disk::kUpToDate;
    if (conn_ == Conn::kConnected) conn_ = Conn::kWFConnection;
    return;
  }
  if (pair.solo() != 0) {
    MarkOutdated("member " + std::string(MemberLetter(pair.solo() - 1)) +
                 " holds the grant at generation " + std::to_string(pair.generation()));
    return;
  }
  if (pair.generation() > now.generation) {
    MarkOutdated("pair moved to generation " + std::to_string(pair.generation()) +
                 " without us (we are at " + std::to_string(now.generation) + ")");
    return;
  }
  // Nobody writes alone and we are at the pair's generation: our data is as
  // current as any acknowledged write.
  std::lock_guard<std::mutex> l(mu_);
  if (disk_ == Disk::kConsistent && !peer_reachable_) disk_ = Disk::kUpToDate;
  if (disk_ == Disk::kUpToDate) confirmed_at_ = std::max(confirmed_at_, asked);
}

}  // namespace scalefs
