// Carries a scalefs::Status across gRPC: the gRPC code for generic clients,
// the scalefs code (an errno) in the error details, the message as is.
#pragma once

#include <grpcpp/grpcpp.h>

#include "common/status.h"

namespace scalefs {

grpc::Status ToGrpc(const Status& s);
// Transport failures (UNAVAILABLE, DEADLINE_EXCEEDED) become kUnavailable so
// callers can tell "try the other member" from "the request is wrong".
Status FromGrpc(const grpc::Status& s, const std::string& context);

}  // namespace scalefs
