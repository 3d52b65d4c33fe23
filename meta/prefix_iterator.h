// A RocksDB iterator confined to the keys under one prefix.
//
// The upper bound matters for speed, not only for correctness: a Seek
// without one steps over every tombstone past the prefix before it finds the
// next live key, and a run of unlinks leaves long runs of them (each unlink
// deletes the dentry, xattrs and extents of neighbouring inode numbers).
#pragma once

#include <rocksdb/db.h>

#include <memory>
#include <string>

namespace scalefs::meta {

class PrefixIterator {
 public:
  PrefixIterator(rocksdb::DB* db, rocksdb::ReadOptions ro, std::string prefix)
      : prefix_(std::move(prefix)), end_(PrefixEnd(prefix_)), end_slice_(end_) {
    if (!end_.empty()) ro.iterate_upper_bound = &end_slice_;
    it_.reset(db->NewIterator(ro));
  }
  PrefixIterator(const PrefixIterator&) = delete;
  PrefixIterator& operator=(const PrefixIterator&) = delete;

  // Positions at the first key >= start (the prefix itself by default).
  void Seek(const std::string& start = {}) { it_->Seek(start.empty() ? prefix_ : start); }
  bool Valid() const { return it_->Valid() && it_->key().starts_with(prefix_); }
  void Next() { it_->Next(); }
  rocksdb::Slice key() const { return it_->key(); }
  rocksdb::Slice value() const { return it_->value(); }
  rocksdb::Status status() const { return it_->status(); }

  // The smallest key above every key that starts with prefix; empty when
  // there is none (a prefix of 0xff bytes only).
  static std::string PrefixEnd(std::string prefix) {
    while (!prefix.empty()) {
      unsigned char& last = reinterpret_cast<unsigned char&>(prefix.back());
      if (last != 0xff) {
        ++last;
        return prefix;
      }
      prefix.pop_back();
    }
    return prefix;
  }

 private:
  const std::string prefix_;
  const std::string end_;
  const rocksdb::Slice end_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

}  // namespace scalefs::meta
