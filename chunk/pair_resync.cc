// PairReplicator's resync: the handshake with the peer (SyncState QUERY,
// BEGIN, END), copying the dirty map's regions under the region locks, and
// ResyncRange for verify --repair.
#include "chunk/pair_replicator.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

#include "chunk/peer_call.h"
#include "common/block_crc.h"
#include "common/layout.h"
#include "common/rpc_channel.h"
#include "common/rpc_status.h"

namespace scalefs {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

Result<uint64_t> PairReplicator::ResyncRange(uint64_t offset, uint64_t length) {
  const Membership m = state_->membership();
  if (!m.joined()) return Status::Stale("not a member of a pair yet");
  if (offset + length < offset || offset + length > m.capacity) {
    return Status::Range("resync range beyond pair capacity of " + std::to_string(m.capacity));
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    if (disk_ != Disk::kUpToDate ||
        (conn_ != Conn::kConnected && conn_ != Conn::kSyncSource)) {
      return Status::Unavailable(std::string("cannot push to the peer: ") + ConnName(conn_) + " " +
                                 DiskName(disk_));
    }
  }
  uint64_t sent = 0;
  for (uint64_t pos = offset; pos < offset + length;) {
    const uint64_t region = pos / kRegionSize;
    const uint64_t piece_end = std::min(offset + length, (region + 1) * kRegionSize);
    std::lock_guard<std::mutex> lock(RegionLock(region));
    Result<uint64_t> n = PushChecked(pos, piece_end - pos, state_->membership());
    if (!n.ok()) return n.status();
    sent += *n;
    pos = piece_end;
  }
  resynced_total_ += sent;
  return sent;
}

Result<uint64_t> PairReplicator::PushChecked(uint64_t offset, uint64_t length,
                                             const Membership& m) {
  std::string buf;
  std::vector<uint64_t> bad;
  Status s = device_->Read(offset, length, &buf, &bad);
  if (!s.ok() && s.code() != Status::Code::kCorrupt) return s;
  // Runs of the range between the blocks that failed their check here: those
  // are never sent, so a damaged copy does not spread (the peer keeps its
  // own, which its next read or scrub checks).
  for (uint64_t at : bad) {
    metrics_->bad_blocks.Increment();
    LOG(ERROR) << "resync: block at device offset " << at
               << " does not match its checksum here; not sent to peer "
               << options_.peer_address;
  }
  uint64_t sent = 0;
  uint64_t run = offset;
  auto send = [&](uint64_t end) -> Status {
    if (end <= run) return Status::OK();
    const std::string_view data = std::string_view(buf).substr(run - offset, end - run);
    // The data's checksums travel with it and the peer checks them.
    Status r = PeerReplicate(run, data, m, true, PieceCrcs(run, data));
    if (r.ok()) sent += end - run;
    return r;
  };
  for (uint64_t at : bad) {
    const uint64_t block_start = std::max(at, offset);
    s = send(block_start);
    if (!s.ok()) return s;
    run = std::min(offset + length, at + kBlockSize);
  }
  s = send(offset + length);
  if (!s.ok()) return s;
  return sent;
}

Status PairReplicator::SyncState(const chunk::SyncStateRequest& req,
                                 chunk::SyncStateReply* reply) {
  const Membership m = state_->membership();
  reply->set_joined(m.joined());
  reply->set_pair_id(m.pair_id);
  reply->set_generation(m.generation);
  reply->set_device_uuid(state_->device_uuid());
  reply->set_device_size(device_->size());
  if (req.phase() == chunk::SyncStateRequest::QUERY) {
    std::lock_guard<std::mutex> l(mu_);
    reply->set_solo(solo_);
    reply->set_disk_state(DiskName(disk_));
    reply->set_dirty_regions(dirty_->DirtyBits());
    return Status::OK();
  }
  if (!m.joined() || req.pair_id() != m.pair_id) {
    return Status::Invalid("sync request for pair " + std::to_string(req.pair_id()) +
                           ", this member belongs to pair id " + std::to_string(m.pair_id));
  }
  if (req.generation() < m.generation) {
    return Status::Stale("sync request at stale generation " + std::to_string(req.generation()) +
                         " < ours " + std::to_string(m.generation));
  }
  if (req.phase() == chunk::SyncStateRequest::BEGIN) {
    // Waits for our own sequenced writes to finish, so their activity-log
    // bits are in the reply and nothing of ours is in flight once we are
    // SyncTarget.
    LockAllRegions();
    Status s;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (solo_) s = Status::Stale("this member holds the grant; it is the sync source");
    }
    if (s.ok()) s = state_->SetGeneration(req.generation());
    if (s.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      conn_ = Conn::kSyncTarget;
      disk_ = Disk::kInconsistent;
      peer_disk_ = "UpToDate";
      reply->set_dirty_regions(dirty_->DirtyBits());
      reply->set_disk_state(DiskName(disk_));
    }
    UnlockAllRegions();
    if (s.ok()) LOG(INFO) << "SyncTarget: peer " << options_.peer_address << " resyncs us";
    return s;
  }
  // END: the source copied every dirty region to us.
  {
    std::lock_guard<std::mutex> l(mu_);
    if (conn_ != Conn::kSyncTarget) {
      return Status::Stale(std::string("sync END while ") + ConnName(conn_) + ", not SyncTarget");
    }
  }
  Status s = state_->SetGeneration(req.generation());
  if (s.ok()) s = dirty_->ClearAllOutOfSync();
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> l(mu_);
  conn_ = Conn::kConnected;
  disk_ = Disk::kUpToDate;
  peer_disk_ = "UpToDate";
  outdated_reason_.clear();
  confirmed_at_ = Clock::now();
  reply->set_disk_state(DiskName(disk_));
  LOG(INFO) << "Connected UpToDate/UpToDate at generation " << req.generation();
  return Status::OK();
}

Status PairReplicator::CallSyncState(chunk::SyncStateRequest::Phase phase, uint64_t generation,
                                     uint32_t pair_id, chunk::SyncStateReply* reply) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(options_.peer_timeout_ms));
  chunk::SyncStateRequest req;
  req.set_phase(phase);
  req.set_generation(generation);
  req.set_pair_id(pair_id);
  return FromGrpc(peer_->SyncState(&ctx, req, reply), "SyncState " + options_.peer_address);
}

Status PairReplicator::Handshake(const Membership& m, const chunk::InfoReply& peer) {
  auto stand_alone = [&](const std::string& why) {
    std::lock_guard<std::mutex> l(mu_);
    if (conn_ != Conn::kStandAlone) LOG(ERROR) << "refusing peer " << options_.peer_address << ": " << why;
    conn_ = Conn::kStandAlone;
    return Status::Invalid(why);
  };
  // Bad peers are refused with a clear message and nothing is written.
  if (peer.peer_address() != options_.listen_address) {
    return stand_alone("peer " + options_.peer_address + " is configured with peer " +
                       peer.peer_address() + ", not this member (" + options_.listen_address + ")");
  }
  const bool peer_joined = !peer.pair_name().empty();
  if (peer_joined && (peer.pair_id() != m.pair_id || peer.pair_name() != m.pair_name)) {
    return stand_alone("peer " + options_.peer_address + " belongs to pair " + peer.pair_name() +
                       " (id " + std::to_string(peer.pair_id()) + "), not " + m.pair_name);
  }
  if (peer.device_size() < m.capacity) {
    return stand_alone("peer device of " + std::to_string(peer.device_size()) +
                       " bytes is smaller than the pair capacity of " +
                       std::to_string(m.capacity) + " bytes");
  }
  if (peer_joined && peer.member_index() == m.member_index) {
    return stand_alone("peer " + options_.peer_address + " is member " +
                       MemberLetter(peer.member_index()) + " too");
  }
  bool full = false;
  if (!peer_joined) {
    // A new, empty device: join it to our pair, then copy everything.
    chunk::JoinRequest jr;
    jr.set_pair_name(m.pair_name);
    jr.set_pair_id(m.pair_id);
    jr.set_member_index(1 - m.member_index);
    jr.set_peer_address(options_.listen_address);
    jr.set_generation(m.generation);
    jr.set_capacity(m.capacity);
    jr.set_meta_address(m.meta_address);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options_.peer_timeout_ms));
    chunk::JoinReply jrep;
    Status s = FromGrpc(peer_->Join(&ctx, jr, &jrep), "join peer " + options_.peer_address);
    if (!s.ok()) return s;
    LOG(WARNING) << "peer " << options_.peer_address << " has a new device (uuid "
                 << peer.device_uuid() << "): joined it, full sync";
    full = true;
  } else if (!state_->peer_device_uuid().empty() &&
             state_->peer_device_uuid() != peer.device_uuid()) {
    LOG(WARNING) << "peer device changed from " << state_->peer_device_uuid() << " to "
                 << peer.device_uuid() << ": full sync";
    full = true;
  }
  chunk::SyncStateReply q;
  Status s = CallSyncState(chunk::SyncStateRequest::QUERY, m.generation, m.pair_id, &q);
  if (!s.ok()) return s;
  bool solo;
  {
    std::lock_guard<std::mutex> l(mu_);
    solo = solo_;
  }
  if (!solo && (q.solo() || q.generation() > m.generation)) {
    MarkOutdated("peer is at generation " + std::to_string(q.generation()) +
                 (q.solo() ? " holding the grant" : ""));
    return Status::OK();  // the peer drives
  }
  if (full) {
    dirty_->SetAllOutOfSync();
  }
  s = dirty_->MergeOutOfSync(q.dirty_regions());
  if (!s.ok()) return s;
  s = state_->SetPeerDeviceUuid(q.device_uuid());
  if (!s.ok()) return s;
  if ((dirty_->OutOfSyncCount() > 0 || q.generation() != m.generation) && !solo) {
    // The peer is Inconsistent while we copy: only with the grant, so it
    // cannot take the pair over half-synced if we die.
    s = EnsureSolo("resync of peer");
    if (!s.ok()) return s;
  }
  const Membership g = state_->membership();
  chunk::SyncStateReply b;
  s = CallSyncState(chunk::SyncStateRequest::BEGIN, g.generation, g.pair_id, &b);
  if (!s.ok()) return s;
  s = dirty_->MergeOutOfSync(b.dirty_regions());
  if (!s.ok()) return s;
  {
    std::lock_guard<std::mutex> l(mu_);
    conn_ = Conn::kSyncSource;
    peer_disk_ = "Inconsistent";
    confirmed_at_ = Clock::now();
  }
  LOG(INFO) << "SyncSource: " << dirty_->OutOfSyncCount() << " regions to copy to "
            << options_.peer_address;
  for (int round = 0;; ++round) {
    s = ResyncRegions(g);
    if (!s.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      if (conn_ == Conn::kSyncSource) conn_ = Conn::kWFConnection;
      return s;
    }
    LockAllRegions();
    if (dirty_->OutOfSyncCount() == 0) break;
    UnlockAllRegions();  // writes marked more regions meanwhile: copy them too
  }
  // Every region is equal now and no write is in flight (all region locks
  // held): give the grant back, then let the peer in.
  bool was_solo;
  {
    std::lock_guard<std::mutex> l(mu_);
    was_solo = solo_;
  }
  if (was_solo) {
    auto stub = MetaStub();
    meta::GrantReply reply;
    s = stub ? Status::OK() : Status::Unavailable("no meta address");
    if (s.ok()) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(options_.meta_timeout_ms));
      meta::GrantRequest req;
      req.set_pair_id(g.pair_id);
      req.set_member_index(g.member_index);
      req.set_generation(g.generation);
      s = FromGrpc(stub->EndSolo(&ctx, req, &reply), "EndSolo");
      if (s.ok() && !reply.granted()) s = Status::Stale("meta refused EndSolo: " + reply.reason());
    }
    if (s.ok()) s = state_->SetGeneration(reply.pair().generation());
    if (!s.ok()) {
      UnlockAllRegions();  // stay SyncSource with the grant; the next tick retries
      return s;
    }
    std::lock_guard<std::mutex> l(mu_);
    solo_ = false;
  }
  s = dirty_->Persist();
  const uint64_t gen = state_->membership().generation;
  chunk::SyncStateReply e;
  if (s.ok()) s = CallSyncState(chunk::SyncStateRequest::END, gen, g.pair_id, &e);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (s.ok()) {
      conn_ = Conn::kConnected;
      disk_ = Disk::kUpToDate;
      peer_disk_ = "UpToDate";
      confirmed_at_ = Clock::now();
      metrics_->resyncs.Increment();
      LOG(INFO) << "Connected UpToDate/UpToDate at generation " << gen;
    } else {
      conn_ = Conn::kWFConnection;
    }
  }
  UnlockAllRegions();
  return s;
}

Status PairReplicator::SendRegion(uint64_t region, uint64_t capacity, uint64_t generation,
                                  uint32_t pair_id) {
  std::lock_guard<std::mutex> lock(RegionLock(region));
  if (!dirty_->IsOutOfSync(region)) return Status::OK();
  const uint64_t start = region * kRegionSize;
  if (start >= capacity) {
    dirty_->ClearOutOfSync(region);
    return Status::OK();
  }
  const uint64_t len = std::min(kRegionSize, capacity - start);
  Membership m = state_->membership();
  m.generation = generation;
  m.pair_id = pair_id;
  Result<uint64_t> sent = PushChecked(start, len, m);
  if (!sent.ok()) return sent.status();
  dirty_->ClearOutOfSync(region);
  resynced_total_ += len;
  return Status::OK();
}

Status PairReplicator::ResyncRegions(const Membership& m) {
  const std::vector<uint64_t> regions = dirty_->OutOfSyncRegions();
  sync_total_ = regions.size() * kRegionSize;
  sync_done_ = 0;
  const auto start = Clock::now();
  for (uint64_t r : regions) {
    {
      std::lock_guard<std::mutex> l(monitor_mu_);
      if (stop_) return Status::Unavailable("stopping");
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      if (conn_ != Conn::kSyncSource) return Status::Unavailable("peer lost during resync");
    }
    Status s = SendRegion(r, m.capacity, m.generation, m.pair_id);
    if (!s.ok()) return s;
    sync_done_ += kRegionSize;
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    if (secs > 0) sync_rate_ = static_cast<uint64_t>(static_cast<double>(sync_done_) / secs);
    if (options_.resync_rate > 0) {
      // Rate limit: never ahead of resync_rate bytes/s since the start.
      const auto due = start + std::chrono::microseconds(static_cast<int64_t>(
                                   1e6 * static_cast<double>(sync_done_) /
                                   static_cast<double>(options_.resync_rate)));
      std::this_thread::sleep_until(due);
    }
  }
  return Status::OK();
}

}  // namespace scalefs
