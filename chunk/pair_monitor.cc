// PairReplicator's monitor thread: pings the peer (reconnects, or drives the
// handshake of pair_resync.cc), polls meta (solo_grant.cc) and clears the
// activity log of regions idle a whole period.
#include "chunk/pair_replicator.h"

#include <algorithm>
#include <chrono>

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

namespace scalefs {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

void PairReplicator::MonitorLoop() {
  auto last_al_sync = Clock::now();
  for (bool first = true;; first = false) {
    if (!first) {
      std::unique_lock<std::mutex> l(monitor_mu_);
      monitor_cv_.wait_for(l, std::chrono::milliseconds(options_.monitor_interval_ms),
                           [this] { return stop_; });
    }
    {
      std::lock_guard<std::mutex> l(monitor_mu_);
      if (stop_) return;
    }
    const Membership m = state_->membership();
    if (!m.joined()) continue;
    PollMeta(m);
    PingPeer(state_->membership());
    if (Clock::now() - last_al_sync > std::chrono::seconds(1)) {
      // Lazy activity-log clearing: regions not written since before the
      // previous period are on disk after this sync and equal on both
      // members (their writes were acknowledged). A region must stay idle a
      // whole period, so a busy one is not re-marked (and synced) over and over.
      last_al_sync = Clock::now();
      const uint64_t epoch = dirty_->StartSyncEpoch();
      if (device_->Sync().ok()) {
        dirty_->ClearIdle(epoch - 1);
        Status s = dirty_->Persist();
        if (!s.ok()) LOG(WARNING) << s.ToString();
      }
    }
  }
}

bool PairReplicator::PeerAnswers() {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(std::min(options_.peer_timeout_ms, 1000)));
  chunk::InfoReply info;
  return peer_->Info(&ctx, chunk::InfoRequest(), &info).ok();
}

void PairReplicator::PingPeer(const Membership& m) {
  // A confirmation counts from when it was asked for, not answered.
  const Clock::time_point asked = Clock::now();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(std::min(options_.peer_timeout_ms, 1000)));
  chunk::InfoReply info;
  const bool ok = peer_->Info(&ctx, chunk::InfoRequest(), &info).ok();
  bool drive = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    peer_reachable_ = ok;
    ping_failures_ = ok ? 0 : ping_failures_ + 1;
    if (!ok) {
      // One slow ping on a loaded host is not a lost peer: replication
      // failures degrade at once, pings only after a few in a row.
      if (ping_failures_ < 3) return;
      if (conn_ == Conn::kConnected || conn_ == Conn::kSyncSource || conn_ == Conn::kStandAlone) {
        LOG(WARNING) << "peer " << options_.peer_address << " unreachable";
        conn_ = Conn::kWFConnection;
      }
      peer_disk_ = "DUnknown";
      return;
    }
    if (conn_ == Conn::kSyncTarget || disk_ == Disk::kOutdated || disk_ == Disk::kInconsistent) {
      return;  // the peer drives
    }
    const bool peer_joined = !info.pair_name().empty();
    // An unjoined peer is a new device only once meta had time to join it:
    // right after `pair add` joined us, it is about to join the peer too.
    if (peer_joined) {
      peer_unjoined_since_ = {};
    } else {
      if (peer_unjoined_since_ == Clock::time_point{}) peer_unjoined_since_ = Clock::now();
      if (!solo_ && Clock::now() - peer_unjoined_since_ < std::chrono::seconds(3)) return;
    }
    if (info.connection_state() == "Connected" && info.generation() == m.generation &&
        !info.solo() && !solo_ && disk_ == Disk::kUpToDate &&
        (conn_ == Conn::kConnected || conn_ == Conn::kWFConnection)) {
      // Pings failed for a while but nobody took the grant meanwhile (the
      // generation is unchanged), so nothing diverged: simply connected again.
      if (conn_ != Conn::kConnected) LOG(INFO) << "peer " << options_.peer_address << " back";
      conn_ = Conn::kConnected;
      peer_disk_ = "UpToDate";
      confirmed_at_ = std::max(confirmed_at_, asked);
      return;
    }
    // The member with the newer data drives: the grant holder, else the
    // higher generation, else A.
    drive = solo_ || !peer_joined || info.pair_id() != m.pair_id ||
            m.generation > info.generation() ||
            (m.generation == info.generation() && !info.solo() && m.member_index == 0);
  }
  if (!drive) return;
  Status s = Handshake(m, info);
  if (!s.ok()) {
    LOG_EVERY_N(WARNING, 10) << "handshake with " << options_.peer_address << ": "
                             << s.ToString();
  }
}

}  // namespace scalefs
