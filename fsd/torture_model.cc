#include "fsd/torture_model.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace scalefs::torture {

namespace {
bool Below(const std::string& path, const std::string& dir) {
  return dir.empty() ? !path.empty() : path.size() > dir.size() &&
                                           path.compare(0, dir.size(), dir) == 0 &&
                                           path[dir.size()] == '/';
}
}  // namespace

ModelTree::ModelTree() { dirs_.insert(""); }

std::string ModelTree::Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

std::string ModelTree::Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

std::shared_ptr<ModelInode> ModelTree::File(const std::string& path) const {
  auto it = files_.find(path);
  return it == files_.end() ? nullptr : it->second;
}

std::vector<std::string> ModelTree::List(const std::string& dir) const {
  std::vector<std::string> names;
  for (const std::string& d : dirs_) {
    if (!d.empty() && Parent(d) == dir && Below(d, dir)) names.push_back(d.substr(d.rfind('/') + 1));
  }
  for (const auto& [f, inode] : files_) {
    if (Parent(f) == dir) names.push_back(f.substr(f.rfind('/') + 1));
  }
  std::sort(names.begin(), names.end());
  return names;
}

void ModelTree::Touched(const std::string& path, double now) {
  name_changed_[path] = now;
  listing_changed_[Parent(path)] = now;
}

double ModelTree::Last(const std::map<std::string, double>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

int ModelTree::ParentErrno(const std::string& path) const {
  const std::string parent = Parent(path);
  if (IsDir(parent)) return 0;
  return IsFile(parent) ? ENOTDIR : ENOENT;
}

int ModelTree::Create(const std::string& path, bool exclusive, double now) {
  if (int e = ParentErrno(path)) return e;
  if (IsDir(path)) return exclusive ? EEXIST : EISDIR;
  if (IsFile(path)) return exclusive ? EEXIST : 0;
  auto inode = std::make_shared<ModelInode>();
  inode->id = next_id_++;
  inode->nlink = 1;
  inode->meta_changed = inode->data_changed = now;
  files_[path] = inode;
  Touched(path, now);
  return 0;
}

int ModelTree::Mkdir(const std::string& path, double now) {
  if (int e = ParentErrno(path)) return e;
  if (Exists(path)) return EEXIST;
  dirs_.insert(path);
  Touched(path, now);
  return 0;
}

int ModelTree::Rmdir(const std::string& path, double now) {
  if (int e = ParentErrno(path)) return e;
  if (IsFile(path)) return ENOTDIR;
  if (!IsDir(path)) return ENOENT;
  if (!List(path).empty()) return ENOTEMPTY;
  dirs_.erase(path);
  Touched(path, now);
  return 0;
}

int ModelTree::Unlink(const std::string& path, double now) {
  if (int e = ParentErrno(path)) return e;
  if (IsDir(path)) return EISDIR;
  auto it = files_.find(path);
  if (it == files_.end()) return ENOENT;
  it->second->nlink--;
  it->second->meta_changed = now;
  files_.erase(it);
  Touched(path, now);
  return 0;
}

int ModelTree::Link(const std::string& from, const std::string& to, double now) {
  // In the order Linux checks: the source, the new name, then the type.
  if (int e = ParentErrno(from)) return e;
  if (!Exists(from)) return ENOENT;
  if (int e = ParentErrno(to)) return e;
  if (Exists(to)) return EEXIST;
  if (IsDir(from)) return EPERM;
  auto inode = files_[from];
  inode->nlink++;
  inode->meta_changed = now;
  files_[to] = inode;
  Touched(to, now);
  return 0;
}

int ModelTree::Rename(const std::string& from, const std::string& to, double now) {
  if (int e = ParentErrno(from)) return e;
  if (!Exists(from)) return ENOENT;
  if (int e = ParentErrno(to)) return e;
  if (from == to) return 0;
  // Linux's checks against the ancestor of both parents (lock_rename's trap)
  // come before the types: a directory into its own subtree, or anything
  // over a directory above it.
  if (IsDir(from) && Below(to, from)) return EINVAL;
  if (Below(from, to)) return ENOTEMPTY;
  if (IsDir(from)) {
    if (IsFile(to)) return ENOTDIR;
    if (IsDir(to)) {
      if (!List(to).empty()) return ENOTEMPTY;
      dirs_.erase(to);
    }
    // Move the directory and everything below it.
    std::set<std::string> moved_dirs;
    for (auto it = dirs_.begin(); it != dirs_.end();) {
      if (*it == from || Below(*it, from)) {
        moved_dirs.insert(to + it->substr(from.size()));
        it = dirs_.erase(it);
      } else {
        ++it;
      }
    }
    dirs_.insert(moved_dirs.begin(), moved_dirs.end());
    std::map<std::string, std::shared_ptr<ModelInode>> moved_files;
    for (auto it = files_.begin(); it != files_.end();) {
      if (Below(it->first, from)) {
        moved_files[to + it->first.substr(from.size())] = it->second;
        it = files_.erase(it);
      } else {
        ++it;
      }
    }
    files_.insert(moved_files.begin(), moved_files.end());
  } else {
    if (IsDir(to)) return EISDIR;
    auto source = files_[from];
    auto target = File(to);
    if (target == source) return 0;  // two links of one inode: POSIX does nothing
    if (target != nullptr) {
      target->nlink--;
      target->meta_changed = now;
    }
    files_[to] = source;
    files_.erase(from);
  }
  Touched(from, now);
  Touched(to, now);
  return 0;
}

void ModelTree::Write(ModelInode* inode, uint64_t offset, const std::string& bytes, double now) {
  if (bytes.empty()) return;
  if (inode->data.size() < offset + bytes.size()) inode->data.resize(offset + bytes.size(), '\0');
  inode->data.replace(offset, bytes.size(), bytes);
  inode->data_changed = inode->meta_changed = now;
}

void ModelTree::Truncate(ModelInode* inode, uint64_t size, double now) {
  inode->data.resize(size, '\0');
  inode->data_changed = inode->meta_changed = now;
}

void ModelTree::Fallocate(ModelInode* inode, uint64_t offset, uint64_t length, bool keep_size,
                          double now) {
  // Allocated space reads as zeros; without KEEP_SIZE the file grows to it.
  if (!keep_size && inode->data.size() < offset + length) inode->data.resize(offset + length, '\0');
  inode->data_changed = inode->meta_changed = now;
}

bool ModelTree::NameSettled(const std::string& path, double before) const {
  for (std::string p = path; !p.empty(); p = Parent(p)) {
    if (Last(name_changed_, p) >= before) return false;
  }
  return true;
}

bool ModelTree::ListingSettled(const std::string& dir, double before) const {
  return NameSettled(dir, before) && Last(listing_changed_, dir) < before;
}

bool ModelTree::FileSettled(const std::string& path, double before) const {
  auto inode = File(path);
  return inode != nullptr && NameSettled(path, before) && inode->meta_changed < before &&
         inode->data_changed < before && inode->open_writers_unsynced == 0;
}

std::string DescribeDifference(const std::string& expected, const std::string& got) {
  size_t i = 0;
  const size_t n = std::min(expected.size(), got.size());
  while (i < n && expected[i] == got[i]) ++i;
  if (i == n && expected.size() == got.size()) return "";
  char buf[160];
  if (i < n) {
    size_t run = i;  // how far the difference goes
    while (run < n && expected[run] != got[run]) ++run;
    snprintf(buf, sizeof buf, "at byte %zu: expected 0x%02x, got 0x%02x (%zu bytes differ from there); ",
             i, static_cast<unsigned char>(expected[i]), static_cast<unsigned char>(got[i]),
             run - i);
  } else {
    buf[0] = '\0';
  }
  return std::string(buf) + "expected " + std::to_string(expected.size()) + " bytes, got " +
         std::to_string(got.size());
}

}  // namespace scalefs::torture
