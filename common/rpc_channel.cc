#include "common/rpc_channel.h"

#include "common/layout.h"

namespace scalefs {

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address, Role server_role) {
  return NewChannel(address, server_role, RpcChannelCredentials());
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address, Role server_role,
                                          std::shared_ptr<grpc::ChannelCredentials> creds) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageSize);
  args.SetMaxSendMessageSize(kMaxMessageSize);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Callers fail over between members themselves; gRPC's own retries would
  // only keep a copy of every request in case it is sent again.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // The name checked in the server's certificate, whatever host the
  // address names: a member's certificate cannot pass for meta's.
  args.SetSslTargetNameOverride(ServerNameFor(server_role));
  return grpc::CreateCustomChannel(address, std::move(creds), args);
}

}  // namespace scalefs
