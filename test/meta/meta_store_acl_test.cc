// POSIX ACLs through MetaStore: each change to an ACL, a mode or a new
// inode writes the mode and the ACL xattrs together, and one that fails
// writes neither.
#include <sys/stat.h>
#include <sys/xattr.h>

#include <gtest/gtest.h>

#include "acl_test_util.h"
#include "meta/meta_store.h"
#include "meta/posix_acl.h"
#include "meta_test_util.h"
#include "store_calls.h"

namespace scalefs::meta {
namespace {

using namespace ::scalefs::meta::testing;  // the store_calls.h shapes

using Code = Status::Code;
using testing::AclText;
using testing::AclXattr;
constexpr uint32_t U = kAclUndefinedId;
const std::string kAccess(kAclAccessXattr);
const std::string kDefault(kAclDefaultXattr);

class MetaStoreAclTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    auto r = MetaStore::Open(dir_.path());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    store_ = std::move(r.value());
  }
  Result<InodeRecord> Make(uint64_t parent, const std::string& name, uint32_t mode,
                           uint32_t umask = 0) {
    MakeNodeRequest req;
    req.set_parent(parent);
    req.set_name(name);
    req.set_mode(mode);
    req.set_umask(umask);
    if (S_ISLNK(mode)) req.set_symlink_target("target");
    return MakeNode(store_.get(), req);
  }
  uint64_t Mk(uint64_t parent, const std::string& name, uint32_t mode, uint32_t umask = 0) {
    Result<InodeRecord> r = Make(parent, name, mode, umask);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->attr().ino() : 0;
  }
  uint32_t Mode(uint64_t ino) {
    auto r = store_->GetAttr(ino);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->attr().mode() : 0;
  }
  // The ACL xattr as text, or "none".
  std::string Acl(uint64_t ino, const std::string& name) {
    Result<std::string> r = store_->GetXattr(ino, name);
    if (!r.ok()) return r.status().code() == Code::kNoData ? "none" : r.status().ToString();
    return AclText(*r);
  }
  Status Chmod(uint64_t ino, uint32_t mode) {
    SetAttrRequest req;
    req.set_ino(ino);
    req.set_set_mode(true);
    req.set_mode(mode);
    return SetAttr(store_.get(), req).status();
  }
  void ExpectClean() {
    FsckReply r = store_->Fsck();
    for (const auto& p : r.problems()) ADD_FAILURE() << p;
  }

  testing::TempDir dir_;
  std::unique_ptr<MetaStore> store_;
};

const std::string kNamedUser = AclXattr({{kAclUserObj, 6, U}, {kAclUser, 4, 1000},
                                         {kAclGroupObj, 0, U}, {kAclMask, 4, U},
                                         {kAclOther, 0, U}});

TEST_F(MetaStoreAclTest, AnAccessAclSetsTheModeInTheSameChange) {
  const uint64_t f = Mk(1, "f", S_IFREG | 0777);
  const int64_t ctime = store_->GetAttr(f)->attr().ctime_ns();
  ASSERT_TRUE(SetXattr(store_.get(), f, kAccess, kNamedUser, 0).ok());
  Reopen();  // both are durable, not only in memory
  EXPECT_EQ(Mode(f), uint32_t{S_IFREG | 0640});
  EXPECT_EQ(Acl(f, kAccess), "u::rw- u:1000:r-- g::--- m::r-- o::---");
  EXPECT_GT(store_->GetAttr(f)->attr().ctime_ns(), ctime);
  // The flags do not apply to ACLs (the kernel ignores them too).
  EXPECT_TRUE(SetXattr(store_.get(), f, kAccess, kNamedUser, XATTR_CREATE).ok());
  ExpectClean();
}

TEST_F(MetaStoreAclTest, AnAclTheModeCanSayIsNotStored) {
  const uint64_t f = Mk(1, "f", S_IFREG | 0600);
  ASSERT_TRUE(SetXattr(store_.get(), f, kAccess, kNamedUser, 0).ok());
  // cp -p and chmod-by-ACL send just the base entries: the mode, and the
  // stored ACL goes (posix_acl_update_mode).
  const std::string base =
      AclXattr({{kAclUserObj, 7, U}, {kAclGroupObj, 5, U}, {kAclOther, 5, U}});
  ASSERT_TRUE(SetXattr(store_.get(), f, kAccess, base, 0).ok());
  EXPECT_EQ(Mode(f), uint32_t{S_IFREG | 0755});
  EXPECT_EQ(Acl(f, kAccess), "none");
  EXPECT_TRUE(store_->ListXattr(f)->empty());
}

TEST_F(MetaStoreAclTest, ABadAclChangesNothing) {
  const uint64_t f = Mk(1, "f", S_IFREG | 0600);
  ASSERT_TRUE(SetXattr(store_.get(), f, kAccess, kNamedUser, 0).ok());
  const InodeRecord before = *store_->GetAttr(f);
  // A named entry without a mask; a permission of 8; not whole entries.
  const std::vector<std::string> bad = {
      AclXattr({{kAclUserObj, 7, U}, {kAclUser, 7, 5}, {kAclGroupObj, 7, U}, {kAclOther, 7, U}}),
      AclXattr({{kAclUserObj, 8, U}, {kAclGroupObj, 7, U}, {kAclOther, 7, U}}),
      kNamedUser.substr(0, kNamedUser.size() - 1)};
  for (const std::string& value : bad) {
    EXPECT_EQ(SetXattr(store_.get(), f, kAccess, value, 0).code(), Code::kInvalid);
    EXPECT_EQ(SetXattr(store_.get(), 1, kDefault, value, 0).code(), Code::kInvalid);
  }
  EXPECT_EQ(SetXattr(store_.get(), f, kAccess, AclXattr({}, 1), 0).code(), Code::kNotSupported);
  EXPECT_EQ(store_->GetAttr(f)->SerializeAsString(), before.SerializeAsString());
  EXPECT_EQ(Acl(f, kAccess), "u::rw- u:1000:r-- g::--- m::r-- o::---");
  EXPECT_EQ(Acl(1, kDefault), "none");
}

TEST_F(MetaStoreAclTest, SetgidGoesOnlyWhenTheClientSaysSo) {
  const uint64_t f = Mk(1, "f", S_IFREG | S_ISGID | 0775);
  ASSERT_TRUE(SetXattr(store_.get(), f, kAccess, kNamedUser, 0, /*acl_kill_sgid=*/false).ok());
  EXPECT_EQ(Mode(f), uint32_t{S_IFREG | S_ISGID | 0640});
  ASSERT_TRUE(SetXattr(store_.get(), f, kAccess, kNamedUser, 0, /*acl_kill_sgid=*/true).ok());
  EXPECT_EQ(Mode(f), uint32_t{S_IFREG | 0640});
  // Not for other xattrs.
  ASSERT_TRUE(Chmod(f, S_ISGID | 0640).ok());
  ASSERT_TRUE(SetXattr(store_.get(), f, "user.x", "v", 0, true).ok());
  EXPECT_EQ(Mode(f), uint32_t{S_IFREG | S_ISGID | 0640});
}

TEST_F(MetaStoreAclTest, RemovingTheAccessAclLeavesTheMode) {
  const uint64_t f = Mk(1, "f", S_IFREG | 0600);
  ASSERT_TRUE(SetXattr(store_.get(), f, kAccess, kNamedUser, 0).ok());
  ASSERT_TRUE(RemoveXattr(store_.get(), f, kAccess).ok());
  EXPECT_EQ(Mode(f), uint32_t{S_IFREG | 0640});
  EXPECT_EQ(Acl(f, kAccess), "none");
  // As on ext4, removing an ACL there is none of succeeds.
  EXPECT_TRUE(RemoveXattr(store_.get(), f, kAccess).ok());
  EXPECT_TRUE(RemoveXattr(store_.get(), f, kDefault).ok());
  EXPECT_EQ(RemoveXattr(store_.get(), f, "user.none").code(), Code::kNoData);
}

TEST_F(MetaStoreAclTest, ADefaultAclIsForDirectories) {
  const uint64_t f = Mk(1, "f", S_IFREG | 0644);
  const uint64_t d = Mk(1, "d", S_IFDIR | 0700);
  const std::string def = AclXattr({{kAclUserObj, 7, U}, {kAclGroupObj, 5, U}, {kAclOther, 0, U}});
  EXPECT_EQ(SetXattr(store_.get(), f, kDefault, def, 0).code(), Code::kAccess);
  EXPECT_EQ(Acl(f, kDefault), "none");
  ASSERT_TRUE(SetXattr(store_.get(), d, kDefault, def, 0).ok());
  EXPECT_EQ(Acl(d, kDefault), "u::rwx g::r-x o::---");  // kept though it has base entries only
  EXPECT_EQ(Mode(d), uint32_t{S_IFDIR | 0700});
  EXPECT_EQ(Acl(d, kAccess), "none");
}

TEST_F(MetaStoreAclTest, ChmodUpdatesAStoredAcl) {
  const uint64_t f = Mk(1, "f", S_IFREG | 0600);
  ASSERT_TRUE(SetXattr(store_.get(), f, kAccess, kNamedUser, 0).ok());
  ASSERT_TRUE(Chmod(f, 0751).ok());
  Reopen();
  EXPECT_EQ(Mode(f), uint32_t{S_IFREG | 0751});
  EXPECT_EQ(Acl(f, kAccess), "u::rwx u:1000:r-- g::--- m::r-x o::--x");
  // Without an ACL a chmod stores none.
  const uint64_t g = Mk(1, "g", S_IFREG | 0600);
  ASSERT_TRUE(Chmod(g, 0644).ok());
  EXPECT_EQ(Acl(g, kAccess), "none");
  // A setattr without the mode leaves the ACL.
  SetAttrRequest req;
  req.set_ino(f);
  req.set_set_uid(true);
  req.set_uid(7);
  ASSERT_TRUE(SetAttr(store_.get(), req).ok());
  EXPECT_EQ(Acl(f, kAccess), "u::rwx u:1000:r-- g::--- m::r-x o::--x");
}

TEST_F(MetaStoreAclTest, WithoutADefaultAclTheUmaskApplies) {
  EXPECT_EQ(Make(1, "f", S_IFREG | 0666, 022)->attr().mode(), uint32_t{S_IFREG | 0644});
  EXPECT_EQ(Make(1, "d", S_IFDIR | 0777, 027)->attr().mode(), uint32_t{S_IFDIR | 0750});
  EXPECT_EQ(Make(1, "p", S_IFIFO | 0666, 077)->attr().mode(), uint32_t{S_IFIFO | 0600});
  EXPECT_EQ(Make(1, "l", S_IFLNK | 0777, 077)->attr().mode(), uint32_t{S_IFLNK | 0777});
  // The dentry carries the same mode (ReadDir's types and attrs).
  EXPECT_EQ(store_->Lookup(1, "f")->attr().mode(), uint32_t{S_IFREG | 0644});
  EXPECT_EQ(store_->ListXattr(store_->Lookup(1, "d")->attr().ino())->size(), 0u);
}

TEST_F(MetaStoreAclTest, NewInodesInheritTheDefaultAcl) {
  const uint64_t d = Mk(1, "d", S_IFDIR | 0755);
  const std::string def = AclXattr({{kAclUserObj, 7, U}, {kAclUser, 7, 1000},
                                    {kAclGroupObj, 5, U}, {kAclMask, 7, U}, {kAclOther, 0, U}});
  ASSERT_TRUE(SetXattr(store_.get(), d, kDefault, def, 0).ok());
  // The umask does not apply under a default ACL.
  const uint64_t f = Mk(d, "f", S_IFREG | 0666, 077);
  const uint64_t sub = Mk(d, "sub", S_IFDIR | 0777, 077);
  const uint64_t p = Mk(d, "p", S_IFIFO | 0640, 077);
  const uint64_t l = Mk(d, "l", S_IFLNK | 0777, 077);
  Reopen();
  EXPECT_EQ(Mode(f), uint32_t{S_IFREG | 0660});
  EXPECT_EQ(Acl(f, kAccess), "u::rw- u:1000:rwx g::r-x m::rw- o::---");
  EXPECT_EQ(Acl(f, kDefault), "none");
  EXPECT_EQ(Mode(sub), uint32_t{S_IFDIR | 0770});
  EXPECT_EQ(Acl(sub, kAccess), "u::rwx u:1000:rwx g::r-x m::rwx o::---");
  EXPECT_EQ(Acl(sub, kDefault), AclText(def));
  EXPECT_EQ(Mode(p), uint32_t{S_IFIFO | 0640});
  EXPECT_EQ(Acl(p, kAccess), "u::rw- u:1000:rwx g::r-x m::r-- o::---");
  EXPECT_EQ(Mode(l), uint32_t{S_IFLNK | 0777});
  EXPECT_EQ(Acl(l, kAccess), "none");
  // And the subdirectory hands the default on.
  const uint64_t f2 = Mk(sub, "f2", S_IFREG | 0600, 0);
  EXPECT_EQ(Mode(f2), uint32_t{S_IFREG | 0600});
  EXPECT_EQ(Acl(f2, kAccess), "u::rw- u:1000:rwx g::r-x m::--- o::---");
  // Unlink takes the ACLs with the inode.
  ASSERT_TRUE(Unlink(store_.get(), d, "f", false).ok());
  ExpectClean();
}

TEST_F(MetaStoreAclTest, ADefaultOfBaseEntriesOnlyNarrowsTheMode) {
  const uint64_t d = Mk(1, "d", S_IFDIR | 0755);
  const std::string def = AclXattr({{kAclUserObj, 6, U}, {kAclGroupObj, 4, U}, {kAclOther, 0, U}});
  ASSERT_TRUE(SetXattr(store_.get(), d, kDefault, def, 0).ok());
  const uint64_t f = Mk(d, "f", S_IFREG | 0777, 0);
  EXPECT_EQ(Mode(f), uint32_t{S_IFREG | 0640});
  EXPECT_EQ(Acl(f, kAccess), "none");
}

}  // namespace
}  // namespace scalefs::meta
