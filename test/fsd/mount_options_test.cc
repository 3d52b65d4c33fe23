#include "fsd/mount_options.h"

#include <gtest/gtest.h>

namespace scalefs {

TEST(MountOptionsTest, ScalefsMount) {
  MountOptions o;
  ASSERT_TRUE(ParseMountArgs({"127.0.0.1:7600", "/mnt/x", "-o",
                              "allow_other,attr_timeout=0.5,entry_timeout=2", "-f"},
                             false, &o)
                  .ok());
  EXPECT_EQ(o.meta, "127.0.0.1:7600");
  EXPECT_EQ(o.mountpoint, "/mnt/x");
  EXPECT_TRUE(o.foreground);
  EXPECT_DOUBLE_EQ(o.attr_timeout, 0.5);
  EXPECT_DOUBLE_EQ(o.entry_timeout, 2);
  // The source as given, as fstab has it: mount -a finds the line mounted.
  EXPECT_EQ(FuseOptionString(o, "h:1"),
            "default_permissions,fsname=127.0.0.1:7600,subtype=scalefs,allow_other");
  MountOptions legacy;
  ASSERT_TRUE(ParseMountArgs({"scalefs#h:7600", "/mnt/x"}, true, &legacy).ok());
  EXPECT_EQ(FuseOptionString(legacy, "h:7600"),
            "default_permissions,fsname=scalefs#h:7600,subtype=scalefs");
  MountOptions d;
  ASSERT_TRUE(ParseMountArgs({"-", "/mnt/x"}, false, &d).ok());
  EXPECT_EQ(FuseOptionString(d, "h:7600"), "default_permissions,fsname=h:7600,subtype=scalefs");
}

TEST(MountOptionsTest, HelperIgnoresFstabOptions) {
  MountOptions o;
  ASSERT_TRUE(ParseMountArgs({"scalefs#h:7600", "/mnt", "-o", "rw,noauto,_netdev,nosuid", "-n"},
                             true, &o)
                  .ok());
  EXPECT_EQ(o.meta, "h:7600");
  EXPECT_FALSE(o.foreground);
  EXPECT_EQ(o.fuse_options, (std::vector<std::string>{"rw", "nosuid"}));
  EXPECT_EQ(o.ignored.size(), 2u);
}

TEST(MountOptionsTest, Errors) {
  MountOptions o;
  EXPECT_FALSE(ParseMountArgs({"-", "/mnt", "-o", "bogus"}, false, &o).ok());
  EXPECT_FALSE(ParseMountArgs({"-"}, false, &o).ok());
  EXPECT_FALSE(ParseMountArgs({"-", "/mnt", "-o"}, false, &o).ok());
  EXPECT_FALSE(ParseMountArgs({"-", "/mnt", "-o", "attr_timeout=x"}, false, &o).ok());
  EXPECT_FALSE(ParseMountArgs({"-", "/mnt", "-z"}, false, &o).ok());
  MountOptions d;
  EXPECT_TRUE(ParseMountArgs({"-", "/mnt"}, false, &d).ok());
  EXPECT_EQ(d.meta, "-");
}

TEST(MountOptionsTest, PreferMember) {
  int m = 7;
  ASSERT_TRUE(ParsePreferMember("a", &m).ok());
  EXPECT_EQ(m, 0);
  ASSERT_TRUE(ParsePreferMember("b", &m).ok());
  EXPECT_EQ(m, 1);
  ASSERT_TRUE(ParsePreferMember("auto", &m).ok());
  EXPECT_EQ(m, -1);
  EXPECT_FALSE(ParsePreferMember("c", &m).ok());
  EXPECT_FALSE(ParsePreferMember("", &m).ok());
}

}  // namespace scalefs
