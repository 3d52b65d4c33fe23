// The checks meta makes for a squashed root (nobody, 65534:65534): each one
// the way Linux answers for an unprivileged caller, on a real store.
#include "meta/permission_check.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "meta_test_util.h"
#include "store_calls.h"

namespace scalefs::meta {
namespace {

using namespace ::scalefs::meta::testing;  // the store_calls.h shapes

constexpr Identity kNobody = kSquashedRoot;

Attr AttrOf(uint32_t mode, uint32_t uid, uint32_t gid) {
  Attr a;
  a.set_mode(mode);
  a.set_uid(uid);
  a.set_gid(gid);
  return a;
}

TEST(PermitsTest, ModeBitsByOwnerGroupAndOther) {
  EXPECT_TRUE(Permits(AttrOf(S_IFREG | 0600, 65534, 0), std::nullopt, kNobody, kMayRead | kMayWrite));
  EXPECT_FALSE(Permits(AttrOf(S_IFREG | 0600, 0, 0), std::nullopt, kNobody, kMayRead));
  EXPECT_TRUE(Permits(AttrOf(S_IFREG | 0640, 0, 65534), std::nullopt, kNobody, kMayRead));
  EXPECT_FALSE(Permits(AttrOf(S_IFREG | 0640, 0, 65534), std::nullopt, kNobody, kMayWrite));
  EXPECT_TRUE(Permits(AttrOf(S_IFREG | 0604, 0, 0), std::nullopt, kNobody, kMayRead));
  // The owner class decides for the owner, even when others may do more.
  EXPECT_FALSE(Permits(AttrOf(S_IFREG | 0077, 65534, 0), std::nullopt, kNobody, kMayRead));
  // A group class that does not allow is final, too.
  EXPECT_FALSE(Permits(AttrOf(S_IFREG | 0604, 0, 65534), std::nullopt, kNobody, kMayRead));
  EXPECT_FALSE(Permits(AttrOf(S_IFDIR | 0776, 0, 0), std::nullopt, kNobody, kMayExec));
}

TEST(PermitsTest, AccessAclNamedEntriesAreMasked) {
  // user::rw- user:65534:rw- group::--- mask::r-- other::---
  PosixAcl acl = *PosixAcl::Parse(std::string(
      "\x02\x00\x00\x00"
      "\x01\x00\x06\x00\xff\xff\xff\xff"
      "\x02\x00\x06\x00\xfe\xff\x00\x00"
      "\x04\x00\x00\x00\xff\xff\xff\xff"
      "\x10\x00\x04\x00\xff\xff\xff\xff"
      "\x20\x00\x00\x00\xff\xff\xff\xff",
      44));
  const Attr a = AttrOf(S_IFREG | 0640, 0, 0);
  EXPECT_TRUE(Permits(a, acl, kNobody, kMayRead));
  EXPECT_FALSE(Permits(a, acl, kNobody, kMayWrite)) << "the mask limits a named user";
  EXPECT_FALSE(Permits(a, acl, Identity{1000, 1000}, kMayRead)) << "others get other::---";
}

class PermissionCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = MetaStore::Open(dir_.path());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    store_ = std::move(r.value());
  }

  uint64_t Make(uint64_t parent, const std::string& name, uint32_t mode, uint32_t uid = 0) {
    MakeNodeRequest req;
    req.set_parent(parent);
    req.set_name(name);
    req.set_mode(mode);
    req.set_uid(uid);
    req.set_gid(uid);
    auto r = MakeNode(store_.get(), req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->attr().ino() : 0;
  }

  TempDir dir_;
  std::unique_ptr<MetaStore> store_;
};

TEST_F(PermissionCheckTest, CreatesNeedWriteAndSearchAndBelongToNobody) {
  const uint64_t shut = Make(1, "shut", S_IFDIR | 0755);
  const uint64_t open = Make(1, "open", S_IFDIR | 0777);
  PermissionCheck check(store_.get());
  MakeNodeRequest req;
  req.set_parent(shut);
  req.set_name("f");
  req.set_uid(0);
  req.set_gid(0);
  EXPECT_EQ(check.MakeNode(&req, kNobody).code(), Status::Code::kAccess);
  req.set_parent(open);
  EXPECT_TRUE(check.MakeNode(&req, kNobody).ok());
  EXPECT_EQ(req.uid(), 65534u);
  EXPECT_EQ(req.gid(), 65534u);
}

TEST_F(PermissionCheckTest, LookupNeedsSearchAndListingNeedsRead) {
  const uint64_t closed = Make(1, "closed", S_IFDIR | 0700);
  const uint64_t listable = Make(1, "listable", S_IFDIR | 0754);
  PermissionCheck check(store_.get());
  LookupRequest l;
  l.set_parent(closed);
  l.set_name("x");
  EXPECT_EQ(check.Lookup(&l, kNobody).code(), Status::Code::kAccess);
  l.set_parent(listable);
  EXPECT_EQ(check.Lookup(&l, kNobody).code(), Status::Code::kAccess) << "r-- has no search";
  ReadDirRequest d;
  d.set_ino(listable);
  EXPECT_TRUE(check.ReadDir(&d, kNobody).ok());
  d.set_ino(closed);
  EXPECT_EQ(check.ReadDir(&d, kNobody).code(), Status::Code::kAccess);
}

TEST_F(PermissionCheckTest, StickyDirectoryKeepsOthersEntries) {
  const uint64_t tmp = Make(1, "tmp", S_IFDIR | 01777);
  Make(tmp, "roots", S_IFREG | 0666, 0);
  Make(tmp, "mine", S_IFREG | 0600, 65534);
  PermissionCheck check(store_.get());
  UnlinkRequest u;
  u.set_parent(tmp);
  u.set_name("roots");
  EXPECT_EQ(check.Unlink(&u, kNobody).code(), Status::Code::kPermission);
  u.set_name("mine");
  EXPECT_TRUE(check.Unlink(&u, kNobody).ok());
  RenameRequest r;
  r.set_parent(tmp);
  r.set_name("mine");
  r.set_new_parent(tmp);
  r.set_new_name("roots");  // would replace root's entry
  EXPECT_EQ(check.Rename(&r, kNobody).code(), Status::Code::kPermission);
}

TEST_F(PermissionCheckTest, OpenChecksTheAccessAsked) {
  const uint64_t f = Make(1, "f", S_IFREG | 0644);
  PermissionCheck check(store_.get());
  ExtentsRequest e;
  e.set_ino(f);
  e.set_open_session(7);
  e.set_open_access(kMayRead);
  EXPECT_TRUE(check.Open(&e, kNobody).ok());
  e.set_open_access(kMayRead | kMayWrite);
  EXPECT_EQ(check.Open(&e, kNobody).code(), Status::Code::kAccess);
  e.set_open_access(0);  // held to reading
  EXPECT_TRUE(check.Open(&e, kNobody).ok());
  const uint64_t secret = Make(1, "secret", S_IFREG | 0600);
  e.set_ino(secret);
  EXPECT_EQ(check.Open(&e, kNobody).code(), Status::Code::kAccess);
}

TEST_F(PermissionCheckTest, AttributesOfAnotherOwnersFile) {
  const uint64_t f = Make(1, "f", S_IFREG | 0666);
  PermissionCheck check(store_.get());
  SetAttrRequest s;
  s.set_ino(f);
  s.set_set_mode(true);
  s.set_mode(0777);
  EXPECT_EQ(check.SetAttr(&s, kNobody).code(), Status::Code::kPermission);
  s = SetAttrRequest();
  s.set_ino(f);
  s.set_set_uid(true);
  s.set_uid(65534);
  EXPECT_EQ(check.SetAttr(&s, kNobody).code(), Status::Code::kPermission);
  s = SetAttrRequest();
  s.set_ino(f);
  s.set_set_size(true);  // world-writable: truncate is fine
  EXPECT_TRUE(check.SetAttr(&s, kNobody).ok());
  s.set_set_mtime(true);
  s.set_mtime_ns(12345);
  EXPECT_EQ(check.SetAttr(&s, kNobody).code(), Status::Code::kPermission);
  s.set_mtime_ns(-1);  // touch to now: write permission is enough
  EXPECT_TRUE(check.SetAttr(&s, kNobody).ok());
  // Its own file: chmod may not keep setgid outside the file's group.
  const uint64_t own = Make(1, "own", S_IFREG | 0644, 65534);
  SetAttrRequest g;
  g.set_ino(own);
  g.set_set_mode(true);
  g.set_mode(02755);
  ASSERT_TRUE(check.SetAttr(&g, kNobody).ok());
  EXPECT_EQ(g.mode(), 02755u) << "the file's group is 65534: setgid stays";
  g.set_set_gid(true);
  g.set_gid(0);
  EXPECT_EQ(check.SetAttr(&g, kNobody).code(), Status::Code::kPermission)
      << "nobody is not in group 0";
}

TEST_F(PermissionCheckTest, XattrNamespaces) {
  const uint64_t f = Make(1, "f", S_IFREG | 0644);
  PermissionCheck check(store_.get());
  SetXattrRequest s;
  s.set_ino(f);
  s.set_name("user.tag");
  EXPECT_EQ(check.SetXattr(&s, kNobody).code(), Status::Code::kAccess);
  s.set_name("trusted.x");
  EXPECT_EQ(check.SetXattr(&s, kNobody).code(), Status::Code::kPermission);
  s.set_name("system.posix_acl_access");
  EXPECT_EQ(check.SetXattr(&s, kNobody).code(), Status::Code::kPermission);
  XattrRequest g;
  g.set_ino(f);
  g.set_name("user.tag");
  EXPECT_TRUE(check.GetXattr(&g, kNobody).ok());
  g.set_name("trusted.x");
  EXPECT_EQ(check.GetXattr(&g, kNobody).code(), Status::Code::kNoData);
}

}  // namespace
}  // namespace scalefs::meta
