#include "meta/meta_checker.h"

#include <sys/stat.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/layout.h"
#include "meta/keys.h"

namespace scalefs::meta {

namespace {

struct DevRange {
  uint64_t start;
  uint64_t length;
  bool is_free;
  std::string owner;  // "inode 5 offset 4096" or "free range"
};

std::string Range(uint64_t start, uint64_t len) {
  return "[" + std::to_string(start) + ", " + std::to_string(start + len) + ")";
}

}  // namespace

FsckReply MetaChecker::Check() {
  FsckReply out;
  auto problem = [&out](std::string s) { out.add_problems(std::move(s)); };

  std::map<uint64_t, InodeRecord> inodes;
  std::map<uint64_t, std::vector<std::pair<std::string, uint64_t>>> children;  // dir -> (name, ino)
  std::map<uint64_t, uint64_t> refs;                   // ino -> entries naming it
  std::map<uint64_t, uint64_t> allocated;              // ino -> extent bytes
  std::map<uint32_t, Pair> pairs;
  std::map<uint32_t, std::vector<DevRange>> dev;       // pair -> ranges
  std::vector<std::pair<uint64_t, Extent>> extents;    // (ino, extent)
  std::set<uint64_t> orphans;                          // unlinked, kept for open handles
  uint64_t next_ino = 0, next_pair = 0;

  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    const std::string_view val = it->value().ToStringView();
    uint64_t ino, off;
    uint32_t pair;
    std::string name;
    switch (key[0]) {
      case kInodeTag: {
        InodeRecord rec;
        if (!ParseInodeKey(key, &ino) || !rec.ParseFromArray(val.data(), val.size())) {
          problem("malformed inode record");
          break;
        }
        if (rec.attr().ino() != ino) {
          problem("inode " + std::to_string(ino) + " record says ino " +
                  std::to_string(rec.attr().ino()));
        }
        inodes[ino] = rec;
        break;
      }
      case kDentryTag: {
        uint32_t mode;
        if (!ParseDentryKey(key, &ino, &name) || !DecodeDentry(val, &off, &mode)) {
          problem("malformed directory entry");
          break;
        }
        children[ino].push_back({name, off});
        refs[off]++;
        out.set_entries(out.entries() + 1);
        break;
      }
      case kXattrTag:
        if (!ParseXattrKey(key, &ino, &name)) problem("malformed xattr record");
        else if (!inodes.count(ino)) {
          problem("xattr '" + name + "' of missing inode " + std::to_string(ino));
        }
        break;
      case kExtentTag: {
        Extent e;
        if (!ParseExtentKey(key, &ino, &off) || !e.ParseFromArray(val.data(), val.size())) {
          problem("malformed extent record");
          break;
        }
        if (e.file_offset() != off) {
          problem("extent of inode " + std::to_string(ino) + " keyed at " + std::to_string(off) +
                  " says file offset " + std::to_string(e.file_offset()));
        }
        extents.push_back({ino, e});
        out.set_extents(out.extents() + 1);
        break;
      }
      case kFreeTag: {
        uint64_t len;
        if (!ParseFreeKey(key, &pair, &off) || !DecodeU64(val, &len)) {
          problem("malformed free-space record");
          break;
        }
        dev[pair].push_back({off, len, true, "free range"});
        out.set_free_bytes(out.free_bytes() + len);
        break;
      }
      case kPairTag: {
        Pair p;
        if (!ParsePairKey(key, &pair) || !p.ParseFromArray(val.data(), val.size())) {
          problem("malformed pair record");
          break;
        }
        pairs[pair] = p;
        break;
      }
      case kCounterTag:
        if (key == kNextInoKey) DecodeU64(val, &next_ino);
        if (key == kNextPairKey) DecodeU64(val, &next_pair);
        break;
      case kOrphanTag:
        if (!ParseOrphanKey(key, &ino)) problem("malformed orphan record");
        else orphans.insert(ino);
        break;
      case kSessionTag:
        if (!ParseSessionKey(key, &ino)) problem("malformed session record");
        break;
      case kReplyTag:  // a session's stored replies: opaque here
        break;
      case kMoveTag: {
        // A move in progress, or abandoned and not freed yet: its target
        // space is its own (meta/rebalance_ops.cc).
        MoveRecord m;
        if (!ParseMoveKey(key, &ino) || !m.ParseFromArray(val.data(), val.size())) {
          problem("malformed move record");
          break;
        }
        for (const MoveSpan& sp : m.spans()) {
          dev[sp.to_pair()].push_back({sp.to_dev_offset(), sp.length(), false,
                                       "move of inode " + std::to_string(ino)});
        }
        out.set_moves(out.moves() + 1);
        break;
      }
      default:
        problem("unknown record kind '" + std::string(1, key[0]) + "'");
    }
  }
  if (!it->status().ok()) problem("scan failed: " + it->status().ToString());
  out.set_inodes(inodes.size());

  // Namespace.
  if (!inodes.count(kRootIno)) problem("root directory (inode 1) is missing");
  std::map<uint64_t, uint64_t> subdirs;
  for (const auto& [dir, list] : children) {
    auto d = inodes.find(dir);
    if (d == inodes.end()) {
      problem(std::to_string(list.size()) + " entries in missing directory " +
              std::to_string(dir));
    } else if (!S_ISDIR(d->second.attr().mode())) {
      problem("inode " + std::to_string(dir) + " has entries but is not a directory");
    }
    for (const auto& [name, child] : list) {
      auto c = inodes.find(child);
      if (c == inodes.end()) {
        problem("entry '" + name + "' in directory " + std::to_string(dir) +
                " names missing inode " + std::to_string(child));
        continue;
      }
      if (S_ISDIR(c->second.attr().mode())) {
        subdirs[dir]++;
        if (c->second.attr().parent() != dir) {
          problem("directory " + std::to_string(child) + " ('" + name + "' in " +
                  std::to_string(dir) + ") has parent pointer " +
                  std::to_string(c->second.attr().parent()));
        }
      }
    }
  }
  // Reachability from the root.
  std::set<uint64_t> reached;
  std::deque<uint64_t> todo;
  if (inodes.count(kRootIno)) {
    reached.insert(kRootIno);
    todo.push_back(kRootIno);
  }
  while (!todo.empty()) {
    uint64_t dir = todo.front();
    todo.pop_front();
    auto c = children.find(dir);
    if (c == children.end()) continue;
    for (const auto& [name, child] : c->second) {
      if (!inodes.count(child) || !reached.insert(child).second) continue;
      if (S_ISDIR(inodes[child].attr().mode())) todo.push_back(child);
    }
  }
  for (uint64_t o : orphans) {
    if (!inodes.count(o)) problem("orphan record of missing inode " + std::to_string(o));
  }
  for (const auto& [ino, rec] : inodes) {
    const Attr& a = rec.attr();
    const std::string who = "inode " + std::to_string(ino);
    uint64_t expect;
    if (S_ISDIR(a.mode())) {
      expect = 2 + subdirs[ino];
      if (ino != kRootIno && refs[ino] != 1) {
        problem("directory " + std::to_string(ino) + " has " + std::to_string(refs[ino]) +
                " entries naming it");
      }
    } else {
      expect = refs[ino];
    }
    // An orphan: unlinked while open, kept for its handles until the last
    // close (or its sessions' end).
    const bool orphan = orphans.count(ino) != 0;
    if (orphan) {
      if (a.nlink() != 0 || refs[ino] != 0) {
        problem(who + " is an orphan but has nlink " + std::to_string(a.nlink()) + " and " +
                std::to_string(refs[ino]) + " entries");
      }
      out.set_orphans(out.orphans() + 1);
    } else if (a.nlink() == 0) {
      problem(who + " has nlink 0 and is no orphan (leaked)");
    } else if (a.nlink() != expect) {
      problem(who + " has nlink " + std::to_string(a.nlink()) + ", expected " +
              std::to_string(expect));
    }
    if (!reached.count(ino) && !orphan) problem(who + " is unreachable from the root (leaked)");
    if (next_ino != 0 && ino >= next_ino) {
      problem(who + " is not below the next inode number " + std::to_string(next_ino));
    }
  }

  // Extents.
  std::map<uint64_t, uint64_t> file_end;  // ino -> end of its previous extent
  for (const auto& [ino, e] : extents) {
    const std::string who = "extent of inode " + std::to_string(ino) + " at file offset " +
                            std::to_string(e.file_offset());
    auto in = inodes.find(ino);
    if (in == inodes.end()) {
      problem(who + " belongs to a missing inode");
    } else {
      const Layout& l = in->second.layout();
      if (!S_ISREG(in->second.attr().mode())) problem(who + ": inode is not a regular file");
      if (l.unit() == 0 || l.pairs_size() == 0) {
        problem(who + ": inode has no layout");
      } else {
        if (e.length() > 0 &&
            e.file_offset() / l.unit() != (e.file_offset() + e.length() - 1) / l.unit()) {
          problem(who + " crosses a stripe unit boundary");
        }
        // Space for a unit whose layout pair was full went to another pair
        // (MetaStore::PlaceLocked); the extent records where.
        const uint32_t want = l.pairs(StripeSlot(e.file_offset(), l.unit(), l.pairs_size()));
        if (e.pair() != want) out.set_spilled_extents(out.spilled_extents() + 1);
      }
    }
    if (e.length() == 0 || e.length() % kBlockSize || e.file_offset() % kBlockSize ||
        e.dev_offset() % kBlockSize) {
      problem(who + " is not block aligned or empty");
    }
    auto fe = file_end.find(ino);
    if (fe != file_end.end() && fe->second > e.file_offset()) {
      problem(who + " overlaps the previous extent of the file");
    }
    file_end[ino] = e.file_offset() + e.length();
    auto p = pairs.find(e.pair());
    if (p == pairs.end()) {
      problem(who + " is on unknown pair " + std::to_string(e.pair()));
    } else if (e.dev_offset() + e.length() > p->second.capacity()) {
      problem(who + " device range " + Range(e.dev_offset(), e.length()) +
              " is outside pair " + std::to_string(e.pair()) + " capacity " +
              std::to_string(p->second.capacity()));
    }
    allocated[ino] += e.length();
    out.set_allocated_bytes(out.allocated_bytes() + e.length());
    dev[e.pair()].push_back({e.dev_offset(), e.length(), false, who});
  }
  for (const auto& [ino, rec] : inodes) {
    if (!S_ISREG(rec.attr().mode())) continue;
    if (rec.attr().blocks() * 512 != allocated[ino]) {
      problem("inode " + std::to_string(ino) + " says " + std::to_string(rec.attr().blocks()) +
              " blocks, extents hold " + std::to_string(allocated[ino] / 512));
    }
  }

  // Space of each pair: ranges may neither overlap nor leave gaps.
  for (auto& [pair, ranges] : dev) {
    auto p = pairs.find(pair);
    if (p == pairs.end()) {
      problem("free space on unknown pair " + std::to_string(pair));
      continue;
    }
    std::sort(ranges.begin(), ranges.end(),
              [](const DevRange& a, const DevRange& b) { return a.start < b.start; });
    uint64_t max_end = 0;
    const DevRange* last = nullptr;
    for (const DevRange& r : ranges) {
      if (last != nullptr && r.start < max_end) {
        std::string what = (r.is_free || last->is_free) ? (r.is_free && last->is_free
                                                               ? "free ranges overlap"
                                                               : "free range overlaps extent")
                                                        : "block owned twice";
        problem(what + " on pair " + std::to_string(pair) + ": " + last->owner + " and " +
                r.owner + " at device " + Range(r.start, std::min(max_end, r.start + r.length) - r.start));
      }
      if (r.is_free && r.start + r.length > p->second.capacity()) {
        problem("free range " + Range(r.start, r.length) + " is outside pair " +
                std::to_string(pair) + " capacity");
      }
      if (r.start + r.length > max_end) {
        max_end = r.start + r.length;
        last = &r;
      }
    }
  }
  for (const auto& [id, p] : pairs) {
    uint64_t sum = 0;
    for (const DevRange& r : dev[id]) sum += r.length;
    if (sum != p.capacity()) {
      problem("pair " + std::to_string(id) + " (" + p.name() + "): free + allocated = " +
              std::to_string(sum) + " bytes, capacity " + std::to_string(p.capacity()));
    }
    if (next_pair != 0 && id >= next_pair) {
      problem("pair " + std::to_string(id) + " is not below the next pair id");
    }
  }
  return out;
}

}  // namespace scalefs::meta
