#include "meta/posix_acl.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "acl_test_util.h"

namespace scalefs::meta {
namespace {

using Code = Status::Code;
constexpr uint32_t U = kAclUndefinedId;
using testing::AclText;
using testing::AclXattr;

std::vector<AclEntry> Entries(const std::string& xattr) {
  Result<PosixAcl> acl = PosixAcl::Parse(xattr);
  EXPECT_TRUE(acl.ok()) << acl.status().ToString();
  return acl.ok() ? acl->entries() : std::vector<AclEntry>{};
}

const std::vector<AclEntry> kNamed = {{kAclUserObj, 6, U},  {kAclUser, 4, 1000},
                                      {kAclGroupObj, 4, U}, {kAclGroup, 6, 2000},
                                      {kAclMask, 6, U},     {kAclOther, 0, U}};

TEST(PosixAclTest, ParsesAndSerializesTheKernelFormat) {
  const std::string x = AclXattr(kNamed);
  EXPECT_EQ(AclText(Entries(x)), "u::rw- u:1000:r-- g::r-- g:2000:rw- m::rw- o::---");
  EXPECT_EQ(PosixAcl::Parse(x)->Serialize(), x);
  // Base entries carry no id; whatever a writer put there is not kept.
  const std::string with_ids =
      AclXattr({{kAclUserObj, 7, 5}, {kAclGroupObj, 5, 6}, {kAclOther, 1, 7}});
  EXPECT_EQ(PosixAcl::Parse(with_ids)->Serialize(),
            AclXattr({{kAclUserObj, 7, U}, {kAclGroupObj, 5, U}, {kAclOther, 1, U}}));
  EXPECT_EQ(PosixAcl::FromMode(0754).Serialize(),
            AclXattr({{kAclUserObj, 7, U}, {kAclGroupObj, 5, U}, {kAclOther, 4, U}}));
}

TEST(PosixAclTest, AHeaderWithoutEntriesIsNoAcl) {
  Result<PosixAcl> acl = PosixAcl::Parse(AclXattr({}));
  ASSERT_TRUE(acl.ok());
  EXPECT_TRUE(acl->empty());
}

TEST(PosixAclTest, RejectsWhatTheKernelRejects) {
  auto code = [](const std::string& x) { return PosixAcl::Parse(x).status().code(); };
  EXPECT_EQ(code(""), Code::kInvalid);
  EXPECT_EQ(code(std::string("\x02\x00\x00", 3)), Code::kInvalid);
  EXPECT_EQ(code(AclXattr(kNamed) + "x"), Code::kInvalid);  // not a whole entry
  EXPECT_EQ(code(AclXattr(kNamed, 1)), Code::kNotSupported);
  using E = std::vector<AclEntry>;
  const AclEntry uo{kAclUserObj, 6, U}, go{kAclGroupObj, 4, U}, o{kAclOther, 4, U};
  const AclEntry m{kAclMask, 4, U}, u{kAclUser, 4, 7}, g{kAclGroup, 4, 8};
  const std::vector<std::pair<const char*, E>> bad = {
      {"permission 8", {{kAclUserObj, 8, U}, go, o}},
      {"unknown tag", {uo, go, {0x40, 4, U}, o}},
      {"no USER_OBJ", {go, o}},
      {"no GROUP_OBJ", {uo, o}},
      {"no OTHER", {uo, go}},
      {"two USER_OBJ", {uo, uo, go, o}},
      {"two GROUP_OBJ", {uo, go, go, o}},
      {"two OTHER", {uo, go, o, o}},
      {"two MASK", {uo, go, m, m, o}},
      {"GROUP_OBJ first", {go, uo, o}},
      {"USER after GROUP_OBJ", {uo, go, u, m, o}},
      {"GROUP before GROUP_OBJ", {uo, g, go, m, o}},
      {"MASK before GROUP_OBJ", {uo, m, go, o}},
      {"MASK after OTHER", {uo, go, o, m}},
      {"named USER without MASK", {uo, u, go, o}},
      {"named GROUP without MASK", {uo, go, g, o}},
      {"named USER without id", {uo, {kAclUser, 4, U}, go, m, o}},
  };
  for (const auto& [what, entries] : bad) {
    EXPECT_EQ(code(AclXattr(entries)), Code::kInvalid) << what;
  }
}

TEST(PosixAclTest, AcceptsWhatTheKernelAccepts) {
  // Named entries out of id order and even repeated: posix_acl_valid (and
  // so ext4) takes them as they are.
  const std::vector<AclEntry> unsorted = {{kAclUserObj, 6, U}, {kAclUser, 4, 9},
                                          {kAclUser, 6, 5},    {kAclUser, 6, 5},
                                          {kAclGroupObj, 4, U}, {kAclMask, 7, U},
                                          {kAclOther, 4, U}};
  EXPECT_EQ(AclText(Entries(AclXattr(unsorted))),
            "u::rw- u:9:r-- u:5:rw- u:5:rw- g::r-- m::rwx o::r--");
  // A MASK needs no named entries.
  EXPECT_EQ(AclText(Entries(AclXattr({{kAclUserObj, 6, U}, {kAclGroupObj, 4, U}, {kAclMask, 0, U},
                                {kAclOther, 4, U}}))),
            "u::rw- g::r-- m::--- o::r--");
}

TEST(PosixAclTest, OnlyTheThreeBaseEntriesAreEquivalentToTheMode) {
  EXPECT_TRUE(PosixAcl::FromMode(0640).EquivalentToMode());
  EXPECT_FALSE(PosixAcl::Parse(AclXattr(kNamed))->EquivalentToMode());
  EXPECT_FALSE(PosixAcl::Parse(AclXattr({{kAclUserObj, 6, U}, {kAclGroupObj, 4, U},
                                      {kAclMask, 4, U}, {kAclOther, 4, U}}))
                   ->EquivalentToMode());
}

TEST(PosixAclTest, TheModeTakesOwnerMaskOrGroupAndOther) {
  // The mask, not GROUP_OBJ, is the group class; type and setuid, setgid
  // and sticky bits stay.
  EXPECT_EQ(PosixAcl::Parse(AclXattr(kNamed))->ModeOf(S_IFREG | S_ISUID | S_ISGID | 0777),
            uint32_t{S_IFREG | S_ISUID | S_ISGID | 0660});
  EXPECT_EQ(PosixAcl::FromMode(0751).ModeOf(S_IFDIR | S_ISVTX), uint32_t{S_IFDIR | S_ISVTX | 0751});
}

TEST(PosixAclTest, ChmodSetsOwnerMaskAndOtherAndKeepsNamedEntries) {
  PosixAcl acl = *PosixAcl::Parse(AclXattr(kNamed));
  acl.Chmod(S_IFREG | 0715);
  EXPECT_EQ(AclText(acl.entries()), "u::rwx u:1000:r-- g::r-- g:2000:rw- m::--x o::r-x");
  EXPECT_EQ(acl.ModeOf(S_IFREG), uint32_t{S_IFREG | 0715});
  // Without a mask, GROUP_OBJ takes the group bits.
  PosixAcl base = PosixAcl::FromMode(0644);
  base.Chmod(0750);
  EXPECT_EQ(AclText(base.entries()), "u::rwx g::r-x o::---");
}

TEST(PosixAclTest, CreateMasqMasksTheDefaultByTheRequestedMode) {
  const std::vector<AclEntry> def = {{kAclUserObj, 7, U},  {kAclUser, 7, 1000},
                                     {kAclGroupObj, 5, U}, {kAclMask, 7, U},
                                     {kAclOther, 5, U}};
  PosixAcl file = *PosixAcl::Parse(AclXattr(def));
  uint32_t mode = S_IFREG | 0666;
  file.CreateMasq(&mode);
  // Named entries and GROUP_OBJ stay; the mask holds them to the mode.
  EXPECT_EQ(AclText(file.entries()), "u::rw- u:1000:rwx g::r-x m::rw- o::r--");
  EXPECT_EQ(mode, uint32_t{S_IFREG | 0664});
  PosixAcl dir = *PosixAcl::Parse(AclXattr(def));
  mode = S_IFDIR | S_ISGID | 0777;
  dir.CreateMasq(&mode);
  EXPECT_EQ(AclText(dir.entries()), "u::rwx u:1000:rwx g::r-x m::rwx o::r-x");
  EXPECT_EQ(mode, uint32_t{S_IFDIR | S_ISGID | 0775});
  // A default stricter than the mode narrows the mode; without a mask
  // GROUP_OBJ is the group class.
  PosixAcl strict = PosixAcl::FromMode(0640);
  mode = S_IFREG | 0777;
  strict.CreateMasq(&mode);
  EXPECT_EQ(AclText(strict.entries()), "u::rw- g::r-- o::---");
  EXPECT_EQ(mode, uint32_t{S_IFREG | 0640});
}

TEST(PosixAclTest, SettingAnAccessAclSetsTheMode) {
  Result<AclXattrChange> c = SetAclXattr(kAclAccessXattr, AclXattr(kNamed), S_IFREG | 0777, false);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->mode, uint32_t{S_IFREG | 0660});
  ASSERT_TRUE(c->value.has_value());
  EXPECT_EQ(*c->value, AclXattr(kNamed));
  // Equivalent to a mode: applied, not stored.
  c = SetAclXattr(kAclAccessXattr, PosixAcl::FromMode(0751).Serialize(), S_IFREG | 0600, false);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->mode, uint32_t{S_IFREG | 0751});
  EXPECT_FALSE(c->value.has_value());
  // Setgid goes only when the caller may not keep it.
  c = SetAclXattr(kAclAccessXattr, AclXattr(kNamed), S_IFREG | S_ISGID | 0777, true);
  EXPECT_EQ(c->mode, uint32_t{S_IFREG | 0660});
  c = SetAclXattr(kAclAccessXattr, AclXattr(kNamed), S_IFREG | S_ISGID | 0777, false);
  EXPECT_EQ(c->mode, uint32_t{S_IFREG | S_ISGID | 0660});
  // No entries: the ACL goes, the mode stays.
  c = SetAclXattr(kAclAccessXattr, AclXattr({}), S_IFREG | S_ISGID | 0640, true);
  EXPECT_EQ(c->mode, uint32_t{S_IFREG | S_ISGID | 0640});
  EXPECT_FALSE(c->value.has_value());
  EXPECT_EQ(SetAclXattr(kAclAccessXattr, AclXattr({{kAclUserObj, 6, U}}), S_IFREG | 0644, false)
                .status()
                .code(),
            Code::kInvalid);
}

TEST(PosixAclTest, ADefaultAclIsForDirectoriesAndLeavesTheMode) {
  const std::string base = PosixAcl::FromMode(0750).Serialize();
  Result<AclXattrChange> c = SetAclXattr(kAclDefaultXattr, base, S_IFDIR | 0700, false);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->mode, uint32_t{S_IFDIR | 0700});
  ASSERT_TRUE(c->value.has_value());  // stored even when it has only base entries
  EXPECT_EQ(*c->value, base);
  EXPECT_EQ(SetAclXattr(kAclDefaultXattr, base, S_IFREG | 0700, false).status().code(),
            Code::kAccess);
  c = SetAclXattr(kAclDefaultXattr, AclXattr({}), S_IFREG | 0700, false);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->value.has_value());
  EXPECT_EQ(SetAclXattr(kAclDefaultXattr, base, S_IFLNK | 0777, false).status().code(),
            Code::kNotSupported);
  EXPECT_EQ(SetAclXattr(kAclAccessXattr, base, S_IFLNK | 0777, false).status().code(),
            Code::kNotSupported);
}

TEST(PosixAclTest, ChmodOfAStoredAcl) {
  Result<std::string> c = ChmodAclXattr(AclXattr(kNamed), 0701);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(AclText(Entries(*c)), "u::rwx u:1000:r-- g::r-- g:2000:rw- m::--- o::--x");
  EXPECT_EQ(ChmodAclXattr("junk", 0701).status().code(), Code::kIoError);
}

TEST(PosixAclTest, InheritsTheDefaultOrAppliesTheUmask) {
  Result<InheritedAcl> r = InheritAcl(nullptr, S_IFREG | 0666, 022);
  EXPECT_EQ(r->mode, uint32_t{S_IFREG | 0644});
  EXPECT_TRUE(r->access.empty());
  EXPECT_TRUE(r->default_acl.empty());
  r = InheritAcl(nullptr, S_IFDIR | S_ISVTX | 0777, 027);
  EXPECT_EQ(r->mode, uint32_t{S_IFDIR | S_ISVTX | 0750});
  r = InheritAcl(nullptr, S_IFLNK | 0777, 077);  // symlinks are always 0777
  EXPECT_EQ(r->mode, uint32_t{S_IFLNK | 0777});

  const std::string def = AclXattr({{kAclUserObj, 7, U}, {kAclUser, 7, 1000}, {kAclGroupObj, 5, U},
                                 {kAclMask, 7, U}, {kAclOther, 0, U}});
  r = InheritAcl(&def, S_IFREG | 0666, 077);  // the umask does not apply
  EXPECT_EQ(r->mode, uint32_t{S_IFREG | 0660});
  EXPECT_EQ(AclText(Entries(r->access)), "u::rw- u:1000:rwx g::r-x m::rw- o::---");
  EXPECT_TRUE(r->default_acl.empty());
  r = InheritAcl(&def, S_IFDIR | 0755, 077);
  EXPECT_EQ(r->mode, uint32_t{S_IFDIR | 0750});
  EXPECT_EQ(AclText(Entries(r->access)), "u::rwx u:1000:rwx g::r-x m::r-x o::---");
  EXPECT_EQ(r->default_acl, def);
  r = InheritAcl(&def, S_IFLNK | 0777, 0);
  EXPECT_EQ(r->mode, uint32_t{S_IFLNK | 0777});
  EXPECT_TRUE(r->access.empty());
  // A default of base entries only narrows the mode and stores nothing.
  const std::string base = PosixAcl::FromMode(0750).Serialize();
  r = InheritAcl(&base, S_IFREG | 0666, 0);
  EXPECT_EQ(r->mode, uint32_t{S_IFREG | 0640});
  EXPECT_TRUE(r->access.empty());
  const std::string junk = "junk";
  EXPECT_EQ(InheritAcl(&junk, S_IFREG | 0666, 0).status().code(), Code::kIoError);
}

}  // namespace
}  // namespace scalefs::meta
