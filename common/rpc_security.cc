#include "common/rpc_security.h"

#include <gflags/gflags.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/cluster_config.h"

DEFINE_bool(insecure, false,
            "plaintext gRPC without certificates: anyone who reaches a port may call anything");
DEFINE_string(ca_cert, "", "the cluster CA's certificate (PEM) that every peer must be issued by");
DEFINE_string(cert, "", "this process's certificate (PEM), issued by `scalefs ca issue`");
DEFINE_string(key, "", "the private key of --cert (PEM)");

namespace scalefs {

namespace {

struct Security {
  bool insecure = true;
  std::string ca_pem, cert_pem, key_pem;
};

std::mutex g_mu;
Security g_security;

Result<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) return Status::FromErrno(errno, "cannot read the " + std::string(what) + " " + path);
  std::stringstream s;
  s << in.rdbuf();
  if (s.str().find("-----BEGIN") == std::string::npos) {
    return Status::Invalid(std::string(what) + " " + path + " is not a PEM file");
  }
  return s.str();
}

Status Load(const TlsFiles& f, Security* out) {
  auto cert = ReadPem(f.cert, "certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(f.key, "key");
  if (!key.ok()) return key.status();
  auto ca = ReadPem(f.ca_cert, "CA certificate");
  if (!ca.ok()) return ca.status();
  out->insecure = false;
  out->ca_pem = std::move(*ca);
  out->cert_pem = std::move(*cert);
  out->key_pem = std::move(*key);
  return Status::OK();
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kClient: return "client";
    case Role::kMember: return "member";
    case Role::kMeta: return "meta";
    case Role::kAdmin: return "admin";
  }
  return "?";
}

Result<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kClient, Role::kMember, Role::kMeta, Role::kAdmin}) {
    if (name == RoleName(r)) return r;
  }
  return Status::Invalid("unknown role '" + std::string(name) +
                         "' (client, member, meta or admin)");
}

std::string RoleMaskName(RoleMask mask) {
  std::string out;
  for (Role r : {Role::kClient, Role::kMember, Role::kMeta, Role::kAdmin}) {
    if ((mask & Mask(r)) == 0) continue;
    if (!out.empty()) out += " or ";
    out += RoleName(r);
  }
  return out.empty() ? "no role" : out;
}

std::string ServerNameFor(Role role) { return std::string(RoleName(role)) + ".scalefs"; }

std::string SpiffeIdFor(Role role, std::string_view name) {
  return "spiffe://scalefs/" + std::string(RoleName(role)) + "/" + std::string(name);
}

Status InitRpcSecurity(bool insecure, const TlsFiles& files) {
  Security s;
  if (!insecure) {
    Status st = Load(files, &s);
    if (!st.ok()) return st;
  }
  std::lock_guard<std::mutex> l(g_mu);
  g_security = std::move(s);
  return Status::OK();
}

Status InitRpcSecurityFromFlags(const std::string& program, const std::string& default_name) {
  if (FLAGS_insecure) return InitRpcSecurity(true, {});
  TlsFiles f{FLAGS_ca_cert, FLAGS_cert, FLAGS_key};
  const std::string dir = LocalStateDir() + "/tls";
  if (f.cert.empty()) {
    if (default_name.empty()) {
      return Status::Invalid(program + " needs a certificate: pass --cert, --key and --ca_cert "
                             "(made by `scalefs ca issue`), or --insecure for plaintext");
    }
    f.cert = dir + "/" + default_name + ".crt";
    if (f.key.empty()) f.key = dir + "/" + default_name + ".key";
  }
  if (f.key.empty()) return Status::Invalid("--cert " + f.cert + " needs --key");
  if (f.ca_cert.empty()) {
    // Beside the certificate, as `scalefs ca issue` writes them.
    const size_t slash = f.cert.rfind('/');
    f.ca_cert = (slash == std::string::npos ? std::string(".") : f.cert.substr(0, slash)) +
                "/ca.crt";
  }
  Status s = InitRpcSecurity(false, f);
  if (!s.ok() && FLAGS_cert.empty()) {
    return s.Annotate(program + " found no certificate in " + dir +
                      " (pass --cert, --key and --ca_cert, or --insecure)");
  }
  return s;
}

bool RpcInsecure() {
  std::lock_guard<std::mutex> l(g_mu);
  return g_security.insecure;
}

std::shared_ptr<grpc::ChannelCredentials> RpcChannelCredentials() {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_security.insecure) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = g_security.ca_pem;
  o.pem_private_key = g_security.key_pem;
  o.pem_cert_chain = g_security.cert_pem;
  return grpc::SslCredentials(o);
}

Result<std::shared_ptr<grpc::ChannelCredentials>> TlsChannelCredentials(const TlsFiles& files) {
  Security s;
  Status st = Load(files, &s);
  if (!st.ok()) return st;
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = s.ca_pem;
  o.pem_private_key = s.key_pem;
  o.pem_cert_chain = s.cert_pem;
  return grpc::SslCredentials(o);
}

std::shared_ptr<grpc::ServerCredentials> RpcServerCredentials(
    std::shared_ptr<grpc::AuthMetadataProcessor> processor) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_security.insecure) return grpc::InsecureServerCredentials();
  // A caller without a certificate of this CA fails the handshake.
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  o.pem_root_certs = g_security.ca_pem;
  o.pem_key_cert_pairs.push_back({g_security.key_pem, g_security.cert_pem});
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::SslServerCredentials(o);
  if (processor) creds->SetAuthMetadataProcessor(std::move(processor));
  return creds;
}

}  // namespace scalefs
