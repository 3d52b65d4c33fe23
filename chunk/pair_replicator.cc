// PairReplicator: protocol C replication of client writes to the peer, per-region
// sequencing, reads and flushes (see pair_replicator.h). The grant protocol
// with meta is in solo_grant.cc, resync in pair_resync.cc, repair of damaged
// blocks in block_repair.cc, the monitor thread in pair_monitor.cc.
#include "chunk/pair_replicator.h"

#include <algorithm>
#include <chrono>
#include <string>
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
std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
  return NewChannel(address, Role::kMember);
}

// The checksums of [from, to) of a write at `offset` whose PieceCrcs are
// `all`; from and to are block boundaries (region edges) or its ends.
google::protobuf::RepeatedField<uint32_t> SliceCrcs(
    const google::protobuf::RepeatedField<uint32_t>& all, uint64_t offset, uint64_t from,
    uint64_t to) {
  google::protobuf::RepeatedField<uint32_t> out;
  if (all.empty()) return out;
  const uint64_t base = RoundDown(offset, kBlockSize);
  const uint64_t first = (RoundDown(from, kBlockSize) - base) / kBlockSize;
  const uint64_t last = (RoundDown(to - 1, kBlockSize) - base) / kBlockSize;
  for (uint64_t i = first; i <= last && i < static_cast<uint64_t>(all.size()); ++i) {
    out.Add(all[static_cast<int>(i)]);
  }
  return out;
}
}  // namespace

const char* PairReplicator::ConnName(Conn c) {
  switch (c) {
    case Conn::kWFConnection: return "WFConnection";
    case Conn::kConnected: return "Connected";
    case Conn::kSyncSource: return "SyncSource";
    case Conn::kSyncTarget: return "SyncTarget";
    case Conn::kStandAlone: return "StandAlone";
  }
  return "?";
}

const char* PairReplicator::DiskName(Disk d) {
  switch (d) {
    case Disk::kConsistent: return "Consistent";
    case Disk::kUpToDate: return "UpToDate";
    case Disk::kOutdated: return "Outdated";
    case Disk::kInconsistent: return "Inconsistent";
  }
  return "?";
}

PairReplicator::PairReplicator(CheckedDevice* device, MemberState* state, DirtyMap* dirty,
                               ChunkMetrics* metrics, PairReplicatorOptions options)
    : device_(device),
      state_(state),
      dirty_(dirty),
      metrics_(metrics),
      options_(std::move(options)) {
  peer_ = chunk::Chunk::NewStub(Channel(options_.peer_address));
}

PairReplicator::~PairReplicator() { Stop(); }

void PairReplicator::Start() {
  monitor_ = std::thread([this] { MonitorLoop(); });
  repairer_ = std::thread([this] { RepairLoop(); });
}

void PairReplicator::Stop() {
  {
    std::lock_guard<std::mutex> l(monitor_mu_);
    stop_ = true;
  }
  monitor_cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
  {
    std::lock_guard<std::mutex> l(repair_mu_);
    repair_stop_ = true;
  }
  repair_cv_.notify_all();
  if (repairer_.joinable()) repairer_.join();
}

std::chrono::milliseconds PairReplicator::Lease() const {
  // Shorter than the time the peer needs to notice us gone and take the
  // grant (its replicate deadline), so a frozen member stops serving reads
  // before its peer can write alone.
  return std::chrono::milliseconds(std::max(200, options_.peer_timeout_ms / 2));
}

void PairReplicator::LockAllRegions() {
  for (auto& m : region_locks_) m.lock();
}
void PairReplicator::UnlockAllRegions() {
  for (auto it = region_locks_.rbegin(); it != region_locks_.rend(); ++it) it->unlock();
}

Status PairReplicator::CheckServing(bool write) {
  const Membership m = state_->membership();
  if (!m.joined()) return Status::Stale("not a member of a pair yet");
  std::lock_guard<std::mutex> l(mu_);
  if (conn_ == Conn::kSyncTarget) {
    return Status::Stale("Inconsistent: resync from peer " + options_.peer_address +
                         " in progress");
  }
  if (conn_ == Conn::kStandAlone) {
    return Status::Stale("StandAlone: refusing the configured peer (see the log)");
  }
  if (disk_ == Disk::kOutdated) {
    return Status::Stale("outdated: pair generation " + std::to_string(m.generation) +
                         ", peer holds the grant (" + outdated_reason_ + ")");
  }
  if (write) return Status::OK();  // the write path decides about the peer
  if (disk_ != Disk::kUpToDate) {
    return Status::Unavailable("not yet known to be up to date (waiting for peer or meta)");
  }
  if (!solo_ && Clock::now() - confirmed_at_ > Lease()) {
    return Status::Unavailable("neither peer nor meta confirmed this member is current lately");
  }
  return Status::OK();
}

Status PairReplicator::Read(uint64_t offset, uint64_t length, std::string* out,
                            std::vector<uint32_t>* crcs) {
  Status s = CheckServing(false);
  if (!s.ok()) return s;
  std::vector<uint64_t> bad;
  s = device_->Read(offset, length, out, &bad, crcs);
  // A mismatch can be a write to the block racing with the read through
  // the page cache; one that holds on a second look is damage.
  if (s.code() == Status::Code::kCorrupt) {
    bad.clear();
    s = device_->Read(offset, length, out, &bad, crcs);
  }
  if (s.code() == Status::Code::kCorrupt) {
    metrics_->bad_blocks.Increment(static_cast<double>(bad.size()));
    for (uint64_t at : bad) {
      LOG(ERROR) << "read: block at device offset " << at
                 << " does not match its checksum; repairing it from peer "
                 << options_.peer_address;
    }
    QueueRepair(bad);
  }
  return s;
}

Status PairReplicator::Write(const chunk::WriteRequest& req) {
  const uint64_t offset = req.offset();
  const std::string& data = req.data();
  Status s = device_->CheckRange("write", offset, data.size());
  if (!s.ok()) return s;
  const Membership m = state_->membership();
  if (!m.joined()) return Status::Stale("not a member of a pair yet");
  if (offset + data.size() > m.capacity) {
    return Status::Range("write [" + std::to_string(offset) + ", " +
                         std::to_string(offset + data.size()) + ") beyond pair capacity of " +
                         std::to_string(m.capacity) + " bytes");
  }
  if (data.empty()) return Status::OK();
  const uint64_t end = offset + data.size();

  if (req.forwarded()) {
    if (req.pair_id() != m.pair_id) {
      return Status::Invalid("forwarded write from pair " + std::to_string(req.pair_id()) +
                             " but this member belongs to pair " + m.pair_name + " (id " +
                             std::to_string(m.pair_id) + "): not our peer");
    }
    if (req.generation() != m.generation) {
      return Status::Stale("forwarded write at generation " + std::to_string(req.generation()) +
                           ", this member is at " + std::to_string(m.generation));
    }
    bool sequence_all = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (solo_ || (conn_ != Conn::kConnected && conn_ != Conn::kSyncSource)) {
        return Status::Stale(std::string("not connected to the peer (") + ConnName(conn_) +
                             (solo_ ? ", holding the grant" : "") + ")");
      }
      sequence_all = conn_ == Conn::kSyncSource;
    }
    if (offset / kRegionSize != (end - 1) / kRegionSize ||
        (!sequence_all && SequencerOf(offset) != m.member_index)) {
      // The peer forwards only single pieces we sequence; anything else would
      // loop between the members or bypass the region's sequencer.
      return Status::Invalid("forwarded write [" + std::to_string(offset) + ", " +
                             std::to_string(end) +
                             ") is not inside one region sequenced by us (member " +
                             std::to_string(m.member_index) + ")");
    }
    return WriteSequenced({offset, data, req.crc32c()});
  }

  bool sequence_all = false;
  s = AdmitClientWrite(&sequence_all);
  if (!s.ok()) return s;

  // Split at region boundaries. Pieces the peer sequences go to it as
  // forwarded writes, all at once; our own pieces are ordered here meanwhile.
  using Forward = PeerCall<chunk::WriteRequest, chunk::WriteReply>;
  struct Pending {
    uint64_t offset;
    Piece piece;
    std::unique_ptr<Forward> call;
  };
  std::vector<Pending> forwards;
  Status result;
  uint64_t pos = offset;
  while (pos < end) {
    const uint64_t piece_end = std::min(end, (pos / kRegionSize + 1) * kRegionSize);
    Piece piece{pos, std::string_view(data).substr(pos - offset, piece_end - pos),
                SliceCrcs(req.crc32c(), offset, pos, piece_end)};
    if (sequence_all || SequencerOf(pos) == m.member_index) {
      Status ps = WriteSequenced(piece);
      if (result.ok() && !ps.ok()) result = ps;
    } else {
      auto f = std::make_unique<Forward>();
      f->request.set_offset(pos);
      f->request.set_data(piece.data.data(), piece.data.size());
      *f->request.mutable_crc32c() = piece.crcs;
      f->request.set_forwarded(true);
      f->request.set_generation(m.generation);
      f->request.set_pair_id(m.pair_id);
      f->SetDeadline(options_.peer_timeout_ms);
      peer_->async()->Write(&f->ctx, &f->request, &f->reply, f->Callback());
      forwards.push_back({pos, std::move(piece), std::move(f)});
    }
    pos = piece_end;
  }
  for (auto& f : forwards) {
    Status fs = FromGrpc(f.call->done.get_future().get(),
                         "forward write to peer " + options_.peer_address);
    if (!fs.ok() && (fs.code() == Status::Code::kUnavailable ||
                     fs.code() == Status::Code::kStale)) {
      // The peer is gone or refuses us: with meta's grant we sequence the
      // piece ourselves; without it the write fails (EnsureSolo says why).
      Status gs = EnsureSolo(fs.message());
      fs = gs.ok() ? WriteSequenced(f.piece) : gs;
    }
    if (result.ok() && !fs.ok()) result = fs;
  }
  if (!result.ok()) {
    LOG_EVERY_N(WARNING, 50) << "write at " << offset << " failed: " << result.ToString();
  }
  return result;
}

Status PairReplicator::AdmitClientWrite(bool* sequence_all) {
  Status s = CheckServing(true);
  if (!s.ok()) return s;
  bool need_grant = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    need_grant = conn_ == Conn::kWFConnection && !solo_;
  }
  if (need_grant && PeerAnswers()) {
    // Not connected yet, but the peer is there: the handshake comes first
    // (taking the grant now would cost the pair a resync for nothing).
    monitor_cv_.notify_all();
    return Status::Unavailable("waiting for the handshake with peer " + options_.peer_address);
  }
  if (need_grant) {
    s = EnsureSolo("peer " + options_.peer_address + " unreachable");
    if (!s.ok()) return s;
  }
  std::lock_guard<std::mutex> l(mu_);
  *sequence_all = solo_ || conn_ == Conn::kSyncSource;
  return Status::OK();
}

Status PairReplicator::WriteBatch(const chunk::WriteBatchRequest& req) {
  const Membership m = state_->membership();
  if (!m.joined()) return Status::Stale("not a member of a pair yet");
  // Every range is checked before any is applied: a bad batch changes nothing.
  for (const chunk::WriteRange& r : req.ranges()) {
    const uint64_t offset = r.offset(), end = r.offset() + r.data().size();
    Status s = device_->CheckRange("batched write", offset, r.data().size());
    if (!s.ok()) return s;
    if (end > m.capacity) {
      return Status::Range("batched write [" + std::to_string(offset) + ", " +
                           std::to_string(end) + ") beyond pair capacity of " +
                           std::to_string(m.capacity) + " bytes");
    }
    if (r.data().empty() || offset / kRegionSize != (end - 1) / kRegionSize) {
      return Status::Invalid("batched write [" + std::to_string(offset) + ", " +
                             std::to_string(end) + ") is empty or crosses a 1 MiB region");
    }
  }
  bool sequence_all = false;
  Status s = AdmitClientWrite(&sequence_all);
  if (!s.ok()) return s;
  std::vector<Piece> ours;
  Status result;
  for (const chunk::WriteRange& r : req.ranges()) {
    if (sequence_all || SequencerOf(r.offset()) == m.member_index) {
      ours.push_back({r.offset(), r.data(), r.crc32c()});
    } else {
      // Sent here because the client failed over: forwarded one by one.
      chunk::WriteRequest w;
      w.set_offset(r.offset());
      w.set_data(r.data());
      *w.mutable_crc32c() = r.crc32c();
      Status ws = Write(w);
      if (result.ok() && !ws.ok()) result = ws;
    }
  }
  if (!ours.empty()) {
    Status bs = WriteSequencedBatch(ours);
    if (result.ok() && !bs.ok()) result = bs;
  }
  return result;
}

Status PairReplicator::WriteSequencedBatch(const std::vector<Piece>& pieces) {
  // Per-region sequencing by one member: this member orders every write to
  // the region. Holding the region lock across BOTH applies (local pwrite and
  // the peer's Replicate) means no other write to the region can slip in
  // between, so the peer applies the region's writes in exactly our order and
  // the two replicas end byte-identical whatever the client interleaving.
  // The mode is read under the lock too, so a resync that copies this region
  // (under the same lock) sees either our out-of-sync mark or our replicate.
  // A batch takes its regions' locks in index order, as LockAllRegions does,
  // so batches never deadlock.
  std::vector<uint64_t> regions, locks;
  for (const Piece& piece : pieces) {
    regions.push_back(piece.offset / kRegionSize);
    locks.push_back(regions.back() % region_locks_.size());
  }
  for (auto* v : {&regions, &locks}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  std::vector<std::unique_lock<std::mutex>> held;
  held.reserve(locks.size());
  for (uint64_t i : locks) held.emplace_back(region_locks_[i]);
  bool replicate = false, solo = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    replicate = conn_ == Conn::kConnected || conn_ == Conn::kSyncSource;
    solo = solo_;
  }
  if (!replicate && !solo) {
    Status s = EnsureSolo("peer not connected");
    if (!s.ok()) return s;
  }
  const Membership m = state_->membership();
  size_t begun = 0;
  struct EndWrites {
    DirtyMap* d;
    const std::vector<uint64_t>& r;
    const size_t& n;
    ~EndWrites() {
      for (size_t i = 0; i < n; ++i) d->EndWrite(r[i], r[i]);
    }
  } end_writes{dirty_, regions, begun};
  // Activity log: the regions are marked on disk before the bytes change.
  // BeginWrite counts the region in flight even when it fails: EndWrite it.
  for (uint64_t r : regions) {
    Status s = dirty_->BeginWrite(r, r);
    ++begun;
    if (!s.ok()) return s;
  }
  auto write_local = [&]() {
    Status result;
    std::vector<uint64_t> damaged;
    for (const Piece& piece : pieces) {
      Status s = device_->Write(piece.offset, piece.data, piece.crcs, &damaged);
      if (result.ok() && !s.ok()) result = s;
    }
    RepairAfterWrite(damaged);
    return result;
  };
  auto mark_all_out_of_sync = [&]() {
    for (uint64_t r : regions) {
      Status s = dirty_->MarkOutOfSync(r);
      if (!s.ok()) return s;
    }
    return Status::OK();
  };
  if (!replicate) {
    // Alone with the grant: the peer will need these regions.
    Status s = mark_all_out_of_sync();
    if (s.ok()) s = write_local();
    if (s.ok()) WaitOutPeerLease();
    return s;
  }
  // Protocol C with the peer in parallel with the local writes, not after.
  PeerCall<chunk::ReplicateRequest, chunk::WriteReply> call;
  for (const Piece& piece : pieces) {
    chunk::WriteRange* r = call.request.add_batch();
    r->set_offset(piece.offset);
    r->set_data(piece.data.data(), piece.data.size());
    // The sender's checksums travel on: the peer checks them too.
    *r->mutable_crc32c() = piece.crcs;
  }
  call.request.set_generation(m.generation);
  call.request.set_pair_id(m.pair_id);
  call.SetDeadline(options_.peer_timeout_ms);
  peer_->async()->Replicate(&call.ctx, &call.request, &call.reply, call.Callback());
  Status local = write_local();
  Status remote =
      FromGrpc(call.done.get_future().get(), "replicate batch to peer " + options_.peer_address);
  if (!local.ok()) return local;
  if (remote.ok()) {
    uint64_t bytes = 0;
    for (const Piece& piece : pieces) bytes += piece.data.size();
    metrics_->replicated_bytes.Increment(static_cast<double>(bytes));
    return remote;
  }
  if (remote.code() != Status::Code::kUnavailable && remote.code() != Status::Code::kStale) {
    return remote;
  }
  // The peer did not apply them: acknowledging is safe only with meta's
  // grant (then the regions are out of sync); otherwise the write fails.
  Status s = EnsureSolo(remote.message());
  if (!s.ok()) return s;
  s = mark_all_out_of_sync();
  if (s.ok()) WaitOutPeerLease();
  return s;
}

Status PairReplicator::PeerReplicate(uint64_t offset, std::string_view data, const Membership& m,
                                     bool resync, const std::vector<uint32_t>& crcs) {
  PeerCall<chunk::ReplicateRequest, chunk::WriteReply> call;
  call.request.mutable_crc32c()->Add(crcs.begin(), crcs.end());
  call.request.set_offset(offset);
  call.request.set_data(data.data(), data.size());
  call.request.set_generation(m.generation);
  call.request.set_pair_id(m.pair_id);
  call.request.set_resync(resync);
  call.SetDeadline(options_.peer_timeout_ms);
  peer_->async()->Replicate(&call.ctx, &call.request, &call.reply, call.Callback());
  return FromGrpc(call.done.get_future().get(), "replicate to peer " + options_.peer_address);
}

Status PairReplicator::WriteSequenced(const Piece& piece) {
  return WriteSequencedBatch({piece});
}

Status PairReplicator::Replicate(const chunk::ReplicateRequest& req) {
  Status s = device_->CheckRange("replicate", req.offset(), req.data().size());
  if (!s.ok()) return s;
  const Membership m = state_->membership();
  if (!m.joined()) return Status::Stale("not a member of a pair yet");
  if (req.pair_id() != m.pair_id) {
    return Status::Invalid("replicate from pair " + std::to_string(req.pair_id()) +
                           " but this member belongs to pair " + m.pair_name + " (id " +
                           std::to_string(m.pair_id) + "): not our peer");
  }
  if (req.generation() < m.generation) {
    return Status::Stale("stale generation " + std::to_string(req.generation()) + " < ours " +
                         std::to_string(m.generation) + ": the sender is outdated");
  }
  if (req.generation() > m.generation) {
    MarkOutdated("peer is at generation " + std::to_string(req.generation()) + ", we are at " +
                 std::to_string(m.generation));
    return Status::Stale("outdated: peer is at generation " + std::to_string(req.generation()) +
                         ", this member at " + std::to_string(m.generation));
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    if (solo_) {
      return Status::Stale("outdated sender: this member holds the grant at generation " +
                           std::to_string(m.generation));
    }
    if (conn_ != Conn::kConnected && conn_ != Conn::kSyncTarget && conn_ != Conn::kSyncSource) {
      return Status::Stale(std::string("not connected to the peer (") + ConnName(conn_) + ")");
    }
  }
  // No region lock: the sequencer holds it across this call, so replicated
  // writes to a region arrive one at a time and in its order.
  if (req.batch_size() > 0) {
    for (const chunk::WriteRange& r : req.batch()) {
      s = device_->CheckRange("replicate", r.offset(), r.data().size());
      if (!s.ok()) return s;
    }
    for (const chunk::WriteRange& r : req.batch()) {
      const uint64_t first = r.offset() / kRegionSize;
      const uint64_t last =
          r.data().empty() ? first : (r.offset() + r.data().size() - 1) / kRegionSize;
      s = dirty_->BeginWrite(first, last);
      std::vector<uint64_t> damaged;
      if (s.ok()) s = device_->Write(r.offset(), r.data(), r.crc32c(), &damaged);
      RepairAfterWrite(damaged);
      dirty_->EndWrite(first, last);
      if (!s.ok()) return s;
    }
    return Status::OK();
  }
  const uint64_t first = req.offset() / kRegionSize;
  const uint64_t last = req.data().empty() ? first : (req.offset() + req.data().size() - 1) / kRegionSize;
  s = dirty_->BeginWrite(first, last);
  std::vector<uint64_t> damaged;
  if (s.ok()) s = device_->Write(req.offset(), req.data(), req.crc32c(), &damaged);
  RepairAfterWrite(damaged);
  dirty_->EndWrite(first, last);
  return s;
}

Status PairReplicator::Flush(bool local_only) {
  // The activity log is cleared by the monitor only, for regions idle a
  // whole period: clearing here would cost a bitmap sync on the next write
  // of every file that is written and fsynced in turn.
  if (local_only) return device_->Sync();  // data and checksums
  Status s = CheckServing(true);
  if (!s.ok()) return s;
  bool with_peer = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    with_peer = conn_ == Conn::kConnected || conn_ == Conn::kSyncSource;
    if (!with_peer && !solo_) {
      return Status::Unavailable(std::string("peer not connected (") + ConnName(conn_) + ")");
    }
  }
  if (!with_peer) return device_->Sync();
  PeerCall<chunk::FlushRequest, chunk::FlushReply> call;
  call.request.set_local_only(true);
  call.SetDeadline(options_.peer_timeout_ms);
  peer_->async()->Flush(&call.ctx, &call.request, &call.reply, call.Callback());
  Status local = device_->Sync();
  Status remote =
      FromGrpc(call.done.get_future().get(), "flush on peer " + options_.peer_address);
  if (!local.ok()) return local;
  if (remote.ok()) return remote;
  // Writes acknowledged so far reached both members; a peer that cannot
  // flush them any more is a lost peer, handled like a failed replicate.
  return EnsureSolo(remote.message());
}

Status PairReplicator::Join(const Membership& m) {
  if (m.peer_address != options_.peer_address) {
    return Status::Invalid("join names peer " + m.peer_address +
                           " but this member is configured with peer " + options_.peer_address);
  }
  if (m.capacity > device_->size()) {
    return Status::Invalid("pair capacity " + std::to_string(m.capacity) +
                           " exceeds this device of " + std::to_string(device_->size()) +
                           " bytes");
  }
  Status s = state_->Join(m);
  if (s.ok()) monitor_cv_.notify_all();  // handshake now, not at the next tick
  return s;
}

void PairReplicator::FillInfo(chunk::InfoReply* reply) {
  std::lock_guard<std::mutex> l(mu_);
  reply->set_connection_state(ConnName(conn_));
  reply->set_disk_state(DiskName(disk_));
  reply->set_peer_disk_state(peer_disk_);
  reply->set_out_of_sync_bytes(dirty_->OutOfSyncCount() * kRegionSize);
  reply->set_sync_total_bytes(sync_total_);
  reply->set_sync_done_bytes(sync_done_);
  reply->set_sync_rate_bytes_per_sec(sync_rate_);
  reply->set_solo(solo_);
  reply->set_resynced_bytes_total(resynced_total_);
  reply->set_meta_address(options_.meta_address.empty() ? state_->membership().meta_address
                                                         : options_.meta_address);
}

}  // namespace scalefs
