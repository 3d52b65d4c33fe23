#include "common/rpc_server.h"

#include "common/layout.h"
#include "common/listen_address.h"
#include "common/rpc_call_metrics.h"

namespace scalefs {

Result<std::unique_ptr<grpc::Server>> StartRpcServer(const RpcServerOptions& options, int* port) {
  *port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, RpcServerCredentials(NewAuthorizer(options.policy)),
                           port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (grpc::Service* s : options.services) builder.RegisterService(s);
  builder.SetMaxReceiveMessageSize(kMaxMessageSize);
  builder.SetMaxSendMessageSize(kMaxMessageSize);
  // Keep a few request threads polling: with gRPC's default (at most 2
  // idle pollers) a busy server creates and destroys a thread per burst.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 4);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 16);
  if (options.metrics != nullptr) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(NewRpcCallMetrics(options.metrics));
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  grpc::ResourceQuota quota(options.name.empty() ? "scalefs" : options.name);
  if (options.max_threads > 0) {
    quota.SetMaxThreads(options.max_threads);
    builder.SetResourceQuota(quota);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || *port == 0) {
    if (server) server->Shutdown();
    return Status::Unavailable("cannot listen on " + options.address + ": " +
                               BindError(options.address, "gRPC refused it"));
  }
  return server;
}

}  // namespace scalefs
