#include "meta/store_records.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "common/layout.h"
#include "meta/keys.h"
#include "meta/prefix_iterator.h"

namespace scalefs::meta {

int64_t NowNs() {
  // Strictly increasing, so that an inode's ctime (every change sets it)
  // orders two of its attrs even when the wall clock stands or steps back.
  static std::atomic<int64_t> last{0};
  const int64_t wall = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  int64_t prev = last.load(std::memory_order_relaxed);
  int64_t next;
  do {
    next = std::max(wall, prev + 1);
  } while (!last.compare_exchange_weak(prev, next, std::memory_order_relaxed));
  return next;
}

uint64_t UnitOf(const InodeRecord& r) {
  return r.layout().unit() ? r.layout().unit() : kDefaultStripeUnit;
}
std::string Quote(const std::string& name) { return "'" + name + "'"; }
std::string InoStr(uint64_t ino) { return "inode " + std::to_string(ino); }

Status ValidateName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." ||
      name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
    return Status::Invalid("invalid name " + Quote(name));
  }
  if (name.size() > kMaxNameLength) {
    return Status::NameTooLong("name of " + std::to_string(name.size()) + " bytes");
  }
  return Status::OK();
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::OK();
  return Status::IoError(what + ": " + s.ToString());
}

Result<InodeRecord> ReadInode(rocksdb::DB* db, const rocksdb::ReadOptions& ro, uint64_t ino) {
  std::string v;
  rocksdb::Status s = db->Get(ro, InodeKey(ino), &v);
  if (s.IsNotFound()) return Status::NotFound("no inode " + std::to_string(ino));
  if (!s.ok()) return FromRocks(s, "read " + InoStr(ino));
  InodeRecord rec;
  if (!rec.ParseFromString(v)) return Status::IoError("corrupt " + InoStr(ino));
  return rec;
}

Result<DentryValue> ReadDentry(rocksdb::DB* db, const rocksdb::ReadOptions& ro,
                               uint64_t parent, const std::string& name) {
  std::string v;
  rocksdb::Status s = db->Get(ro, DentryKey(parent, name), &v);
  if (s.IsNotFound()) {
    return Status::NotFound("no entry " + Quote(name) + " in directory " + std::to_string(parent));
  }
  if (!s.ok()) return FromRocks(s, "read entry " + Quote(name));
  DentryValue d;
  if (!DecodeDentry(v, &d.ino, &d.mode)) return Status::IoError("corrupt entry " + Quote(name));
  return d;
}

bool DirIsEmpty(rocksdb::DB* db, uint64_t ino) {
  PrefixIterator it(db, rocksdb::ReadOptions(), DentryPrefix(ino));
  it.Seek();
  return !it.Valid();
}

std::vector<Extent> UnwrittenOverlapping(const ExtentMap& map, uint64_t from, uint64_t start,
                                         uint64_t end) {
  std::vector<Extent> found;
  for (auto it = map.lower_bound(from); it != map.end() && it->first < end; ++it) {
    if (it->first + it->second.length() > start && !it->second.written()) found.push_back(it->second);
  }
  return found;
}

Status LoadExtents(rocksdb::DB* db, const rocksdb::ReadOptions& ro, uint64_t ino, uint64_t lo,
                   uint64_t hi, ExtentMap* seen, ExtentMap* out) {
  PrefixIterator it(db, ro, ExtentPrefix(ino));
  for (it.Seek(ExtentKey(ino, lo)); it.Valid(); it.Next()) {
    uint64_t key_ino, off;
    if (!ParseExtentKey(it.key().ToStringView(), &key_ino, &off)) {
      return Status::IoError("corrupt extent key of " + InoStr(ino));
    }
    if (hi != 0 && off >= hi) break;
    if (seen != nullptr && seen->count(off)) continue;
    Extent e;
    if (!e.ParseFromArray(it.value().data(), static_cast<int>(it.value().size()))) {
      return Status::IoError("corrupt extent of " + InoStr(ino));
    }
    if (seen != nullptr) (*seen)[off] = e;
    (*out)[off] = e;
  }
  return FromRocks(it.status(), "read extents");
}

void MergeExtents(ExtentMap* m, uint64_t unit) {
  auto it = m->begin();
  while (it != m->end()) {
    auto next = std::next(it);
    if (next == m->end()) break;
    Extent& a = it->second;
    const Extent& b = next->second;
    if (a.file_offset() + a.length() == b.file_offset() && a.pair() == b.pair() &&
        a.dev_offset() + a.length() == b.dev_offset() && a.written() == b.written() &&
        a.file_offset() / unit == b.file_offset() / unit) {
      a.set_length(a.length() + b.length());
      m->erase(next);
    } else {
      it = next;
    }
  }
}

void WriteExtentDiff(uint64_t ino, const ExtentMap& orig, const ExtentMap& cur,
                     rocksdb::WriteBatch* batch) {
  for (const auto& [off, e] : orig) {
    if (!cur.count(off)) batch->Delete(ExtentKey(ino, off));
  }
  for (const auto& [off, e] : cur) {
    auto o = orig.find(off);
    if (o != orig.end() && o->second.SerializeAsString() == e.SerializeAsString()) continue;
    batch->Put(ExtentKey(ino, off), e.SerializeAsString());
  }
}

Extent MakeExtent(uint64_t file_offset, uint64_t length, uint32_t pair, uint64_t dev_offset,
                  bool written) {
  Extent e;
  e.set_file_offset(file_offset);
  e.set_length(length);
  e.set_pair(pair);
  e.set_dev_offset(dev_offset);
  e.set_written(written);
  return e;
}

std::vector<Extent> Overlapping(const ExtentMap& m, uint64_t start, uint64_t end) {
  std::vector<Extent> out;
  for (const auto& [off, e] : m) {
    if (off < end && off + e.length() > start) out.push_back(e);
  }
  return out;
}

bool ValidPairName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) {
      return false;
    }
  }
  return true;
}

}  // namespace scalefs::meta
