#include "chunk/pair_replicator.h"

#include <chrono>
#include <future>
#include <vector>

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

#include "common/layout.h"
#include "common/rpc_status.h"

namespace scalefs {

namespace {

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

}  // namespace

PairReplicator::PairReplicator(BlockDevice* device, MemberState* state, std::string peer_address,
                               int peer_timeout_ms)
    : device_(device),
      state_(state),
      peer_address_(std::move(peer_address)),
      peer_timeout_ms_(peer_timeout_ms) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageSize);
  args.SetMaxSendMessageSize(kMaxMessageSize);
  // A peer that comes back must be usable within about a second, not after
  // gRPC's default two-minute reconnect backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  peer_ = chunk::Chunk::NewStub(
      grpc::CreateCustomChannel(peer_address_, grpc::InsecureChannelCredentials(), args));
}

Status PairReplicator::Write(uint64_t offset, std::string_view data, bool forwarded) {
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
  if (forwarded && (offset / kRegionSize != (end - 1) / kRegionSize ||
                    SequencerOf(offset) != m.member_index)) {
    // The peer forwards only single pieces we sequence; anything else would
    // loop between the members or bypass the region's sequencer.
    return Status::Invalid("forwarded write [" + std::to_string(offset) + ", " +
                           std::to_string(end) + ") is not inside one region sequenced by us (member " +
                           std::to_string(m.member_index) + ")");
  }

  // Split at region boundaries. Pieces the peer sequences go to it as
  // forwarded writes, all at once; our own pieces are ordered here meanwhile.
  using Forward = PeerCall<chunk::WriteRequest, chunk::WriteReply>;
  std::vector<std::unique_ptr<Forward>> forwards;
  Status result;
  uint64_t pos = offset;
  while (pos < end) {
    const uint64_t piece_end = std::min(end, (pos / kRegionSize + 1) * kRegionSize);
    const std::string_view piece = data.substr(pos - offset, piece_end - pos);
    if (SequencerOf(pos) == m.member_index) {
      Status ps = WriteSequenced(pos, piece, m);
      if (result.ok() && !ps.ok()) result = ps;
    } else {
      auto f = std::make_unique<Forward>();
      f->request.set_offset(pos);
      f->request.set_data(piece.data(), piece.size());
      f->request.set_forwarded(true);
      f->SetDeadline(peer_timeout_ms_);
      peer_->async()->Write(&f->ctx, &f->request, &f->reply, f->Callback());
      forwards.push_back(std::move(f));
    }
    pos = piece_end;
  }
  for (auto& f : forwards) {
    Status fs = FromGrpc(f->done.get_future().get(), "forward write to peer " + peer_address_);
    if (result.ok() && !fs.ok()) result = fs;
  }
  if (!result.ok()) LOG(WARNING) << "write at " << offset << " failed: " << result.ToString();
  return result;
}

Status PairReplicator::WriteSequenced(uint64_t offset, std::string_view piece,
                                      const Membership& m) {
  // Per-region sequencing by one member: this member orders every write to
  // the region. Holding the region lock across BOTH applies (local pwrite and
  // the peer's Replicate) means no other write to the region can slip in
  // between, so the peer applies the region's writes in exactly our order and
  // the two replicas end byte-identical whatever the client interleaving.
  std::lock_guard<std::mutex> region(RegionLock(offset));

  // Protocol C with the peer in parallel with the local write, not after it.
  // Without the peer the write is refused (Unavailable): acknowledging a
  // write only one member has would lose it if this member died, and writing
  // alone is safe only with meta's grant, which this member does not hold.
  PeerCall<chunk::ReplicateRequest, chunk::WriteReply> call;
  call.request.set_offset(offset);
  call.request.set_data(piece.data(), piece.size());
  call.request.set_generation(m.generation);
  call.SetDeadline(peer_timeout_ms_);
  peer_->async()->Replicate(&call.ctx, &call.request, &call.reply, call.Callback());

  Status local = device_->Write(offset, piece);
  Status remote = FromGrpc(call.done.get_future().get(), "replicate to peer " + peer_address_);
  if (!local.ok()) return local;
  return remote;
}

Status PairReplicator::Replicate(uint64_t offset, std::string_view data, uint64_t generation) {
  Status s = device_->CheckRange("replicate", offset, data.size());
  if (!s.ok()) return s;
  const Membership m = state_->membership();
  if (!m.joined()) return Status::Stale("not a member of a pair yet");
  if (generation < m.generation) {
    return Status::Stale("stale generation " + std::to_string(generation) + " < ours " +
                         std::to_string(m.generation));
  }
  // No region lock: the sequencer holds it across this call, so replicated
  // writes to a region arrive one at a time and in its order.
  return device_->Write(offset, data);
}

Status PairReplicator::Flush(bool local_only) {
  if (local_only) return device_->Sync();
  PeerCall<chunk::FlushRequest, chunk::FlushReply> call;
  call.request.set_local_only(true);
  call.SetDeadline(peer_timeout_ms_);
  peer_->async()->Flush(&call.ctx, &call.request, &call.reply, call.Callback());
  Status local = device_->Sync();
  Status remote = FromGrpc(call.done.get_future().get(), "flush on peer " + peer_address_);
  if (!local.ok()) return local;
  return remote;
}

Status PairReplicator::Join(const Membership& m) {
  if (m.peer_address != peer_address_) {
    return Status::Invalid("join names peer " + m.peer_address + " but this member is configured with peer " +
                           peer_address_);
  }
  if (m.capacity > device_->size()) {
    return Status::Invalid("pair capacity " + std::to_string(m.capacity) +
                           " exceeds this device of " + std::to_string(device_->size()) +
                           " bytes");
  }
  return state_->Join(m);
}

}  // namespace scalefs
