#include "common/rpc_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/layout.h"

namespace scalefs {

namespace {

// Why `address` cannot be bound, as the kernel tells a plain bind(2).
std::string BindError(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return "no port in the address";
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const int gai = getaddrinfo(host.empty() || host == "0.0.0.0" || host == "[::]" ? nullptr
                                                                                   : host.c_str(),
                              port.c_str(), &hints, &res);
  if (gai != 0) return std::string("cannot resolve it: ") + gai_strerror(gai);
  std::string why = "gRPC refused it";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0) {
      why = errno == EADDRINUSE ? "port " + port + " is in use by another process"
                                : std::string(strerror(errno));
      close(fd);
      break;
    }
    close(fd);
  }
  freeaddrinfo(res);
  return why;
}

}  // namespace

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
  grpc::ResourceQuota quota(options.name.empty() ? "scalefs" : options.name);
  if (options.max_threads > 0) {
    quota.SetMaxThreads(options.max_threads);
    builder.SetResourceQuota(quota);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || *port == 0) {
    if (server) server->Shutdown();
    return Status::Unavailable("cannot listen on " + options.address + ": " +
                               BindError(options.address));
  }
  return server;
}

}  // namespace scalefs
