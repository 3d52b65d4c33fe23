// Which caller may call which method, checked once per call before its
// handler runs (gRPC's AuthMetadataProcessor, which sees the method's path
// and the peer's verified certificate), and what a handler learns of its
// caller: its role, its name and, for a client, what it was granted.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/rpc_security.h"
#include "common/status.h"

namespace scalefs {

// What a client certificate allows, carried in its subject's description
// attribute (signed by the CA like the rest, so a client cannot widen it):
// "subdir=/projects/a;read_only". Empty: the whole filesystem, read-write.
struct ClientGrant {
  std::string subdir = "/";   // the client sees only this directory, as its root
  bool read_only = false;     // every change is refused with EROFS
  // The client host's root acts as nobody (65534:65534), as NFS's
  // root_squash: meta checks its calls' permissions (meta/access_check.h).
  bool root_squash = false;
  bool operator==(const ClientGrant&) const = default;
};
std::string FormatGrant(const ClientGrant& grant);
// A bad grant is an error: a certificate carrying one is refused.
Result<ClientGrant> ParseGrant(std::string_view text);

struct PeerIdentity {
  bool authenticated = false;  // false: plaintext (--insecure), every role
  Role role = Role::kAdmin;
  std::string name;
  ClientGrant grant;
};

// The full gRPC path of each method ("/scalefs.meta.Meta/Fsck") and the roles
// that may call it. A method missing from the policy is refused to everyone,
// so a new method is closed until someone decides who may call it.
using MethodPolicy = std::map<std::string, RoleMask, std::less<>>;

// The processor StartRpcServer installs for a service's policy.
std::shared_ptr<grpc::AuthMetadataProcessor> NewAuthorizer(MethodPolicy policy);

// The verified identity of a call's peer (from the certificate gRPC checked
// in the handshake), or the all-roles identity of a plaintext server.
Result<PeerIdentity> PeerOf(const grpc::ServerContext& ctx);

}  // namespace scalefs
