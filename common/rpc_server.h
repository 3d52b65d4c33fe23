// The one way scalefs daemons listen for gRPC calls.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "common/rpc_authorizer.h"
#include "common/metrics.h"
#include "common/status.h"

namespace scalefs {

struct RpcServerOptions {
  std::string address;                 // HOST:PORT
  std::vector<grpc::Service*> services;
  int max_threads = 0;                 // 0 = gRPC's default
  std::string name;                    // for the thread quota
  // Who may call which method (with TLS; a plaintext server serves anyone).
  MethodPolicy policy;
  // Counts and times every call (common/rpc_call_metrics.h); null: not.
  Metrics* metrics = nullptr;
};

// Starts a server with scalefs's settings. A port another process holds is
// refused (gRPC's default SO_REUSEPORT would let a second daemon start
// silently beside the first and split the calls between them), with a
// message naming the address and the reason. *port receives the bound port.
// With TLS (InitRpcSecurity), only callers with a certificate of the
// cluster's CA get through the handshake, and each call only if the policy
// allows the method to the caller's role.
Result<std::unique_ptr<grpc::Server>> StartRpcServer(const RpcServerOptions& options, int* port);

}  // namespace scalefs
