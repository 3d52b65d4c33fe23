// POSIX ACLs through a real mount, with the tools people use on them
// (getfacl, setfacl, cp -a, cp -p): the mode follows the ACL, new inodes
// inherit default ACLs, and the kernel enforces named entries for other
// users. Expected outputs are what ext4 gives for the same commands.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/rpc_status.h"
#include "test/harness/cluster.h"
#include "test/harness/test_macros.h"

namespace scalefs::test {
namespace {

constexpr char kAccess[] = "system.posix_acl_access";
constexpr char kDefault[] = "system.posix_acl_default";

class AclTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ClusterOptions o;
    o.pairs = 1;
    o.mount_options = {"allow_other"};  // other uids must reach the mount
    cluster_ = new Cluster(o);
    Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = cluster_->mnt() + "/" + name;
    ASSERT_SYS(mkdir(dir_.c_str(), 0755));
    ASSERT_SYS(chmod(dir_.c_str(), 0755));
    // Beside the mount, on the host's own filesystem: sources to copy from.
    local_ = cluster_->state_dir() + "/local-" + name;
    ASSERT_SYS(mkdir(local_.c_str(), 0755));
  }
  std::string P(const std::string& rel) const { return dir_ + "/" + rel; }

  // Runs a shell script in `dir`; its output (stdout and stderr) on success.
  static std::string Sh(const std::string& dir, const std::string& script) {
    std::string out;
    const int rc = RunShell("(cd '" + dir + "' && " + script + ")", &out);
    EXPECT_EQ(rc, 0) << script << ":\n" << out;
    return out;
  }
  std::string Sh(const std::string& script) const { return Sh(dir_, script); }
  std::string Mode(const std::string& rel) const { return Sh("stat -c %a '" + rel + "'"); }
  std::string Getfacl(const std::string& rel) const {
    return Sh("getfacl -nE --omit-header '" + rel + "'");
  }

  // Opens and reads path as uid:gid with no supplementary groups (or just
  // `group`); returns 0 or the errno that stopped it.
  static int ReadAs(const std::string& path, uid_t uid, gid_t gid, gid_t group = 0) {
    pid_t pid = fork();
    if (pid == 0) {
      const gid_t groups[1] = {group};
      if (setgroups(group != 0 ? 1 : 0, groups) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        _exit(200);
      }
      int fd = open(path.c_str(), O_RDONLY);
      if (fd < 0) _exit(errno);
      char c;
      if (read(fd, &c, 1) != 1) _exit(errno != 0 ? errno : 201);
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 202;
  }

  static Cluster* cluster_;
  std::string dir_, local_;
};
Cluster* AclTest::cluster_ = nullptr;

TEST_F(AclTest, SetfaclAndGetfaclRoundTrip) {
  Sh("touch f && chmod 0640 f && setfacl -m u:1000:rw f");
  EXPECT_EQ(Getfacl("f"), "user::rw-\nuser:1000:rw-\ngroup::r--\nmask::rw-\nother::---\n\n");
  // The mode's group bits are the mask, and stat sees them at once (the
  // kernel asks again after the setxattr).
  EXPECT_EQ(Mode("f"), "660\n");
  Sh("setfacl -m g:2000:r-x f");
  EXPECT_EQ(Getfacl("f"),
            "user::rw-\nuser:1000:rw-\ngroup::r--\ngroup:2000:r-x\nmask::rwx\nother::---\n\n");
  EXPECT_EQ(Mode("f"), "670\n");
  Sh("setfacl -x u:1000 f");
  EXPECT_EQ(Getfacl("f"), "user::rw-\ngroup::r--\ngroup:2000:r-x\nmask::r-x\nother::---\n\n");
  EXPECT_EQ(Mode("f"), "650\n");
  // Back to what the mode can say (setfacl takes GROUP_OBJ within the
  // mask): no ACL is left behind.
  Sh("setfacl -b f");
  EXPECT_EQ(Getfacl("f"), "user::rw-\ngroup::r--\nother::---\n\n");
  EXPECT_EQ(Mode("f"), "640\n");
  EXPECT_ERRNO(ENODATA, getxattr(P("f").c_str(), kAccess, nullptr, 0));
}

TEST_F(AclTest, ChmodUpdatesTheAcl) {
  Sh("touch f && chmod 0640 f && setfacl -m u:1000:rw,g:2000:r-x f");
  ASSERT_SYS(chmod(P("f").c_str(), 0604));
  EXPECT_EQ(Getfacl("f"),
            "user::rw-\nuser:1000:rw-\ngroup::r--\ngroup:2000:r-x\nmask::---\nother::r--\n\n");
  EXPECT_EQ(Mode("f"), "604\n");
  ASSERT_SYS(chmod(P("f").c_str(), 0771));
  EXPECT_EQ(Getfacl("f"),
            "user::rwx\nuser:1000:rw-\ngroup::r--\ngroup:2000:r-x\nmask::rwx\nother::--x\n\n");
}

// The tree of issue 12: every mode must arrive as it left.
TEST_F(AclTest, CpDashAAndDashPKeepEveryMode) {
  Sh(local_,
     "mkdir d755 d700 d750 d755/inner && chmod 0755 d755 && chmod 0700 d700 && chmod 0750 d750"
     " && printf '#!/bin/sh\\necho ran\\n' > exe && chmod 0755 exe"
     " && echo a > f644 && chmod 0644 f644 && echo b > f600 && chmod 0600 f600"
     " && echo c > d755/inner/g && chmod 0644 d755/inner/g"
     " && cp exe d750/exe && chmod 0750 d750/exe"
     " && echo d > d700/h && chmod 0600 d700/h && echo e > withacl && chmod 0640 withacl"
     " && setfacl -m u:1000:r,g:2000:rw withacl");
  const std::string listing = "find . -printf '%P %m %y\\n' | sort";
  const std::string want = Sh(local_, listing);
  // In name order: a scalefs directory lists its entries in another order than ext4.
  const std::string acls = "find . | sort | xargs -d '\\n' getfacl -nE";
  const std::string want_acls = Sh(local_, acls);
  // A restrictive umask, as cp creates before it sets the modes.
  Sh("umask 077 && cp -a '" + local_ + "' a && cp -rp '" + local_ + "' p");
  for (const std::string copy : {"a", "p"}) {
    EXPECT_EQ(Sh(P(copy), listing), want) << "cp -" << copy;
    EXPECT_EQ(Sh(P(copy), acls), want_acls)
        << "cp -" << copy;
    EXPECT_EQ(Sh(P(copy), "./exe && ./d750/exe"), "ran\nran\n");
  }
  // One file alone, as cp -p file dest.
  Sh("cp -p '" + local_ + "/f644' single && cp -p '" + local_ + "/exe' single_exe");
  EXPECT_EQ(Sh("stat -c %a single single_exe"), "644\n755\n");
}

TEST_F(AclTest, ADefaultAclIsInherited) {
  Sh("mkdir d && setfacl -d -m u:1000:rwx d");
  EXPECT_EQ(Getfacl("d"),
            "user::rwx\ngroup::r-x\nother::r-x\n"
            "default:user::rwx\ndefault:user:1000:rwx\ndefault:group::r-x\n"
            "default:mask::rwx\ndefault:other::r-x\n\n");
  // The umask does not apply under a default ACL: the ACL decides.
  Sh("umask 077 && touch d/f && mkdir d/sub && mkfifo d/p && ln -s f d/l && touch d/sub/g");
  EXPECT_EQ(Sh("stat -c '%n %a' d/f d/sub d/p d/l d/sub/g"),
            "d/f 664\nd/sub 775\nd/p 664\nd/l 777\nd/sub/g 664\n");
  const std::string file_acl = "user::rw-\nuser:1000:rwx\ngroup::r-x\nmask::rw-\nother::r--\n\n";
  EXPECT_EQ(Getfacl("d/f"), file_acl);
  EXPECT_EQ(Getfacl("d/p"), file_acl);
  EXPECT_EQ(Getfacl("d/sub/g"), file_acl);
  EXPECT_EQ(Getfacl("d/sub"),
            "user::rwx\nuser:1000:rwx\ngroup::r-x\nmask::rwx\nother::r-x\n"
            "default:user::rwx\ndefault:user:1000:rwx\ndefault:group::r-x\n"
            "default:mask::rwx\ndefault:other::r-x\n\n");
  // An open(O_CREAT) with a mode narrower than the default.
  int fd = open(P("d/narrow").c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  close(fd);
  EXPECT_EQ(Getfacl("d/narrow"), "user::rw-\nuser:1000:rwx\ngroup::r-x\nmask::---\nother::---\n\n");
  EXPECT_EQ(Mode("d/narrow"), "600\n");
}

TEST_F(AclTest, WithoutADefaultAclTheUmaskApplies) {
  Sh("umask 027 && touch f && mkdir d && mkfifo p && ln -s f l");
  EXPECT_EQ(Sh("stat -c '%n %a' f d p l"), "f 640\nd 750\np 640\nl 777\n");
  Sh("umask 0 && touch g && mkdir e");
  EXPECT_EQ(Sh("stat -c '%n %a' g e"), "g 666\ne 777\n");
  // Nothing to store: the mode says it all.
  EXPECT_EQ(listxattr(P("f").c_str(), nullptr, 0), 0);
  EXPECT_EQ(listxattr(P("d").c_str(), nullptr, 0), 0);
}

TEST_F(AclTest, NamedEntriesDecideForOtherUsers) {
  Sh("echo secret > s && chmod 0600 s");
  EXPECT_EQ(ReadAs(P("s"), 1000, 1000), EACCES);
  Sh("setfacl -m u:1000:r s");
  EXPECT_EQ(ReadAs(P("s"), 1000, 1000), 0) << "the named user entry should let uid 1000 read";
  EXPECT_EQ(ReadAs(P("s"), 1001, 1001), EACCES) << "uid 1001 has no entry";
  // A named group, through a supplementary group.
  EXPECT_EQ(ReadAs(P("s"), 1002, 1002, 2000), EACCES);
  Sh("setfacl -m g:2000:r s");
  EXPECT_EQ(ReadAs(P("s"), 1002, 1002, 2000), 0);
  // The mask limits named entries; the kernel forgets the ACL it cached.
  Sh("setfacl -m m::--- s");
  EXPECT_EQ(ReadAs(P("s"), 1000, 1000), EACCES);
  EXPECT_EQ(ReadAs(P("s"), 1002, 1002, 2000), EACCES);
  Sh("setfacl -m m::r s && setfacl -x u:1000 s");
  EXPECT_EQ(ReadAs(P("s"), 1000, 1000), EACCES);
  EXPECT_EQ(ReadAs(P("s"), 1002, 1002, 2000), 0);
  // A chmod is a new mask too.
  ASSERT_SYS(chmod(P("s").c_str(), 0600));
  EXPECT_EQ(ReadAs(P("s"), 1002, 1002, 2000), EACCES);
}

// A value in the Linux format, version 2.
std::string AclValue(const std::vector<std::vector<uint32_t>>& entries, uint32_t version = 2) {
  std::string out;
  auto put = [&out](uint32_t v, int bytes) {
    for (int i = 0; i < bytes; i++) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  put(version, 4);
  for (const auto& e : entries) {
    put(e[0], 2);
    put(e[1], 2);
    put(e[2], 4);
  }
  return out;
}

// The kernel refuses these itself before fsd sees them; meta refuses them
// too, for a client that sends them anyway. Either way nothing changes.
TEST_F(AclTest, ABadAclChangesNothing) {
  Sh("touch f && chmod 0640 f && setfacl -m u:1000:r f && mkdir d");
  const std::string before = Getfacl("f");
  const uint32_t U = 0xffffffff;
  const std::string no_mask = AclValue({{1, 7, U}, {2, 7, 1000}, {4, 7, U}, {0x20, 7, U}});
  const std::string perm8 = AclValue({{1, 8, U}, {4, 7, U}, {0x20, 7, U}});
  const std::string no_other = AclValue({{1, 7, U}, {4, 7, U}});
  struct stat st;
  ASSERT_SYS(stat(P("f").c_str(), &st));
  auto meta = cluster_->MetaStub();
  for (const std::string& v : {no_mask, perm8, no_other, no_mask.substr(0, 9)}) {
    EXPECT_ERRNO(EINVAL, setxattr(P("f").c_str(), kAccess, v.data(), v.size(), 0));
    EXPECT_ERRNO(EINVAL, setxattr(P("d").c_str(), kDefault, v.data(), v.size(), 0));
    // Straight to meta, as a client whose kernel checked nothing.
    grpc::ClientContext ctx;
    meta::SetXattrRequest req;
    req.set_ino(st.st_ino);
    req.set_name(kAccess);
    req.set_value(v);
    meta::Empty reply;
    EXPECT_EQ(FromGrpc(meta->SetXattr(&ctx, req, &reply), "SetXattr").code(),
              Status::Code::kInvalid);
  }
  const std::string v1 = AclValue({{1, 7, U}, {4, 7, U}, {0x20, 7, U}}, 1);
  EXPECT_ERRNO(EOPNOTSUPP, setxattr(P("f").c_str(), kAccess, v1.data(), v1.size(), 0));
  // A default ACL is for directories.
  const std::string base = AclValue({{1, 7, U}, {4, 7, U}, {0x20, 7, U}});
  EXPECT_ERRNO(EACCES, setxattr(P("f").c_str(), kDefault, base.data(), base.size(), 0));
  EXPECT_EQ(Getfacl("f"), before);
  EXPECT_EQ(Mode("f"), "640\n");
  EXPECT_EQ(Getfacl("d"), "user::rwx\ngroup::r-x\nother::r-x\n\n");
}

TEST_F(AclTest, SetgidGoesWhenTheOwnerIsOutsideTheGroup) {
  // Owned by 1000, group 2000; root sets setgid (it may).
  Sh("touch f g && chown 1000:2000 f g && chmod 2775 f g");
  EXPECT_EQ(Mode("f"), "2775\n");
  Sh("setpriv --reuid=1000 --regid=1000 --clear-groups setfacl -m u:5:r f");
  EXPECT_EQ(Mode("f"), "775\n") << "uid 1000 is not in group 2000 and holds no CAP_FSETID";
  Sh("setpriv --reuid=1000 --regid=1000 --groups=2000 setfacl -m u:5:r g");
  EXPECT_EQ(Mode("g"), "2775\n") << "uid 1000 is in group 2000";
  Sh("chmod 2775 f && setfacl -m u:6:r f");
  EXPECT_EQ(Mode("f"), "2775\n") << "root holds CAP_FSETID";
}

}  // namespace
}  // namespace scalefs::test
