// The one way scalefs processes dial each other over gRPC.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "common/rpc_security.h"

namespace scalefs {

// A channel that carries the largest chunk request (kMaxMessageSize), comes
// back within about a second after its server restarts (not after gRPC's
// two-minute reconnect backoff), and has its own connection even when
// another channel dials the same address. With TLS, the server must prove
// `server_role` (its certificate names ROLE.scalefs) and this process shows
// its own certificate.
// How long one connection attempt may take before it is given up and tried
// again; calls fail sooner when their own deadline comes first.
constexpr int kConnectTimeoutMs = 5000;
std::shared_ptr<grpc::Channel> NewChannel(const std::string& address, Role server_role);
// The same with other credentials than this process's (tests, tools).
std::shared_ptr<grpc::Channel> NewChannel(const std::string& address, Role server_role,
                                          std::shared_ptr<grpc::ChannelCredentials> creds);

}  // namespace scalefs
