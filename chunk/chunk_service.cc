#include "chunk/chunk_service.h"

#include "common/layout.h"
#include "common/rpc_authorizer.h"
#include "common/rpc_status.h"

namespace scalefs {

ChunkService::ChunkService(std::string listen_address, CheckedDevice* device, MemberState* state,
                           PairReplicator* replicator, ChunkMetrics* metrics)
    : listen_address_(std::move(listen_address)),
      device_(device),
      state_(state),
      replicator_(replicator),
      metrics_(metrics) {}

grpc::Status ChunkService::Read(grpc::ServerContext*, const chunk::ReadRequest* req,
                                chunk::ReadReply* reply) {
  // Either member serves any block while UpToDate: protocol C keeps both
  // replicas current; an outdated or resyncing member refuses.
  std::vector<uint32_t> crcs;
  Status s = replicator_->Read(req->offset(), req->length(), reply->mutable_data(),
                               req->with_crc32c() ? &crcs : nullptr);
  if (s.ok()) metrics_->read_bytes.Increment(static_cast<double>(reply->data().size()));
  reply->mutable_crc32c()->Add(crcs.begin(), crcs.end());
  return ToGrpc(s);
}

namespace {
// A client whose certificate is read-only writes nothing, whatever it sends.
Status RefuseReadOnly(const grpc::ServerContext& ctx) {
  Result<PeerIdentity> peer = PeerOf(ctx);
  if (!peer.ok()) return peer.status();
  if (peer->grant.read_only) {
    return Status(Status::Code::kReadOnly, "client '" + peer->name + "' has a read-only certificate");
  }
  return Status::OK();
}
}  // namespace

grpc::Status ChunkService::Write(grpc::ServerContext* ctx, const chunk::WriteRequest* req,
                                 chunk::WriteReply*) {
  if (Status s = RefuseReadOnly(*ctx); !s.ok()) return ToGrpc(s);
  Status s = replicator_->Write(*req);
  // A forwarded piece is counted by the member the client sent it to.
  if (s.ok() && !req->forwarded()) {
    metrics_->written_bytes.Increment(static_cast<double>(req->data().size()));
  }
  return ToGrpc(s);
}

grpc::Status ChunkService::WriteBatch(grpc::ServerContext* ctx, const chunk::WriteBatchRequest* req,
                                      chunk::WriteReply*) {
  if (Status s = RefuseReadOnly(*ctx); !s.ok()) return ToGrpc(s);
  Status s = replicator_->WriteBatch(*req);
  if (s.ok()) {
    uint64_t bytes = 0;
    for (const chunk::WriteRange& r : req->ranges()) bytes += r.data().size();
    metrics_->written_bytes.Increment(static_cast<double>(bytes));
  }
  return ToGrpc(s);
}

grpc::Status ChunkService::Replicate(grpc::ServerContext*, const chunk::ReplicateRequest* req,
                                     chunk::WriteReply*) {
  return ToGrpc(replicator_->Replicate(*req));
}

grpc::Status ChunkService::Flush(grpc::ServerContext*, const chunk::FlushRequest* req,
                                 chunk::FlushReply*) {
  return ToGrpc(replicator_->Flush(req->local_only()));
}

grpc::Status ChunkService::Info(grpc::ServerContext*, const chunk::InfoRequest*,
                                chunk::InfoReply* reply) {
  const Membership m = state_->membership();
  reply->set_listen_address(listen_address_);
  reply->set_peer_address(replicator_->peer_address());
  reply->set_device_size(device_->size());
  reply->set_pair_name(m.pair_name);
  reply->set_member_index(m.member_index);
  reply->set_generation(m.generation);
  reply->set_pair_id(m.pair_id);
  reply->set_device_uuid(state_->device_uuid());
  replicator_->FillInfo(reply);
  return grpc::Status::OK;
}

grpc::Status ChunkService::Join(grpc::ServerContext*, const chunk::JoinRequest* req,
                                chunk::JoinReply*) {
  Membership m;
  m.pair_name = req->pair_name();
  m.pair_id = req->pair_id();
  m.member_index = req->member_index();
  m.peer_address = req->peer_address();
  m.generation = req->generation();
  m.capacity = req->capacity();
  m.meta_address = req->meta_address();
  return ToGrpc(replicator_->Join(m));
}

grpc::Status ChunkService::Checksum(grpc::ServerContext*, const chunk::ChecksumRequest* req,
                                    chunk::ChecksumReply* reply) {
  const uint32_t block_size = req->block_size() == 0 ? kBlockSize : req->block_size();
  if (req->stored()) {
    if (block_size != kBlockSize) {
      return ToGrpc(Status::Invalid("stored checksums are per 4096-byte block, not " +
                                    std::to_string(block_size)));
    }
    auto checks = device_->Check(req->offset(), req->length(), req->written_only());
    if (!checks.ok()) return ToGrpc(checks.status());
    for (const CheckedDevice::BlockCheck& c : *checks) {
      reply->add_state(c.state);
      reply->add_stored_crc32c(c.crc32c);
    }
    return grpc::Status::OK;
  }
  auto crcs = device_->raw()->Checksum(req->offset(), req->length(), block_size);
  if (!crcs.ok()) return ToGrpc(crcs.status());
  reply->mutable_crc32()->Add(crcs->begin(), crcs->end());
  return grpc::Status::OK;
}

grpc::Status ChunkService::ResyncRange(grpc::ServerContext*, const chunk::ResyncRangeRequest* req,
                                       chunk::ResyncRangeReply* reply) {
  Result<uint64_t> r = replicator_->ResyncRange(req->offset(), req->length());
  if (!r.ok()) return ToGrpc(r.status());
  reply->set_bytes(*r);
  return grpc::Status::OK;
}

grpc::Status ChunkService::Repair(grpc::ServerContext*, const chunk::RepairRequest* req,
                                  chunk::RepairReply* reply) {
  return ToGrpc(replicator_->Repair(req->offset(), req->length(), reply));
}

grpc::Status ChunkService::SyncState(grpc::ServerContext*, const chunk::SyncStateRequest* req,
                                     chunk::SyncStateReply* reply) {
  return ToGrpc(replicator_->SyncState(*req, reply));
}

}  // namespace scalefs
