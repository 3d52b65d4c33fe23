#include "fsd/lookup_cache.h"

#include <gtest/gtest.h>

#include <thread>

namespace scalefs {
namespace {

meta::DirEntry Entry(const std::string& name, uint64_t ino, uint64_t size = 0) {
  meta::DirEntry e;
  e.set_name(name);
  e.mutable_attr()->set_ino(ino);
  e.mutable_attr()->set_size(size);
  return e;
}

// Lookups of existing names until the cache asks for a listing.
int LookupsUntilListing(LookupCache* c, uint64_t dir) {
  for (int i = 1; i <= 100; ++i) {
    if (c->ShouldList(dir)) return i;
  }
  return -1;
}

TEST(LookupCacheTest, ListsOnlyAfterSeveralLookupsAndOnlyOnce) {
  LookupCache c(10, 100);
  const int n = LookupsUntilListing(&c, 7);
  EXPECT_GT(n, 1) << "a single lookup must not pay for a listing";
  EXPECT_LE(n, 16);
  // While the listing is being taken, no other thread starts one.
  EXPECT_EQ(LookupsUntilListing(&c, 7), -1);
  c.Fill(7, LookupCache::Clock::now(), {Entry("a", 10)});
  EXPECT_EQ(LookupsUntilListing(&c, 7), n);
}

TEST(LookupCacheTest, AnswersFromAFreshListingOnly) {
  LookupCache c(0.2, 100);
  EXPECT_FALSE(c.Find(7, "a"));
  c.Fill(7, LookupCache::Clock::now(), {Entry("a", 10, 4096), Entry("b", 11)});
  auto hit = c.Find(7, "a");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->attr.ino(), 10u);
  EXPECT_EQ(hit->attr.size(), 4096u);
  EXPECT_GT(hit->seconds_left, 0);
  EXPECT_LE(hit->seconds_left, 0.2);
  // Absent from the listing is not trusted: another client may have created it.
  EXPECT_FALSE(c.Find(7, "c"));
  EXPECT_FALSE(c.Find(8, "a"));
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  EXPECT_FALSE(c.Find(7, "a")) << "older than ttl";
}

TEST(LookupCacheTest, LocalChangesHideEntries) {
  LookupCache c(10, 100);
  c.Fill(7, LookupCache::Clock::now(), {Entry("a", 10), Entry("b", 11), Entry("c", 12)});
  c.Changed(10);  // written or setattr by this client
  EXPECT_FALSE(c.Find(7, "a"));
  EXPECT_TRUE(c.Find(7, "b"));
  c.NameChanged(7, "b");  // unlinked or renamed away
  EXPECT_FALSE(c.Find(7, "b"));
  EXPECT_TRUE(c.Find(7, "c"));
  // A listing taken after the change is trusted again.
  c.Fill(7, LookupCache::Clock::now(), {Entry("a", 10, 5)});
  ASSERT_TRUE(c.Find(7, "a"));
  EXPECT_EQ(c.Find(7, "a")->attr.size(), 5u);
}

TEST(LookupCacheTest, AChangeDuringTheListingWins) {
  LookupCache c(10, 100);
  const auto taken = LookupCache::Clock::now();
  c.Changed(10);  // while the ReadDir was in flight
  c.Fill(7, taken, {Entry("a", 10)});
  EXPECT_FALSE(c.Find(7, "a"));
}

// The rename(B, A) loop of autoconf: a listing taken before the rename and
// installed after it must not bring B back, nor A's old inode.
TEST(LookupCacheTest, AListingInFlightDuringARenameIsNotTrustedForItsNames) {
  LookupCache c(10, 100);
  const auto taken = LookupCache::Clock::now();  // ReadDir sent
  c.NameChanged(7, "B");  // rename(B, A): before the call...
  c.NameChanged(7, "A");
  c.NameChanged(7, "B");  // ...and once meta answered
  c.NameChanged(7, "A");
  c.Fill(7, taken, {Entry("A", 10), Entry("B", 11), Entry("C", 12)});
  EXPECT_FALSE(c.Find(7, "B"));
  EXPECT_FALSE(c.Find(7, "A"));
  EXPECT_TRUE(c.Find(7, "C")) << "names the change did not touch stay cached";
  EXPECT_FALSE(c.Find(8, "C"));
  // A listing taken after the change is trusted for them again.
  c.Fill(7, LookupCache::Clock::now(), {Entry("A", 11)});
  ASSERT_TRUE(c.Find(7, "A"));
  EXPECT_EQ(c.Find(7, "A")->attr.ino(), 11u);
}

TEST(LookupCacheTest, AFailedListingEndsTheClaim) {
  LookupCache c(10, 100);
  ASSERT_GT(LookupsUntilListing(&c, 7), 0);
  c.Fill(7, LookupCache::Clock::now(), {}, /*ok=*/false);
  EXPECT_FALSE(c.Find(7, "a"));
  EXPECT_GT(LookupsUntilListing(&c, 7), 0);
}

TEST(LookupCacheTest, ATruncatedListingIsNotRetakenWhileFresh) {
  LookupCache c(10, 2);
  ASSERT_GT(LookupsUntilListing(&c, 7), 0);
  c.Fill(7, LookupCache::Clock::now(), {Entry("a", 10), Entry("b", 11)});
  EXPECT_TRUE(c.Find(7, "b"));
  EXPECT_EQ(LookupsUntilListing(&c, 7), -1);
}

TEST(LookupCacheTest, ListedFilesWithExtentsUntilChangedOrStale) {
  LookupCache c(0.2, 100);
  meta::DirEntry small = Entry("s", 20, 5000);
  meta::Extent* x = small.add_extents();
  x->set_length(8192);
  x->set_pair(1);
  x->set_dev_offset(65536);
  x->set_written(true);
  c.Fill(7, LookupCache::Clock::now(), {small, Entry("big", 21, 1 << 20), Entry("t", 22, 10)});
  auto f = c.FindListedFile(20);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->attr.size(), 5000u);
  ASSERT_EQ(f->extents.size(), 1u);
  EXPECT_EQ(f->extents[0].dev_offset(), 65536u);
  EXPECT_FALSE(c.FindListedFile(21)) << "listed without extents";
  EXPECT_FALSE(c.FindListedFile(22));
  c.Changed(20);
  EXPECT_FALSE(c.FindListedFile(20)) << "changed by this client since the listing";
  c.Fill(7, LookupCache::Clock::now(), {small});
  EXPECT_TRUE(c.FindListedFile(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  EXPECT_FALSE(c.FindListedFile(20)) << "older than ttl";
}

TEST(LookupCacheTest, ZeroTtlTurnsItOff) {
  LookupCache c(0, 100);
  EXPECT_EQ(LookupsUntilListing(&c, 7), -1);
  c.Fill(7, LookupCache::Clock::now(), {Entry("a", 10)});
  EXPECT_FALSE(c.Find(7, "a"));
}

}  // namespace
}  // namespace scalefs
