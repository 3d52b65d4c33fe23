// Clients authorised per certificate: a read-only client's mount is
// read-only and meta and the members refuse its changes however it sends
// them; a client limited to /projects/a sees that directory as its root and
// cannot reach anything outside it, even by naming inode numbers; the root
// user of a client that squashes root acts as nobody.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <functional>

#include <cerrno>
#include <filesystem>
#include <set>

#include "common/rpc_channel.h"
#include "proto/chunk.grpc.pb.h"
#include "proto/meta.grpc.pb.h"
#include "test/harness/cluster.h"
#include "test/harness/fs_util.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

namespace fs = std::filesystem;

uint64_t InodeOf(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

int Errno(const grpc::Status& s) { return std::atoi(s.error_details().c_str()); }

// errno of a failed call (0 when it succeeded), for EXPECT_EQ.
int ErrnoOf(int rc) { return rc < 0 ? errno : 0; }

// Runs fn as uid:gid without supplementary groups in a child; its answer.
int AsUser(uid_t uid, gid_t gid, const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(200);
    _exit(fn());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

class GrantTest : public ::testing::Test {
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

  std::vector<std::string> CertFlags(const std::string& name) {
    return {"--cert=" + cluster_->tls_dir() + "/" + name + ".crt",
            "--key=" + cluster_->tls_dir() + "/" + name + ".key"};
  }

  static Cluster* cluster_;
};
Cluster* GrantTest::cluster_ = nullptr;

TEST_F(GrantTest, ReadOnlyCertificateMountsReadOnlyAndEveryChangeIsRefused) {
  const std::string m = cluster_->mnt();
  ASSERT_OK(WriteFile(m + "/data", "written by a read-write client"));
  ASSERT_OK(cluster_->Issue("client", "reader", {"--read_only"}));
  const std::string ro = cluster_->state_dir() + "/ro";
  ASSERT_OK(cluster_->MountAt(ro, "reader", CertFlags("reader")));

  auto read = ReadFile(ro + "/data");
  ASSERT_OK(read.status());
  EXPECT_EQ(*read, "written by a read-write client");
  struct statvfs sv;
  ASSERT_EQ(statvfs(ro.c_str(), &sv), 0);
  EXPECT_TRUE(sv.f_flag & ST_RDONLY) << "a read-only certificate must mount read-only";
  EXPECT_EQ(open((ro + "/new").c_str(), O_CREAT | O_WRONLY, 0644), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(mkdir((ro + "/dir").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);

  // The same client straight at meta and a member, past its kernel's ro.
  auto meta = cluster_->MetaStub("reader");
  {
    grpc::ClientContext ctx;
    meta::MakeNodeRequest req;
    req.set_parent(1);
    req.set_name("forged");
    req.set_mode(S_IFREG | 0644);
    meta::AttrReply rep;
    grpc::Status s = meta->MakeNode(&ctx, req, &rep);
    EXPECT_EQ(Errno(s), EROFS) << s.error_message();
    EXPECT_NE(s.error_message().find("read-only certificate"), std::string::npos);
  }
  {
    grpc::ClientContext ctx;
    meta::SetAttrRequest req;
    req.set_ino(InodeOf(m + "/data"));
    req.set_set_size(true);
    req.set_size(0);
    meta::AttrReply rep;
    EXPECT_EQ(Errno(meta->SetAttr(&ctx, req, &rep)), EROFS);
  }
  const std::string before = cluster_->DeviceSha256(0, 0) + cluster_->DeviceSha256(0, 1);
  {
    grpc::ClientContext ctx;
    chunk::WriteRequest req;
    req.set_offset(0);
    req.set_data(std::string(4096, 'R'));
    chunk::WriteReply rep;
    grpc::Status s = cluster_->ChunkStub(0, 0, "reader")->Write(&ctx, req, &rep);
    EXPECT_EQ(Errno(s), EROFS) << s.error_message();
  }
  EXPECT_EQ(cluster_->DeviceSha256(0, 0) + cluster_->DeviceSha256(0, 1), before) << "a read-only client changed a device";
  EXPECT_FALSE(fs::exists(m + "/forged"));
  auto still = ReadFile(m + "/data");
  ASSERT_OK(still.status());
  EXPECT_EQ(*still, "written by a read-write client");
  ASSERT_OK(cluster_->UnmountAt(ro, "reader"));
}

TEST_F(GrantTest, SubdirectoryCertificateSeesOnlyItsSubtree) {
  const std::string m = cluster_->mnt();
  fs::create_directories(m + "/projects/a/deep");
  fs::create_directories(m + "/projects/b");
  ASSERT_OK(WriteFile(m + "/projects/a/mine", "project a"));
  ASSERT_OK(WriteFile(m + "/projects/b/secret", "project b"));
  ASSERT_OK(WriteFile(m + "/top", "top level"));
  ASSERT_OK(cluster_->Issue("client", "team-a", {"--subdir", "/projects/a"}));
  const std::string sub = cluster_->state_dir() + "/sub";
  ASSERT_OK(cluster_->MountAt(sub, "team-a", CertFlags("team-a")));

  // Its root is /projects/a.
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(sub)) names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"deep", "mine"}));
  auto mine = ReadFile(sub + "/mine");
  ASSERT_OK(mine.status());
  EXPECT_EQ(*mine, "project a");
  EXPECT_EQ(InodeOf(sub), 1u) << "the subdirectory is this client's root";
  EXPECT_FALSE(fs::exists(sub + "/top"));
  EXPECT_FALSE(fs::exists(sub + "/projects"));
  // Changes land under /projects/a for everyone else.
  ASSERT_OK(WriteFile(sub + "/deep/made", "by team a"));
  auto seen = ReadFile(m + "/projects/a/deep/made");
  ASSERT_OK(seen.status());
  EXPECT_EQ(*seen, "by team a");
  std::error_code ec;
  fs::rename(sub + "/deep/made", sub + "/moved", ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(fs::exists(m + "/projects/a/moved"));

  // Naming inodes outside, straight at meta, is refused before anything runs.
  auto meta = cluster_->MetaStub("team-a");
  const uint64_t secret = InodeOf(m + "/projects/b/secret");
  const uint64_t projects = InodeOf(m + "/projects");
  const uint64_t top = InodeOf(m + "/top");
  ASSERT_NE(secret, 0u);
  for (uint64_t ino : {secret, projects, top}) {
    grpc::ClientContext ctx;
    meta::InodeRequest req;
    req.set_ino(ino);
    meta::AttrReply rep;
    grpc::Status s = meta->GetAttr(&ctx, req, &rep);
    EXPECT_EQ(Errno(s), EACCES) << ino << ": " << s.error_message();
    EXPECT_NE(s.error_message().find("outside this client's subdirectory /projects/a"),
              std::string::npos)
        << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    meta::ExtentsRequest req;
    req.set_ino(secret);
    req.set_length(4096);
    meta::ExtentsReply rep;
    EXPECT_EQ(Errno(meta->GetExtents(&ctx, req, &rep)), EACCES);
  }
  {
    // ".." of its root is its root.
    grpc::ClientContext ctx;
    meta::LookupRequest req;
    req.set_parent(1);
    req.set_name("..");
    meta::AttrReply rep;
    ASSERT_TRUE(meta->Lookup(&ctx, req, &rep).ok());
    EXPECT_EQ(rep.attr().ino(), 1u);
  }
  {
    // Moving its file out into the real root's "projects" is refused.
    grpc::ClientContext ctx;
    meta::RenameRequest req;
    req.set_parent(1);
    req.set_name("mine");
    req.set_new_parent(projects);
    req.set_new_name("stolen");
    meta::Empty rep;
    EXPECT_EQ(Errno(meta->Rename(&ctx, req, &rep)), EACCES);
  }
  EXPECT_TRUE(fs::exists(m + "/projects/a/mine"));
  EXPECT_FALSE(fs::exists(m + "/projects/stolen"));
  ASSERT_OK(cluster_->UnmountAt(sub, "team-a"));

  // A subdirectory that is not there: the mount fails and says so.
  ASSERT_OK(cluster_->Issue("client", "team-z", {"--subdir", "/projects/z"}));
  std::string out;
  const std::string z = cluster_->state_dir() + "/z";
  fs::create_directories(z);
  std::string cmd = std::string(SCALEFS_BIN_DIR) + "/scalefs";
  for (const std::string& f : CertFlags("team-z")) cmd += " " + f;
  EXPECT_NE(RunShell(cmd + " mount " + cluster_->meta_address() + " " + z, &out), 0);
  EXPECT_NE(out.find("/projects/z"), std::string::npos) << out;
  if (IsMounted(z)) RunShell("fusermount3 -u " + z);
}

TEST_F(GrantTest, RootSquashMakesTheClientsRootNobody) {
  const std::string m = cluster_->mnt();
  const std::string d = m + "/squash";
  fs::create_directories(d);
  ASSERT_OK(WriteFile(d + "/private", "root only"));
  ASSERT_EQ(chmod((d + "/private").c_str(), 0600), 0);
  ASSERT_OK(WriteFile(d + "/public", "everyone reads"));
  ASSERT_EQ(chmod((d + "/public").c_str(), 0644), 0);
  fs::create_directories(d + "/open");
  ASSERT_EQ(chmod((d + "/open").c_str(), 0777), 0);
  fs::create_directories(d + "/tmp");
  ASSERT_EQ(chmod((d + "/tmp").c_str(), 01777), 0);
  ASSERT_OK(WriteFile(d + "/tmp/roots", "root's, world-writable"));
  ASSERT_EQ(chmod((d + "/tmp/roots").c_str(), 0666), 0);
  fs::create_directories(d + "/closed");
  ASSERT_EQ(chmod((d + "/closed").c_str(), 0700), 0);
  ASSERT_OK(WriteFile(d + "/closed/inner", "behind a closed directory"));

  ASSERT_OK(cluster_->Issue("client", "squashed", {"--root_squash"}));
  const std::string sq_mnt = cluster_->state_dir() + "/squashed";
  std::vector<std::string> flags = CertFlags("squashed");
  flags.insert(flags.end(), {"-o", "allow_other"});  // for the other users' part
  ASSERT_OK(cluster_->MountAt(sq_mnt, "squashed", flags));
  const std::string sq = sq_mnt + "/squash";
  ASSERT_EQ(geteuid(), 0u) << "this test runs as root, the user it squashes";

  // Reading what others may read works; what only root may, does not.
  auto pub = ReadFile(sq + "/public");
  ASSERT_OK(pub.status());
  EXPECT_EQ(*pub, "everyone reads");
  EXPECT_EQ(ErrnoOf(open((sq + "/private").c_str(), O_RDONLY)), EACCES);
  EXPECT_EQ(ErrnoOf(open((sq + "/public").c_str(), O_WRONLY)), EACCES);
  EXPECT_EQ(ErrnoOf(open((sq + "/public").c_str(), O_RDONLY | O_TRUNC)), EACCES);
  EXPECT_EQ(ErrnoOf(truncate((sq + "/public").c_str(), 0)), EACCES);
  // No creates, renames or removals in root's 0755 directory.
  EXPECT_EQ(ErrnoOf(open((sq + "/new").c_str(), O_CREAT | O_WRONLY, 0644)), EACCES);
  EXPECT_EQ(ErrnoOf(mkdir((sq + "/newdir").c_str(), 0755)), EACCES);
  EXPECT_EQ(ErrnoOf(unlink((sq + "/public").c_str())), EACCES);
  EXPECT_EQ(ErrnoOf(rename((sq + "/public").c_str(), (sq + "/open/taken").c_str())), EACCES);
  EXPECT_EQ(ErrnoOf(link((sq + "/private").c_str(), (sq + "/open/hardlink").c_str())), EPERM);
  // No owner's rights over root's files.
  EXPECT_EQ(ErrnoOf(chmod((sq + "/public").c_str(), 0666)), EPERM);
  EXPECT_EQ(ErrnoOf(chown((sq + "/public").c_str(), 65534, 65534)), EPERM);
  EXPECT_EQ(ErrnoOf(setxattr((sq + "/public").c_str(), "user.tag", "x", 1, 0)), EACCES);
  EXPECT_EQ(ErrnoOf(setxattr((sq + "/public").c_str(), "trusted.tag", "x", 1, 0)), EPERM);
  // A closed directory stays closed.
  EXPECT_EQ(ErrnoOf(open((sq + "/closed/inner").c_str(), O_RDONLY)), EACCES);
  EXPECT_EQ(ErrnoOf(open((sq + "/closed").c_str(), O_RDONLY | O_DIRECTORY)), EACCES);
  // The sticky bit protects root's entry, though the file itself is writable.
  EXPECT_EQ(ErrnoOf(unlink((sq + "/tmp/roots").c_str())), EPERM);
  ASSERT_OK(WriteFile(sq + "/tmp/roots", "rewritten by nobody"));

  // What nobody may do works, and what it makes is nobody's.
  ASSERT_OK(WriteFile(sq + "/open/mine", "made by the squashed root"));
  struct stat st;
  ASSERT_EQ(stat((m + "/squash/open/mine").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_gid, 65534u);
  ASSERT_EQ(mkdir((sq + "/open/sub").c_str(), 0700), 0);
  ASSERT_EQ(stat((m + "/squash/open/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(chmod((sq + "/open/mine").c_str(), 0600), 0) << "its own file: chmod is allowed";
  EXPECT_EQ(setxattr((sq + "/open/mine").c_str(), "user.tag", "x", 1, 0), 0);
  EXPECT_EQ(unlink((sq + "/open/mine").c_str()), 0);

  // Other users of the squashed client are themselves (their kernel checks them).
  const std::string as_user = sq + "/open/user1000";
  EXPECT_EQ(AsUser(1000, 1000, [&] {
              return ErrnoOf(open(as_user.c_str(), O_CREAT | O_WRONLY | O_EXCL, 0644) < 0 ? -1 : 0);
            }),
            0);
  ASSERT_EQ(stat((m + "/squash/open/user1000").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(AsUser(1000, 1000, [&] { return ErrnoOf(open((sq + "/private").c_str(), O_RDONLY)); }),
            EACCES);

  // Everything root was refused is as it was; an unsquashed client's root still reads it.
  auto priv = ReadFile(m + "/squash/private");
  ASSERT_OK(priv.status());
  EXPECT_EQ(*priv, "root only");
  ASSERT_EQ(stat((m + "/squash/public").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_size, 14);
  for (const char* gone : {"new", "newdir", "open/taken", "open/hardlink"}) {
    EXPECT_FALSE(fs::exists(m + "/squash/" + gone)) << gone;
  }
  EXPECT_TRUE(fs::exists(m + "/squash/tmp/roots"));
  ASSERT_OK(cluster_->UnmountAt(sq_mnt, "squashed"));
}

}  // namespace
}  // namespace scalefs::test
