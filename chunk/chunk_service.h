// The gRPC face of a member: maps each RPC of scalefs.chunk.Chunk onto the
// device, the membership record or the replicator.
#pragma once

#include <string>

#include "chunk/block_device.h"
#include "chunk/chunk_metrics.h"
#include "chunk/member_state.h"
#include "chunk/pair_replicator.h"
#include "proto/chunk.grpc.pb.h"

namespace scalefs {

class ChunkService final : public chunk::Chunk::Service {
 public:
  // All four outlive the service. `listen_address` is reported by Info.
  ChunkService(std::string listen_address, CheckedDevice* device, MemberState* state,
               PairReplicator* replicator, ChunkMetrics* metrics);

  grpc::Status Read(grpc::ServerContext*, const chunk::ReadRequest*, chunk::ReadReply*) override;
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
  grpc::Status Repair(grpc::ServerContext*, const chunk::RepairRequest*,
                      chunk::RepairReply*) override;
  grpc::Status SyncState(grpc::ServerContext*, const chunk::SyncStateRequest*,
                         chunk::SyncStateReply*) override;

 private:
  const std::string listen_address_;
  CheckedDevice* const device_;
  MemberState* const state_;
  PairReplicator* const replicator_;
  ChunkMetrics* const metrics_;
};

}  // namespace scalefs
