#include "common/rpc_authorizer.h"

#include <gtest/gtest.h>

namespace scalefs {
namespace {

TEST(ClientGrantTest, FormatsAndParsesBack) {
  ClientGrant g;
  EXPECT_EQ(FormatGrant(g), "");
  g.subdir = "/projects/a b";
  g.read_only = true;
  EXPECT_EQ(FormatGrant(g), "subdir=/projects/a b;read_only");
  g.root_squash = true;
  EXPECT_EQ(FormatGrant(g), "subdir=/projects/a b;read_only;root_squash");
  auto back = ParseGrant(FormatGrant(g));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, g);
  auto empty = ParseGrant("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, ClientGrant{});
}

TEST(ClientGrantTest, RefusesWhatItDoesNotKnowAndUncleanPaths) {
  for (const char* bad : {"all_squash", "read_only;everything", "root_squash=1", "subdir=relative", "subdir=/a/",
                          "subdir=/a/../b", "subdir=/a//b", "subdir=/./a", "subdir="}) {
    EXPECT_FALSE(ParseGrant(bad).ok()) << bad;
  }
  EXPECT_TRUE(ParseGrant("subdir=/").ok());
}

TEST(RoleTest, NamesRoundTripAndMasksRead) {
  for (Role r : {Role::kClient, Role::kMember, Role::kMeta, Role::kAdmin}) {
    auto back = ParseRole(RoleName(r));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, r);
  }
  EXPECT_FALSE(ParseRole("root").ok());
  EXPECT_EQ(RoleMaskName(Role::kClient | Role::kAdmin), "client or admin");
  EXPECT_EQ(SpiffeIdFor(Role::kMember, "pair0a"), "spiffe://scalefs/member/pair0a");
  EXPECT_EQ(ServerNameFor(Role::kMeta), "meta.scalefs");
}

}  // namespace
}  // namespace scalefs
