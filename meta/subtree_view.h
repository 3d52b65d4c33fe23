// A client whose certificate limits it to a subdirectory (ClientGrant's
// subdir, as CephFS's path-restricted caps or an NFS export of a subtree)
// sees that directory as its root: inode 1 in its calls means the
// subdirectory, the subdirectory reads back as inode 1, and every other
// inode it names must lie under the subdirectory (by the parent each inode
// keeps), or the call is refused before it runs.
#pragma once

#include <google/protobuf/message.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "common/status.h"
#include "meta/meta_store.h"

namespace scalefs::meta {

class SubtreeView {
 public:
  SubtreeView(MetaStore* store, uint64_t root, std::string path)
      : store_(store), root_(root), path_(std::move(path)) {}

  // Maps the inode fields of a request in place (ino, parent, new_parent,
  // open_inos, at any depth); EACCES for an inode outside the subtree.
  Status MapRequest(google::protobuf::Message* request) const;
  // The subdirectory becomes inode 1 in every Attr and lock of a reply.
  void MapReply(google::protobuf::Message* reply) const;

 private:
  Status MapInode(uint64_t* ino) const;

  MetaStore* store_;
  uint64_t root_;
  std::string path_;
};

// The views by path, each resolved from the real root and resolved again
// after a few seconds (the subdirectory may be renamed or replaced).
class SubtreeViews {
 public:
  explicit SubtreeViews(MetaStore* store) : store_(store) {}
  Result<SubtreeView> For(const std::string& path);

 private:
  struct Entry {
    uint64_t ino;
    std::chrono::steady_clock::time_point resolved;
  };
  MetaStore* store_;
  std::mutex mu_;
  std::map<std::string, Entry> roots_;
};

}  // namespace scalefs::meta
