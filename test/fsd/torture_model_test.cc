// The torture model's POSIX answers (which errno, in Linux's order of
// checks), the content it expects after writes, truncates and fallocates,
// when it lets another mount be checked, and the torture command line with
// its reproduction commands.
#include <gtest/gtest.h>

#include <cerrno>
#include <sstream>

#include "fsd/torture_history.h"
#include "fsd/torture_model.h"
#include "fsd/torture_options.h"

namespace scalefs::torture {
namespace {

TEST(TortureModelTest, CreateMkdirAndTheirErrors) {
  ModelTree m;
  EXPECT_EQ(m.Create("f0", true, 1), 0);
  EXPECT_EQ(m.Create("f0", true, 1), EEXIST);
  EXPECT_EQ(m.Create("f0", false, 1), 0);  // opens the existing file
  EXPECT_EQ(m.Create("d0/f0", false, 1), ENOENT);
  EXPECT_EQ(m.Create("f0/x", false, 1), ENOTDIR);
  EXPECT_EQ(m.Mkdir("d0", 1), 0);
  EXPECT_EQ(m.Mkdir("d0", 1), EEXIST);
  EXPECT_EQ(m.Mkdir("f0", 1), EEXIST);
  EXPECT_EQ(m.Create("d0", false, 1), EISDIR);
  EXPECT_EQ(m.Create("d0", true, 1), EEXIST);
  EXPECT_EQ(m.Create("d0/f1", true, 1), 0);
  EXPECT_EQ(m.List(""), (std::vector<std::string>{"d0", "f0"}));
  EXPECT_EQ(m.List("d0"), (std::vector<std::string>{"f1"}));
  EXPECT_EQ(m.File("f0")->nlink, 1);
  EXPECT_NE(m.File("f0")->id, m.File("d0/f1")->id);
}

TEST(TortureModelTest, UnlinkRmdirAndLinks) {
  ModelTree m;
  ASSERT_EQ(m.Mkdir("d0", 1), 0);
  ASSERT_EQ(m.Create("d0/f0", true, 1), 0);
  EXPECT_EQ(m.Rmdir("d0", 1), ENOTEMPTY);
  EXPECT_EQ(m.Rmdir("d0/f0", 1), ENOTDIR);
  EXPECT_EQ(m.Unlink("d0", 1), EISDIR);
  EXPECT_EQ(m.Unlink("d0/nope", 1), ENOENT);
  EXPECT_EQ(m.Link("d0/f0", "f1", 1), 0);
  auto inode = m.File("f1");
  EXPECT_EQ(inode, m.File("d0/f0"));
  EXPECT_EQ(inode->nlink, 2);
  // The new name is checked before the type of the source, as Linux does.
  EXPECT_EQ(m.Link("d0", "f1", 1), EEXIST);
  EXPECT_EQ(m.Link("d0", "f2", 1), EPERM);
  EXPECT_EQ(m.Link("nope", "f2", 1), ENOENT);
  EXPECT_EQ(m.Link("f1", "nodir/f2", 1), ENOENT);
  EXPECT_EQ(m.Unlink("d0/f0", 1), 0);
  EXPECT_EQ(inode->nlink, 1);
  EXPECT_EQ(m.Rmdir("d0", 1), 0);
  EXPECT_EQ(m.Unlink("f1", 1), 0);
  // An open descriptor keeps the inode: unlinked, it still holds its data.
  EXPECT_EQ(inode->nlink, 0);
  EXPECT_TRUE(m.List("").empty());
}

TEST(TortureModelTest, RenameOverTargetsAndItsErrors) {
  ModelTree m;
  ASSERT_EQ(m.Create("a", true, 1), 0);
  ASSERT_EQ(m.Create("b", true, 1), 0);
  ModelTree::Write(m.File("a").get(), 0, "aaa", 1);
  auto old_b = m.File("b");
  EXPECT_EQ(m.Rename("a", "b", 2), 0);  // over an existing file
  EXPECT_FALSE(m.Exists("a"));
  EXPECT_EQ(m.File("b")->data, "aaa");
  EXPECT_EQ(old_b->nlink, 0);
  EXPECT_EQ(m.Rename("a", "c", 2), ENOENT);
  EXPECT_EQ(m.Rename("b", "b", 2), 0);
  // Two names of one inode: POSIX renames nothing.
  ASSERT_EQ(m.Link("b", "c", 2), 0);
  EXPECT_EQ(m.Rename("b", "c", 2), 0);
  EXPECT_TRUE(m.Exists("b"));
  EXPECT_TRUE(m.Exists("c"));
  EXPECT_EQ(m.File("c")->nlink, 2);

  ASSERT_EQ(m.Mkdir("d0", 2), 0);
  ASSERT_EQ(m.Mkdir("d0/d1", 2), 0);
  ASSERT_EQ(m.Create("d0/d1/f", true, 2), 0);
  ASSERT_EQ(m.Mkdir("e", 2), 0);
  EXPECT_EQ(m.Rename("b", "e", 3), EISDIR);        // a file over a directory
  EXPECT_EQ(m.Rename("e", "b", 3), ENOTDIR);       // a directory over a file
  EXPECT_EQ(m.Rename("d0", "d0/d1/x", 3), EINVAL); // into its own subtree
  EXPECT_EQ(m.Rename("d0/d1/f", "d0", 3), ENOTEMPTY);  // over a directory above it
  EXPECT_EQ(m.Rename("e", "d0", 3), ENOTEMPTY);    // over a directory that is not empty
  EXPECT_EQ(m.Rename("b", "nodir/b", 3), ENOENT);
  // A directory over an empty one moves with everything below it.
  EXPECT_EQ(m.Rename("d0", "e", 3), 0);
  EXPECT_FALSE(m.Exists("d0"));
  EXPECT_TRUE(m.IsDir("e/d1"));
  EXPECT_TRUE(m.IsFile("e/d1/f"));
  EXPECT_EQ(m.List(""), (std::vector<std::string>{"b", "c", "e"}));
  EXPECT_EQ(m.List("e/d1"), (std::vector<std::string>{"f"}));
}

TEST(TortureModelTest, ContentAfterWritesTruncatesAndFallocates) {
  ModelInode f;
  ModelTree::Write(&f, 4, "xy", 1);
  EXPECT_EQ(f.data, std::string("\0\0\0\0xy", 6));
  ModelTree::Write(&f, 1, "ab", 1);
  EXPECT_EQ(f.data, std::string("\0ab\0xy", 6));
  ModelTree::Truncate(&f, 3, 1);
  EXPECT_EQ(f.data, std::string("\0ab", 3));
  ModelTree::Truncate(&f, 5, 1);  // extends with zeros, the old bytes are gone
  EXPECT_EQ(f.data, std::string("\0ab\0\0", 5));
  ModelTree::Fallocate(&f, 2, 10, true, 1);
  EXPECT_EQ(f.data.size(), 5u);
  ModelTree::Fallocate(&f, 2, 10, false, 1);
  EXPECT_EQ(f.data, std::string("\0ab", 3) + std::string(9, '\0'));
  ModelTree::Fallocate(&f, 0, 2, false, 1);  // inside: nothing changes
  EXPECT_EQ(f.data.size(), 12u);
  EXPECT_EQ(f.data[1], 'a');
}

TEST(TortureModelTest, WhatAnotherMountMayBeAskedAbout) {
  ModelTree m;
  ASSERT_EQ(m.Mkdir("d0", 10), 0);
  ASSERT_EQ(m.Create("d0/f", true, 11), 0);
  ASSERT_EQ(m.Create("g", true, 11), 0);
  EXPECT_FALSE(m.NameSettled("d0/f", 11));  // changed at 11: not before 11
  EXPECT_TRUE(m.NameSettled("d0/f", 11.5));
  EXPECT_TRUE(m.FileSettled("d0/f", 11.5));
  EXPECT_TRUE(m.ListingSettled("d0", 11.5));
  EXPECT_FALSE(m.ListingSettled("", 11));  // "g" came at 11
  EXPECT_TRUE(m.ListingSettled("", 11.5));
  // Data not closed or fsynced yet: the name is settled, the file is not.
  m.File("d0/f")->open_writers_unsynced = 1;
  EXPECT_FALSE(m.FileSettled("d0/f", 12));
  EXPECT_TRUE(m.NameSettled("d0/f", 12));
  m.File("d0/f")->open_writers_unsynced = 0;
  ModelTree::Write(m.File("d0/f").get(), 0, "x", 20);
  EXPECT_FALSE(m.FileSettled("d0/f", 20));
  EXPECT_TRUE(m.FileSettled("d0/f", 20.1));
  // Renaming the directory unsettles every name below it, old and new.
  ASSERT_EQ(m.Rename("d0", "d1", 30), 0);
  EXPECT_FALSE(m.NameSettled("d1/f", 30));
  EXPECT_FALSE(m.ListingSettled("", 30));
  EXPECT_TRUE(m.NameSettled("d1/f", 31));
  // A new link changes the link count another mount reads.
  ASSERT_EQ(m.Link("g", "h", 40), 0);
  EXPECT_FALSE(m.FileSettled("g", 40));
  EXPECT_TRUE(m.NameSettled("g", 40));
  EXPECT_FALSE(m.FileSettled("nope", 100));
}

TEST(TortureModelTest, DescribeDifferenceNamesTheFirstByte) {
  EXPECT_EQ(DescribeDifference("abc", "abc"), "");
  EXPECT_EQ(DescribeDifference("abcd", "abXY"),
            "at byte 2: expected 0x63, got 0x58 (2 bytes differ from there); expected 4 bytes, "
            "got 4");
  EXPECT_EQ(DescribeDifference("abc", ""), "expected 3 bytes, got 0");
  EXPECT_EQ(DescribeDifference("ab", "abc"), "expected 2 bytes, got 3");
}

std::vector<std::string> Words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

TEST(TortureOptionsTest, ParsesAndRefusesBadArguments) {
  auto o = ParseTortureArgs({"/m1", "--seconds", "5", "/m2", "--seed=7", "--files", "3",
                             "--procs=8", "--ops", "100", "--attr_timeout", "0.5"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->mounts, (std::vector<std::string>{"/m1", "/m2"}));
  EXPECT_EQ(o->seconds, 5);
  EXPECT_EQ(o->seed, 7u);
  EXPECT_TRUE(o->seed_given);
  EXPECT_EQ(o->files, 3);
  EXPECT_EQ(o->procs, 8);
  EXPECT_EQ(o->ops, 100u);
  EXPECT_DOUBLE_EQ(o->attr_timeout, 0.5);
  auto defaults = ParseTortureArgs({"/m"});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->seconds, 60);
  EXPECT_EQ(defaults->procs, 4);
  EXPECT_FALSE(defaults->seed_given);
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {}, {"--seconds", "5"}, {"/m", "--seconds", "0"}, {"/m", "--seconds", "x"},
           {"/m", "--procs", "65"}, {"/m", "--procs", "-1"}, {"/m", "--files"},
           {"/m", "--fast", "1"}, {"/m", "--attr_timeout", "soon"}, {"/m", ""}}) {
    auto r = ParseTortureArgs(bad);
    EXPECT_FALSE(r.ok()) << "accepted: " << ::testing::PrintToString(bad);
  }
  EXPECT_NE(ParseTortureArgs({"/m", "--procs", "65"}).status().message().find("--procs"),
            std::string::npos);
}

TEST(TortureOptionsTest, ReproductionCommandsParseBackIntoTheRun) {
  auto o = ParseTortureArgs({"/a", "/b", "/c", "--seed", "100", "--procs", "5", "--seconds", "9"});
  ASSERT_TRUE(o.ok());
  std::vector<std::string> whole = Words(TortureCommand(*o));
  ASSERT_EQ(whole[0], "scalefs");
  ASSERT_EQ(whole[1], "torture");
  auto again = ParseTortureArgs(std::vector<std::string>(whole.begin() + 2, whole.end()));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->mounts, o->mounts);
  EXPECT_EQ(again->seed, 100u);
  EXPECT_EQ(again->procs, 5);
  EXPECT_EQ(again->seconds, 9);
  // Process 4 works through /b (4 % 3) and looks through /c, then /a: alone,
  // as process 0 of a run with seed 104, it makes the same choices.
  std::vector<std::string> single = Words(SingleProcessCommand(*o, 4, 77));
  auto alone = ParseTortureArgs(std::vector<std::string>(single.begin() + 2, single.end()));
  ASSERT_TRUE(alone.ok());
  EXPECT_EQ(alone->mounts, (std::vector<std::string>{"/b", "/c", "/a"}));
  EXPECT_EQ(alone->seed, 104u);
  EXPECT_EQ(alone->procs, 1);
  EXPECT_EQ(alone->ops, 77u);
}

TEST(TortureHistoryTest, KeepsTheLastOperationsWithTheirAnswers) {
  OpHistory h(3);
  for (int i = 1; i <= 5; ++i) {
    h.Begin(i, "op" + std::to_string(i));
    if (i < 5) h.End("ok" + std::to_string(i));
  }
  EXPECT_EQ(h.size(), 3u);
  const std::string text = h.Format();
  EXPECT_EQ(text.find("op2"), std::string::npos) << text;
  EXPECT_NE(text.find("#3  op3 -> ok3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("#5  op5 -> (no answer yet)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Z  #4"), std::string::npos) << text;
  EXPECT_EQ(ErrnoName(ENOENT), "ENOENT");
  EXPECT_EQ(ErrnoName(0), "0");
}

}  // namespace
}  // namespace scalefs::torture
