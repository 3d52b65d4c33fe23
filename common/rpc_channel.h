// The one way scalefs processes dial each other over gRPC.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace scalefs {

// A channel that carries the largest chunk request (kMaxMessageSize), comes
// back within about a second after its server restarts (not after gRPC's
// two-minute reconnect backoff), and has its own connection even when
// another channel dials the same address.
std::shared_ptr<grpc::Channel> NewChannel(const std::string& address);

}  // namespace scalefs
