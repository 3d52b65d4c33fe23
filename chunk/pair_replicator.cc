#include "chunk/pair_replicator.h"
#include "common/rpc_channel.h"

#include <algorithm>
#include <future>
#include <vector>

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

#include "common/layout.h"
#include "common/rpc_status.h"

namespace scalefs {

namespace {

using Clock = std::chrono::steady_clock;

// One asynchronous call to the peer: the request and reply live here until
// the callback has run, and Wait() returns its outcome.
template <typename Request, typename Reply>
struct PeerCall {
  grpc::ClientContext ctx;
  Request request;
  Reply reply;
  std::promise<grpc::Status> done;

  std::function<void(grpc::Status)> Callback() {
    return [this](grpc::Status s) { done.set_value(std::move(s)); };
  }
  void SetDeadline(int timeout_ms) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  }
};

std::shared_ptr<grpc::Channel> Channel(const std::string& address) { return NewChannel(address, Role::kMember); }

const char* MemberLetter(uint32_t index) { return index == 0 ? "A" : "B"; }

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

PairReplicator::PairReplicator(BlockDevice* device, MemberState* state, DirtyMap* dirty,
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
}

void PairReplicator::Stop() {
  {
    std::lock_guard<std::mutex> l(monitor_mu_);
    stop_ = true;
  }
  monitor_cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
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

Status PairReplicator::Read(uint64_t offset, uint64_t length, std::string* out) {
  Status s = CheckServing(false);
  if (!s.ok()) return s;
  return device_->Read(offset, length, out);
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
  disk_ = Disk::kUpToDate;
  conn_ = Conn::kWFConnection;
  peer_disk_ = "Outdated";
  LOG(WARNING) << "writing alone with meta's grant at generation " << reply.pair().generation()
               << " (" << why << ")";
  return Status::OK();
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
    return WriteSequenced(offset, data);
  }

  bool sequence_all = false;
  s = AdmitClientWrite(&sequence_all);
  if (!s.ok()) return s;

  // Split at region boundaries. Pieces the peer sequences go to it as
  // forwarded writes, all at once; our own pieces are ordered here meanwhile.
  using Forward = PeerCall<chunk::WriteRequest, chunk::WriteReply>;
  struct Pending {
    uint64_t offset;
    std::string_view piece;
    std::unique_ptr<Forward> call;
  };
  std::vector<Pending> forwards;
  Status result;
  uint64_t pos = offset;
  while (pos < end) {
    const uint64_t piece_end = std::min(end, (pos / kRegionSize + 1) * kRegionSize);
    const std::string_view piece = std::string_view(data).substr(pos - offset, piece_end - pos);
    if (sequence_all || SequencerOf(pos) == m.member_index) {
      Status ps = WriteSequenced(pos, piece);
      if (result.ok() && !ps.ok()) result = ps;
    } else {
      auto f = std::make_unique<Forward>();
      f->request.set_offset(pos);
      f->request.set_data(piece.data(), piece.size());
      f->request.set_forwarded(true);
      f->request.set_generation(m.generation);
      f->request.set_pair_id(m.pair_id);
      f->SetDeadline(options_.peer_timeout_ms);
      peer_->async()->Write(&f->ctx, &f->request, &f->reply, f->Callback());
      forwards.push_back({pos, piece, std::move(f)});
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
      fs = gs.ok() ? WriteSequenced(f.offset, f.piece) : gs;
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
  std::vector<std::pair<uint64_t, std::string_view>> ours;
  Status result;
  for (const chunk::WriteRange& r : req.ranges()) {
    if (sequence_all || SequencerOf(r.offset()) == m.member_index) {
      ours.emplace_back(r.offset(), r.data());
    } else {
      // Sent here because the client failed over: forwarded one by one.
      chunk::WriteRequest w;
      w.set_offset(r.offset());
      w.set_data(r.data());
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

Status PairReplicator::WriteSequencedBatch(
    const std::vector<std::pair<uint64_t, std::string_view>>& pieces) {
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
  for (const auto& [offset, piece] : pieces) {
    regions.push_back(offset / kRegionSize);
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
    for (const auto& [offset, piece] : pieces) {
      Status s = device_->Write(offset, piece);
      if (result.ok() && !s.ok()) result = s;
    }
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
    return s.ok() ? write_local() : s;
  }
  // Protocol C with the peer in parallel with the local writes, not after.
  PeerCall<chunk::ReplicateRequest, chunk::WriteReply> call;
  for (const auto& [offset, piece] : pieces) {
    chunk::WriteRange* r = call.request.add_batch();
    r->set_offset(offset);
    r->set_data(piece.data(), piece.size());
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
    for (const auto& piece : pieces) bytes += piece.second.size();
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
  return mark_all_out_of_sync();
}

Status PairReplicator::PeerReplicate(uint64_t offset, std::string_view data, const Membership& m,
                                     bool resync) {
  PeerCall<chunk::ReplicateRequest, chunk::WriteReply> call;
  call.request.set_offset(offset);
  call.request.set_data(data.data(), data.size());
  call.request.set_generation(m.generation);
  call.request.set_pair_id(m.pair_id);
  call.request.set_resync(resync);
  call.SetDeadline(options_.peer_timeout_ms);
  peer_->async()->Replicate(&call.ctx, &call.request, &call.reply, call.Callback());
  return FromGrpc(call.done.get_future().get(), "replicate to peer " + options_.peer_address);
}

Status PairReplicator::WriteSequenced(uint64_t offset, std::string_view piece) {
  return WriteSequencedBatch({{offset, piece}});
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
      if (s.ok()) s = device_->Write(r.offset(), r.data());
      dirty_->EndWrite(first, last);
      if (!s.ok()) return s;
    }
    return Status::OK();
  }
  const uint64_t first = req.offset() / kRegionSize;
  const uint64_t last = req.data().empty() ? first : (req.offset() + req.data().size() - 1) / kRegionSize;
  s = dirty_->BeginWrite(first, last);
  if (s.ok()) s = device_->Write(req.offset(), req.data());
  dirty_->EndWrite(first, last);
  return s;
}

Status PairReplicator::Flush(bool local_only) {
  // The activity log is cleared by the monitor only, for regions idle a
  // whole period: clearing here would cost a bitmap sync on the next write
  // of every file that is written and fsynced in turn.
  if (local_only) return device_->Sync();
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
  std::string buf;
  for (uint64_t pos = offset; pos < offset + length;) {
    const uint64_t region = pos / kRegionSize;
    const uint64_t piece_end = std::min(offset + length, (region + 1) * kRegionSize);
    std::lock_guard<std::mutex> lock(RegionLock(region));
    Status s = device_->Read(pos, piece_end - pos, &buf);
    if (s.ok()) s = PeerReplicate(pos, buf, state_->membership(), true);
    if (!s.ok()) return s;
    sent += buf.size();
    pos = piece_end;
  }
  resynced_total_ += sent;
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

// ---- monitor: meta poll, peer ping, handshake, activity log -------------

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
    if (!solo_) LOG(WARNING) << "meta says this member holds the grant";
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
  std::string buf;
  Status s = device_->Read(start, len, &buf);
  if (!s.ok()) return s;
  Membership m = state_->membership();
  m.generation = generation;
  m.pair_id = pair_id;
  s = PeerReplicate(start, buf, m, true);
  if (!s.ok()) return s;
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
