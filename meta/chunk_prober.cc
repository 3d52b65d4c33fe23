#include "meta/chunk_prober.h"
#include "common/rpc_channel.h"

#include <grpcpp/grpcpp.h>

#include "common/layout.h"
#include "common/rpc_status.h"

namespace scalefs::meta {

namespace {
std::unique_ptr<chunk::Chunk::Stub> StubFor(const std::string& address) {
  return chunk::Chunk::NewStub(NewChannel(address, Role::kMember));
}
}  // namespace

Result<chunk::InfoReply> ChunkProber::Info(const std::string& address) const {
  auto stub = StubFor(address);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
  chunk::InfoRequest req;
  chunk::InfoReply reply;
  grpc::Status s = stub->Info(&ctx, req, &reply);
  if (!s.ok()) return FromGrpc(s, "Info " + address);
  return reply;
}

Status ChunkProber::Join(const std::string& address, const chunk::JoinRequest& request) const {
  auto stub = StubFor(address);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
  chunk::JoinReply reply;
  return FromGrpc(stub->Join(&ctx, request, &reply), "Join " + address);
}

}  // namespace scalefs::meta
