// Checks a metadata DB against itself: the namespace (entries, link counts,
// reachability) and the space accounting (extents inside their pair, no
// block owned twice, free + allocated = capacity). Used by the Fsck RPC and
// by `scalefs-meta --fsck` on a stopped meta.
#pragma once

#include <rocksdb/db.h>

#include "proto/meta.pb.h"

namespace scalefs::meta {

class MetaChecker {
 public:
  explicit MetaChecker(rocksdb::DB* db) : db_(db) {}

  // One pass over every record through one iterator, so a live DB is
  // checked as of one moment. Problems are human-readable sentences.
  FsckReply Check();

 private:
  rocksdb::DB* db_;
};

}  // namespace scalefs::meta
