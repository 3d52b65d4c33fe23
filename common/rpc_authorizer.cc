#include "common/rpc_authorizer.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <mutex>
#include <unordered_map>

namespace scalefs {

namespace {

constexpr std::string_view kSpiffePrefix = "spiffe://scalefs/";

std::string Property(const grpc::AuthContext& ctx, const char* name) {
  std::vector<grpc::string_ref> v = ctx.FindPropertyValues(name);
  return v.empty() ? std::string() : std::string(v[0].data(), v[0].size());
}

// The description attribute of the certificate's subject, "" if none.
Result<std::string> SubjectDescription(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
  if (bio) BIO_free(bio);
  if (cert == nullptr) return Status::Invalid("cannot parse the peer's certificate");
  std::string out;
  X509_NAME* subject = X509_get_subject_name(cert);
  const int i = X509_NAME_get_index_by_NID(subject, NID_description, -1);
  if (i >= 0) {
    unsigned char* utf8 = nullptr;
    const int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
    if (n >= 0) out.assign(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
  }
  X509_free(cert);
  return out;
}

// Grants by certificate: a client's certificate is parsed once, not per call.
class GrantCache {
 public:
  Result<ClientGrant> Get(const std::string& pem) {
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = grants_.find(pem);
      if (it != grants_.end()) return it->second;
    }
    auto text = SubjectDescription(pem);
    if (!text.ok()) return text.status();
    auto grant = ParseGrant(*text);
    if (!grant.ok()) return grant.status();
    std::lock_guard<std::mutex> l(mu_);
    if (grants_.size() >= 4096) grants_.clear();
    grants_.emplace(pem, *grant);
    return grant;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, ClientGrant> grants_;
};

GrantCache& Grants() {
  static GrantCache* cache = new GrantCache;
  return *cache;
}

Result<PeerIdentity> IdentityOf(const grpc::AuthContext& ctx) {
  const std::string id = Property(ctx, GRPC_PEER_SPIFFE_ID_PROPERTY_NAME);
  if (id.compare(0, kSpiffePrefix.size(), kSpiffePrefix) != 0) {
    return Status::Permission("the peer's certificate names no scalefs identity "
                              "(spiffe://scalefs/ROLE/NAME); issue it with `scalefs ca issue`");
  }
  const std::string rest = id.substr(kSpiffePrefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string::npos || slash + 1 == rest.size()) {
    return Status::Permission("the peer's identity " + id + " has no name");
  }
  auto role = ParseRole(rest.substr(0, slash));
  if (!role.ok()) return Status::Permission("the peer's identity " + id + ": " + role.status().message());
  PeerIdentity p;
  p.authenticated = true;
  p.role = *role;
  p.name = rest.substr(slash + 1);
  if (p.role == Role::kClient) {
    auto grant = Grants().Get(Property(ctx, GRPC_X509_PEM_CERT_PROPERTY_NAME));
    if (!grant.ok()) return Status::Permission("client certificate '" + p.name + "': " + grant.status().message());
    p.grant = std::move(*grant);
  }
  return p;
}

class Authorizer final : public grpc::AuthMetadataProcessor {
 public:
  explicit Authorizer(MethodPolicy policy) : policy_(std::move(policy)) {}

  // Runs on gRPC's thread: a map lookup and a few string compares.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& md, grpc::AuthContext* ctx, OutputMetadata*,
                       OutputMetadata*) override {
    auto path_it = md.find(":path");
    const std::string path =
        path_it == md.end() ? std::string() : std::string(path_it->second.data(), path_it->second.size());
    const std::string method = path.substr(path.rfind('/') + 1);
    Result<PeerIdentity> peer = IdentityOf(*ctx);
    if (!peer.ok()) return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, peer.status().message());
    auto it = policy_.find(path);
    if (it == policy_.end()) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "no role may call " + path + " (not in this server's policy)");
    }
    if ((it->second & Mask(peer->role)) == 0) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          std::string(RoleName(peer->role)) + " certificate '" + peer->name +
                              "' may not call " + method + " (only " + RoleMaskName(it->second) +
                              ")");
    }
    return grpc::Status::OK;
  }

 private:
  const MethodPolicy policy_;
};

// "/projects/a": absolute, no empty, "." or ".." component, no trailing slash.
bool CleanAbsolutePath(std::string_view p) {
  if (p.empty() || p[0] != '/') return false;
  if (p == "/") return true;
  if (p.back() == '/') return false;
  size_t start = 1;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    const std::string_view c = p.substr(start, end - start);
    if (c.empty() || c == "." || c == "..") return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

std::string FormatGrant(const ClientGrant& g) {
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : ";") + s; };
  if (g.subdir != "/") add("subdir=" + g.subdir);
  if (g.read_only) add("read_only");
  if (g.root_squash) add("root_squash");
  return out;
}

Result<ClientGrant> ParseGrant(std::string_view text) {
  ClientGrant g;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view item = text.substr(start, end - start);
    start = end + 1;
    if (item == "read_only") {
      g.read_only = true;
    } else if (item == "root_squash") {
      g.root_squash = true;
    } else if (item.substr(0, 7) == "subdir=") {
      g.subdir = std::string(item.substr(7));
      if (!CleanAbsolutePath(g.subdir)) {
        return Status::Invalid("grant subdir '" + g.subdir +
                               "' is not a clean absolute path (like /projects/a)");
      }
    } else {
      return Status::Invalid("unknown grant '" + std::string(item) +
                             "' (subdir=PATH, read_only, root_squash)");
    }
  }
  return g;
}

std::shared_ptr<grpc::AuthMetadataProcessor> NewAuthorizer(MethodPolicy policy) {
  return std::make_shared<Authorizer>(std::move(policy));
}

Result<PeerIdentity> PeerOf(const grpc::ServerContext& ctx) {
  if (RpcInsecure()) return PeerIdentity{};
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (!auth) return Status::Permission("the call carries no authentication");
  return IdentityOf(*auth);
}

}  // namespace scalefs
