// Mutual TLS and roles on a real cluster (its own CA, a certificate per
// daemon): a caller without a certificate, with one of another CA, or with
// a certificate whose role may not call a method is refused with a status
// that says why, and nothing changes on the devices or in meta.
#include <sys/stat.h>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "common/rpc_channel.h"
#include "common/rpc_security.h"
#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

// What every role may call, as the README documents it. Every method of both
// services must be here, so a new method cannot stay open by oversight.
const std::map<std::string, std::set<std::string>>& Expected() {
  static const std::map<std::string, std::set<std::string>> m = [] {
    std::map<std::string, std::set<std::string>> e;
    const std::set<std::string> mount{"client", "admin"};
    for (const char* n : {"Lookup", "GetAttr", "SetAttr", "MakeNode", "Link", "Unlink", "Rename",
                          "ReadLink", "ReadDir", "SetXattr", "GetXattr", "ListXattr",
                          "RemoveXattr", "StatFs", "Allocate", "GetExtents", "Commit", "Release",
                          "OpenSession", "KeepAlive", "Reclaim", "CloseSession", "SessionEvents",
                          "SetLock", "TestLock", "CancelLock"}) {
      e[std::string("/scalefs.meta.Meta/") + n] = mount;
    }
    e["/scalefs.meta.Meta/PairList"] = {"client", "admin", "member"};
    for (const char* n : {"PairAdd", "Fsck", "SessionList", "LockList", "PairDrain", "PairRemove",
                          "MoveBegin", "MoveCommit", "MoveAbandon", "RebalanceReport",
                          "RebalanceStatus", "RebalanceStop"}) {
      e[std::string("/scalefs.meta.Meta/") + n] = {"admin"};
    }
    for (const char* n : {"RequestSolo", "EndSolo", "PairState"}) {
      e[std::string("/scalefs.meta.Meta/") + n] = {"member"};
    }
    const std::string c = "/scalefs.chunk.Chunk/";
    e[c + "Read"] = {"client", "member", "admin"};
    // Admins write for scalefs rebalance, which copies extents between pairs.
    e[c + "Write"] = e[c + "WriteBatch"] = e[c + "Flush"] = {"client", "member", "admin"};
    e[c + "Replicate"] = e[c + "SyncState"] = {"member"};
    e[c + "Join"] = {"meta", "member"};
    e[c + "Info"] = {"meta", "member", "admin"};
    e[c + "Checksum"] = {"admin", "member"};
    // A member asks the sequencer of a region (its peer) to push a block
    // it found damaged.
    e[c + "ResyncRange"] = {"admin", "member"};
    e[c + "Repair"] = {"admin"};
    return e;
  }();
  return m;
}

// A unary call of `path` with an empty request; waits for its status.
grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel, const std::string& path,
                  const std::string& body = "") {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Slice slice(body);
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::Status status;
  std::atomic<bool> done{false};
  stub.UnaryCall(&ctx, path, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
    status = s;
    done = true;
  });
  for (int i = 0; i < 200 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return done ? status : grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no answer");
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ClusterOptions o;
    o.pairs = 1;
    o.device_size = 256ull << 20;
    cluster_ = new Cluster(o);
    Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  static void TearDownTestSuite() { delete cluster_; }

  // Meta's records as an admin sees them, and both devices' bytes.
  std::string Snapshot() {
    std::string pairs, fsck, listing;
    cluster_->Cli({"pair", "list"}, &pairs);
    cluster_->Cli({"fsck"}, &fsck);
    RunShell("ls -lR --time-style=+%s " + cluster_->mnt(), &listing);
    return pairs + fsck + listing + cluster_->DeviceSha256(0, 0) +
           cluster_->DeviceSha256(0, 1);
  }

  static Cluster* cluster_;
};
Cluster* SecurityTest::cluster_ = nullptr;

TEST_F(SecurityTest, EveryMethodHasARoleRuleAndOtherRolesAreRefused) {
  ASSERT_OK(WriteFile(cluster_->mnt() + "/kept", std::string(1 << 20, 'k')));
  ASSERT_OK(cluster_->Issue("member", "intruder-member"));
  ASSERT_OK(cluster_->Issue("meta", "intruder-meta"));
  const std::string before = Snapshot();

  std::set<std::string> methods;
  for (const char* service : {"scalefs.meta.Meta", "scalefs.chunk.Chunk"}) {
    const auto* d = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    ASSERT_NE(d, nullptr) << service;
    for (int i = 0; i < d->method_count(); ++i) {
      methods.insert("/" + std::string(service) + "/" + d->method(i)->name());
    }
  }
  for (const std::string& m : methods) {
    EXPECT_TRUE(Expected().count(m)) << m << " has no role rule in this test (and the README)";
  }

  const std::map<std::string, std::string> cert_of_role{
      {"client", "client"}, {"admin", "admin"}, {"member", "intruder-member"},
      {"meta", "intruder-meta"}};
  int refused = 0;
  for (const auto& [role, cert] : cert_of_role) {
    auto creds = cluster_->Credentials(cert);
    auto meta = NewChannel(cluster_->meta_address(), Role::kMeta, creds);
    auto member = NewChannel(cluster_->MemberAddress(0, 0), Role::kMember, creds);
    for (const auto& [path, roles] : Expected()) {
      if (roles.count(role)) continue;  // allowed: not called with an empty request
      const bool on_meta = path.rfind("/scalefs.meta.", 0) == 0;
      // A forged 4 KiB write where the file lives, for the data methods.
      grpc::Status s = Call(on_meta ? meta : member, path, std::string(64, '\x01'));
      const std::string method = path.substr(path.rfind('/') + 1);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << role << " calling " << path << ": " << s.error_message();
      EXPECT_NE(s.error_message().find(role + " certificate '" + cert + "' may not call " + method),
                std::string::npos)
          << s.error_message();
      ++refused;
    }
  }
  EXPECT_GT(refused, 60);
  EXPECT_EQ(Snapshot(), before) << "a refused call changed meta or a device";
}

TEST_F(SecurityTest, NoCertificateOrAnotherCasCertificateFailsTheHandshake) {
  const std::string before = Snapshot();
  // Another CA's admin certificate: same names, different signer.
  const std::string other = cluster_->state_dir() + "/other-ca";
  ASSERT_EQ(RunShell(std::string(SCALEFS_BIN_DIR) + "/scalefs ca init --dir " + other), 0);
  ASSERT_EQ(RunShell(std::string(SCALEFS_BIN_DIR) + "/scalefs ca issue admin admin --dir " + other),
            0);
  auto foreign = TlsChannelCredentials({other + "/ca.crt", other + "/admin.crt", other + "/admin.key"});
  ASSERT_OK(foreign.status());
  // Trusting our CA but showing the other's certificate.
  auto mixed = TlsChannelCredentials(
      {cluster_->tls_dir() + "/ca.crt", other + "/admin.crt", other + "/admin.key"});
  ASSERT_OK(mixed.status());
  struct Case {
    const char* what;
    std::shared_ptr<grpc::ChannelCredentials> creds;
  } cases[] = {{"plaintext", grpc::InsecureChannelCredentials()},
               {"another CA's certificate", *mixed},
               {"another CA altogether", *foreign}};
  for (const Case& c : cases) {
    for (const auto& [addr, role, path] :
         {std::tuple{cluster_->meta_address(), Role::kMeta, std::string("/scalefs.meta.Meta/PairAdd")},
          std::tuple{cluster_->MemberAddress(0, 0), Role::kMember,
                     std::string("/scalefs.chunk.Chunk/Write")}}) {
      grpc::Status s = Call(NewChannel(addr, role, c.creds), path, std::string(64, '\x02'));
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << c.what << " " << path << ": "
                                                              << s.error_message();
      EXPECT_FALSE(s.error_message().empty());
    }
  }
  // The CLI with the other CA's admin certificate names the failure.
  std::string out;
  EXPECT_NE(cluster_->Cli({"--cert=" + other + "/admin.crt", "--key=" + other + "/admin.key",
                           "pair", "list"},
                          &out),
            0);
  EXPECT_NE(out.find(cluster_->meta_address()), std::string::npos) << out;
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(SecurityTest, AServerMustProveItsRole) {
  // Dialing a member as if it were meta: its certificate names
  // member.scalefs, not meta.scalefs, so the client refuses it.
  grpc::Status s = Call(NewChannel(cluster_->MemberAddress(0, 0), Role::kMeta,
                                   cluster_->Credentials("admin")),
                        "/scalefs.meta.Meta/Fsck");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_NE(s.error_message().find("meta.scalefs"), std::string::npos) << s.error_message();
  // And the right role is served.
  s = Call(NewChannel(cluster_->meta_address(), Role::kMeta, cluster_->Credentials("admin")),
           "/scalefs.meta.Meta/Fsck");
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(SecurityTest, DaemonsRefuseToStartWithoutCertificatesUnlessInsecure) {
  std::string out;
  const std::string bin = SCALEFS_BIN_DIR;
  EXPECT_EQ(RunShell(bin + "/scalefs-meta --db=" + cluster_->state_dir() + "/x --listen=127.0.0.1:1",
                     &out),
            2);
  EXPECT_NE(out.find("needs a certificate"), std::string::npos) << out;
  EXPECT_EQ(RunShell(bin + "/scalefs-chunk --listen=127.0.0.1:1 --peer=127.0.0.1:2 --device=" +
                         cluster_->state_dir() + "/x.img --cert=/nonexistent.crt --key=/k",
                     &out),
            2);
  EXPECT_NE(out.find("/nonexistent.crt"), std::string::npos) << out;
  // The CLI with no certificate anywhere says where it looked.
  EXPECT_NE(RunShell("SCALEFS_STATE=/nonexistent " + bin + "/scalefs --meta=" +
                         cluster_->meta_address() + " pair list",
                     &out),
            0);
  EXPECT_NE(out.find("/nonexistent/tls"), std::string::npos) << out;
}

TEST_F(SecurityTest, CaRefusesBadRequests) {
  std::string out;
  const std::string bin = std::string(SCALEFS_BIN_DIR) + "/scalefs ca ";
  const std::string dir = " --dir " + cluster_->tls_dir();
  EXPECT_EQ(RunShell(bin + "init" + dir, &out), 1);
  EXPECT_NE(out.find("exists"), std::string::npos) << out;
  EXPECT_EQ(RunShell(bin + "issue wizard x" + dir, &out), 2);
  EXPECT_NE(out.find("unknown role"), std::string::npos) << out;
  EXPECT_EQ(RunShell(bin + "issue client 'a/b'" + dir, &out), 2);
  EXPECT_EQ(RunShell(bin + "issue member m --read_only" + dir, &out), 2);
  EXPECT_EQ(RunShell(bin + "issue client c --subdir relative" + dir, &out), 2);
  EXPECT_EQ(RunShell(bin + "issue client client" + dir, &out), 1);  // exists
  EXPECT_NE(out.find("--force"), std::string::npos) << out;
  // Private keys are the owner's only.
  struct stat st;
  ASSERT_EQ(stat((cluster_->tls_dir() + "/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
  ASSERT_EQ(stat((cluster_->tls_dir() + "/client.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
}

}  // namespace
}  // namespace scalefs::test
