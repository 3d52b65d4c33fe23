// The model `scalefs torture` checks a process's own subtree against: what
// every acknowledged operation means under POSIX, kept in memory. One
// process owns the subtree and changes it through one mount, so the answer
// of every call on that mount is exact: the model says which errno an
// operation must fail with (0: it must succeed) and what every read,
// listing and xattr must return afterwards. It also records when each name
// last changed, so that reads through another mount of the cluster are
// checked only once scalefs's documented cache window (the attribute and
// entry timeout) has passed, and then exactly.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace scalefs::torture {

// A file of the model (hard links share one).
struct ModelInode {
  uint64_t id = 0;  // the model's own number, for messages
  uint64_t st_ino = 0;  // the file system's inode number, once seen (same on every mount)
  std::string data;
  std::map<std::string, std::string> xattrs;  // user.* only
  int nlink = 0;                              // names in the tree
  int open_writers_unsynced = 0;  // open descriptors with writes not yet closed or fsynced
  double meta_changed = 0;        // last size/xattr/link count change (seconds, monotonic)
  double data_changed = 0;        // last acknowledged write, truncate or fallocate
};

// Paths are relative to the subtree's root ("" is the root, "d0/f3" a file).
class ModelTree {
 public:
  ModelTree();

  bool IsDir(const std::string& path) const { return dirs_.count(path) > 0; }
  bool IsFile(const std::string& path) const { return files_.count(path) > 0; }
  bool Exists(const std::string& path) const { return IsDir(path) || IsFile(path); }
  std::shared_ptr<ModelInode> File(const std::string& path) const;
  // Names directly in `dir`, sorted.
  std::vector<std::string> List(const std::string& dir) const;
  const std::set<std::string>& dirs() const { return dirs_; }
  const std::map<std::string, std::shared_ptr<ModelInode>>& files() const { return files_; }

  // Each applies the operation when it succeeds and returns the errno the
  // real call must give (0 = success), as Linux answers it.
  int Create(const std::string& path, bool exclusive, double now);
  int Mkdir(const std::string& path, double now);
  int Rmdir(const std::string& path, double now);
  int Unlink(const std::string& path, double now);
  int Rename(const std::string& from, const std::string& to, double now);
  int Link(const std::string& from, const std::string& to, double now);

  // Content changes of an inode (reached by a name or an open descriptor).
  static void Write(ModelInode* inode, uint64_t offset, const std::string& bytes, double now);
  static void Truncate(ModelInode* inode, uint64_t size, double now);
  static void Fallocate(ModelInode* inode, uint64_t offset, uint64_t length, bool keep_size,
                        double now);

  // True when neither `path` nor any directory above it was created,
  // removed or renamed, nor had an entry added or removed, after `before`:
  // every mount's caches then agree about it.
  bool NameSettled(const std::string& path, double before) const;
  // As NameSettled for the directory, and no entry of it came or went.
  bool ListingSettled(const std::string& dir, double before) const;
  // As NameSettled, and the inode's size, xattrs, link count and data have
  // not changed after `before`, and no open descriptor has writes that were
  // not closed or fsynced (close-to-open).
  bool FileSettled(const std::string& path, double before) const;

  static std::string Parent(const std::string& path);
  static std::string Join(const std::string& dir, const std::string& name);

 private:
  void Touched(const std::string& path, double now);  // the name and its parent's listing
  static double Last(const std::map<std::string, double>& m, const std::string& key);
  int ParentErrno(const std::string& path) const;     // ENOENT/ENOTDIR when the parent is not a dir

  std::set<std::string> dirs_;
  std::map<std::string, std::shared_ptr<ModelInode>> files_;
  std::map<std::string, double> name_changed_;     // a name made, removed, renamed
  std::map<std::string, double> listing_changed_;  // a directory's entries
  uint64_t next_id_ = 1;
};

// The first difference between what a read returned and what the model
// holds, as "at byte N: expected 0xAB, got 0xCD (expected size X, got Y)",
// or "" when identical.
std::string DescribeDifference(const std::string& expected, const std::string& got);

}  // namespace scalefs::torture
