#include "meta/prefix_iterator.h"

#include <gtest/gtest.h>

#include <vector>

#include "meta/keys.h"
#include "meta_test_util.h"

namespace scalefs::meta {
namespace {

TEST(PrefixIteratorTest, PrefixEndIsTheNextKeyAboveThePrefix) {
  EXPECT_EQ(PrefixIterator::PrefixEnd("ab"), "ac");
  EXPECT_EQ(PrefixIterator::PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixIterator::PrefixEnd(std::string("\xff\xff", 2)), "");
  EXPECT_EQ(PrefixIterator::PrefixEnd(""), "");
}

TEST(PrefixIteratorTest, VisitsOnlyThePrefixPastDeletedNeighbours) {
  testing::TempDir dir;
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::DB* raw;
  ASSERT_TRUE(rocksdb::DB::Open(o, dir.path(), &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteBatch b;
  for (uint64_t ino = 1; ino <= 50; ++ino) b.Put(XattrKey(ino, "user.x"), "v");
  ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &b).ok());
  rocksdb::WriteBatch del;
  for (uint64_t ino = 1; ino <= 50; ++ino) {
    if (ino != 20) del.Delete(XattrKey(ino, "user.x"));
  }
  ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &del).ok());

  PrefixIterator it(db.get(), rocksdb::ReadOptions(), XattrPrefix(20));
  std::vector<std::string> keys;
  for (it.Seek(); it.Valid(); it.Next()) keys.push_back(it.key().ToString());
  ASSERT_TRUE(it.status().ok());
  EXPECT_EQ(keys, std::vector<std::string>{XattrKey(20, "user.x")});

  PrefixIterator none(db.get(), rocksdb::ReadOptions(), XattrPrefix(21));
  none.Seek();
  EXPECT_FALSE(none.Valid());
}

}  // namespace
}  // namespace scalefs::meta
