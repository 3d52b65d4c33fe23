// Every gRPC call a scalefs server answers, counted by method and status
// code and timed, by one server interceptor (registered by StartRpcServer)
// instead of code in each handler:
//   scalefs_grpc_server_handled_total{service,method,code}
//   scalefs_grpc_server_handling_seconds{service,method}   (unary calls)
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "common/metrics.h"

namespace scalefs {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRpcCallMetrics(
    Metrics* metrics);

// "UNAVAILABLE" for grpc::StatusCode::UNAVAILABLE, as gRPC's docs name codes.
const char* GrpcCodeName(int code);

}  // namespace scalefs
