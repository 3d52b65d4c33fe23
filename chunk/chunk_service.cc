#include "chunk/chunk_service.h"

#include "common/layout.h"
#include "common/rpc_status.h"

namespace scalefs {

ChunkService::ChunkService(std::string listen_address, BlockDevice* device, MemberState* state,
                           PairReplicator* replicator)
    : listen_address_(std::move(listen_address)),
      device_(device),
      state_(state),
      replicator_(replicator) {}

namespace {

// A chunk::ReadReply on the wire, `data` (field 1, length-delimited) holding
// the bytes without copying them: the tag and length, then a slice that owns
// the device buffer until gRPC has sent it.
grpc::ByteBuffer ReadReplyAround(DeviceBytes bytes) {
  const uint64_t length = bytes.size();
  char head[1 + 10];
  size_t n = 0;
  head[n++] = 0x0a;  // field 1, wire type 2
  for (uint64_t v = length;; v >>= 7) {
    head[n++] = static_cast<char>(v < 0x80 ? v : ((v & 0x7f) | 0x80));
    if (v < 0x80) break;
  }
  auto* owned = new DeviceBytes(std::move(bytes));
  grpc::Slice slices[2] = {
      grpc::Slice(head, n),
      grpc::Slice(owned->data(), length, [](void* p) { delete static_cast<DeviceBytes*>(p); },
                  owned)};
  return grpc::ByteBuffer(slices, 2);
}

}  // namespace

grpc::ServerUnaryReactor* ChunkService::Read(grpc::CallbackServerContext* context,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  chunk::ReadRequest req;
  grpc::ByteBuffer copy(*request);  // shares the slices; parsing consumes it
  grpc::Status parsed = grpc::SerializationTraits<chunk::ReadRequest>::Deserialize(&copy, &req);
  if (!parsed.ok()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "chunk Read: unparsable request: " + parsed.error_message()));
    return reactor;
  }
  reads_.Submit([this, reactor, response, req] {
    // Either member serves any block while UpToDate: protocol C keeps both
    // replicas current; an outdated or resyncing member refuses.
    Result<DeviceBytes> bytes = replicator_->Read(req.offset(), req.length());
    if (!bytes.ok()) return reactor->Finish(ToGrpc(bytes.status()));
    *response = ReadReplyAround(std::move(*bytes));
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::Status ChunkService::Write(grpc::ServerContext*, const chunk::WriteRequest* req,
                                 chunk::WriteReply*) {
  return ToGrpc(replicator_->Write(*req));
}

grpc::Status ChunkService::WriteBatch(grpc::ServerContext*, const chunk::WriteBatchRequest* req,
                                      chunk::WriteReply*) {
  return ToGrpc(replicator_->WriteBatch(*req));
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
  auto crcs = device_->Checksum(req->offset(), req->length(), block_size);
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

grpc::Status ChunkService::SyncState(grpc::ServerContext*, const chunk::SyncStateRequest* req,
                                     chunk::SyncStateReply* reply) {
  return ToGrpc(replicator_->SyncState(*req, reply));
}

}  // namespace scalefs
