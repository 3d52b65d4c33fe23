// Who a scalefs process is on the wire and how it checks whom it talks to:
// mutual TLS (gRPC's own) with certificates of the cluster's CA, each naming
// its holder's role and name as a SPIFFE id, spiffe://scalefs/ROLE/NAME.
// A server proves its role to the dialer by the DNS name ROLE.scalefs in its
// certificate (the channel asks for that name, whatever the address), and a
// caller proves its role to the server, which allows each method to the
// roles its policy names (common/rpc_authorizer.h). Plaintext only with
// --insecure.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace scalefs {

enum class Role : uint32_t { kClient = 1, kMember = 2, kMeta = 4, kAdmin = 8 };
using RoleMask = uint32_t;
constexpr RoleMask operator|(Role a, Role b) {
  return static_cast<RoleMask>(a) | static_cast<RoleMask>(b);
}
constexpr RoleMask operator|(RoleMask a, Role b) { return a | static_cast<RoleMask>(b); }
constexpr RoleMask Mask(Role r) { return static_cast<RoleMask>(r); }

const char* RoleName(Role role);  // "client"
Result<Role> ParseRole(std::string_view name);
// "client or admin"
std::string RoleMaskName(RoleMask mask);

// The DNS name a server of `role` carries in its certificate: "meta.scalefs".
std::string ServerNameFor(Role role);
// "spiffe://scalefs/client/alice"
std::string SpiffeIdFor(Role role, std::string_view name);

// PEM files of one identity.
struct TlsFiles {
  std::string ca_cert;  // the cluster CA's certificate: whom to trust
  std::string cert;     // this process's certificate
  std::string key;      // and its private key
};

// This process's security, set once at startup (before any channel or
// server): plaintext, or mutual TLS with these files (read now: a missing
// or unreadable file is an error naming it).
Status InitRpcSecurity(bool insecure, const TlsFiles& files);
// From --insecure, --ca_cert, --cert and --key. Where --cert is empty,
// `default_name` ("admin", "client") names the certificate to take from the
// local cluster's tls folder (LocalStateDir()/tls, as meta.addr is found);
// an empty `default_name` makes --cert required.
Status InitRpcSecurityFromFlags(const std::string& program, const std::string& default_name);
bool RpcInsecure();

// The credentials of every channel this process dials.
std::shared_ptr<grpc::ChannelCredentials> RpcChannelCredentials();
// TLS credentials from other files than this process's (tests, tools).
Result<std::shared_ptr<grpc::ChannelCredentials>> TlsChannelCredentials(const TlsFiles& files);

// Server credentials for this process's identity; `processor` (may be null)
// checks each call before its handler runs.
std::shared_ptr<grpc::ServerCredentials> RpcServerCredentials(
    std::shared_ptr<grpc::AuthMetadataProcessor> processor);

}  // namespace scalefs
