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
  // Redial a restarted server within about a second (0.1 s, growing to 1 s).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Despite its name, gRPC takes this as the least time one connection
  // attempt (TCP, TLS handshake, HTTP/2 SETTINGS) is given. At 100 ms a
  // loaded machine's handshakes timed out and first calls failed at once;
  // a call's own deadline still bounds how long it waits for a connection.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kConnectTimeoutMs);
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
