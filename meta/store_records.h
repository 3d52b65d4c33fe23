// How the store reads and writes its records: names, inodes, directory
// entries and extent maps, shared by the store's operations (the files
// meta/*_ops.cc). Keys are in meta/keys.h.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "common/status.h"
#include "proto/meta.pb.h"

namespace scalefs::meta {

inline constexpr uint64_t kMaxXattrValue = 64 << 10;
// Not stored: a file's or directory's layout as text (meta/layout_ops.cc).
inline constexpr std::string_view kLayoutXattr = "scalefs.layout";
inline constexpr uint64_t kMaxSymlinkTarget = 4095;
inline constexpr uint32_t kDefaultReadDirLimit = 1000;
inline constexpr uint32_t kMaxReadDirLimit = 10000;
// The largest size and offset a file can have (the kernel's off_t).
inline constexpr uint64_t kMaxFileSize = (uint64_t{1} << 63) - 1;

// Meta's clock for ctime, mtime and atime: the wall clock, strictly
// increasing within one meta process. Every change of an inode sets its
// ctime, so clients order two attrs of one inode by it (as knfsd's change
// attribute did with ctime).
int64_t NowNs();
inline bool IsDir(const InodeRecord& r) { return (r.attr().mode() & 0170000) == 0040000; }
inline bool IsReg(const InodeRecord& r) { return (r.attr().mode() & 0170000) == 0100000; }
// The file's stripe unit; files laid out before the unit was stored have the default.
uint64_t UnitOf(const InodeRecord& r);
std::string Quote(const std::string& name);
std::string InoStr(uint64_t ino);

Status ValidateName(const std::string& name);
Status FromRocks(const rocksdb::Status& s, const std::string& what);

Result<InodeRecord> ReadInode(rocksdb::DB* db, const rocksdb::ReadOptions& ro, uint64_t ino);

struct DentryValue {
  uint64_t ino = 0;
  uint32_t mode = 0;
};
// NotFound when the name is absent.
Result<DentryValue> ReadDentry(rocksdb::DB* db, const rocksdb::ReadOptions& ro, uint64_t parent,
                               const std::string& name);
bool DirIsEmpty(rocksdb::DB* db, uint64_t ino);

using ExtentMap = std::map<uint64_t, Extent>;  // file_offset -> extent

// The unwritten records of `map` overlapping [start, end); records begin at
// or after `from` (an extent never starts before its stripe unit).
std::vector<Extent> UnwrittenOverlapping(const ExtentMap& map, uint64_t from, uint64_t start,
                                         uint64_t end);
// Extents of `ino` whose file_offset lies in [lo, hi); hi == 0 means no end.
// Records already in `seen` are not loaded again (they may have been split).
Status LoadExtents(rocksdb::DB* db, const rocksdb::ReadOptions& ro, uint64_t ino, uint64_t lo,
                   uint64_t hi, ExtentMap* seen, ExtentMap* out);
// Joins neighbours contiguous in file and device with the same state, never
// across a stripe unit (the unit decides the pair; keep records unit-local).
void MergeExtents(ExtentMap* m, uint64_t unit);
// Puts the difference between the loaded records and the changed ones.
void WriteExtentDiff(uint64_t ino, const ExtentMap& orig, const ExtentMap& cur,
                     rocksdb::WriteBatch* batch);
Extent MakeExtent(uint64_t file_offset, uint64_t length, uint32_t pair, uint64_t dev_offset,
                  bool written);
std::vector<Extent> Overlapping(const ExtentMap& m, uint64_t start, uint64_t end);

bool ValidPairName(const std::string& name);

}  // namespace scalefs::meta
