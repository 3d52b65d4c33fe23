// The gRPC face of a member: maps each RPC of scalefs.chunk.Chunk onto the
// device, the membership record or the replicator.
#pragma once

#include <string>

#include "chunk/block_device.h"
#include "chunk/member_state.h"
#include "chunk/pair_replicator.h"
#include "common/worker_pool.h"
#include "proto/chunk.grpc.pb.h"

namespace scalefs {

// Read is a raw callback method: its reply (a chunk::ReadReply on the wire)
// is built around the buffer the device read into, so a member copies the
// bytes it serves only into the socket; the other methods are synchronous.
class ChunkService final : public chunk::Chunk::WithRawCallbackMethod_Read<chunk::Chunk::Service> {
 public:
  // All three outlive the service. `listen_address` is reported by Info.
  ChunkService(std::string listen_address, BlockDevice* device, MemberState* state,
               PairReplicator* replicator);

  grpc::ServerUnaryReactor* Read(grpc::CallbackServerContext* context,
                                 const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;
  grpc::Status Write(grpc::ServerContext*, const chunk::WriteRequest*,
                     chunk::WriteReply*) override;
  grpc::Status WriteBatch(grpc::ServerContext*, const chunk::WriteBatchRequest*,
                          chunk::WriteReply*) override;
  grpc::Status Replicate(grpc::ServerContext*, const chunk::ReplicateRequest*,
                         chunk::WriteReply*) override;
  grpc::Status Flush(grpc::ServerContext*, const chunk::FlushRequest*,
                     chunk::FlushReply*) override;
  grpc::Status Info(grpc::ServerContext*, const chunk::InfoRequest*, chunk::InfoReply*) override;
  grpc::Status Join(grpc::ServerContext*, const chunk::JoinRequest*, chunk::JoinReply*) override;
  grpc::Status Checksum(grpc::ServerContext*, const chunk::ChecksumRequest*,
                        chunk::ChecksumReply*) override;
  grpc::Status ResyncRange(grpc::ServerContext*, const chunk::ResyncRangeRequest*,
                           chunk::ResyncRangeReply*) override;
  grpc::Status SyncState(grpc::ServerContext*, const chunk::SyncStateRequest*,
                         chunk::SyncStateReply*) override;

 private:
  const std::string listen_address_;
  BlockDevice* const device_;
  MemberState* const state_;
  PairReplicator* const replicator_;
  // Runs the reads: a callback method must not block gRPC's own threads.
  // As many as the synchronous methods may use, so reads queue no sooner.
  WorkerPool reads_{16};
};

}  // namespace scalefs
