#include "chunk/dirty_map.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <glog/logging.h>

namespace scalefs {

namespace {
constexpr char kMagic[8] = {'S', 'F', 'D', 'I', 'R', 'T', 'Y', '1'};
constexpr uint64_t kHeader = 16;  // magic + region count

bool Bit(const std::vector<uint8_t>& v, uint64_t i) { return (v[i / 8] >> (i % 8)) & 1; }
void SetBit(std::vector<uint8_t>& v, uint64_t i) { v[i / 8] |= static_cast<uint8_t>(1u << (i % 8)); }
void ClearBit(std::vector<uint8_t>& v, uint64_t i) {
  v[i / 8] &= static_cast<uint8_t>(~(1u << (i % 8)));
}

Status PwriteAll(int fd, const void* data, size_t n, uint64_t off, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + path);
    }
    p += w;
    n -= static_cast<size_t>(w);
    off += static_cast<uint64_t>(w);
  }
  return Status::OK();
}

Status SyncFd(int fd, const std::string& path) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return Status::FromErrno(errno, "fdatasync " + path);
  }
  return Status::OK();
}
}  // namespace

DirtyMap::DirtyMap(std::string path, int fd, uint64_t regions)
    : path_(std::move(path)),
      fd_(fd),
      regions_(regions),
      al_((regions + 7) / 8),
      oos_((regions + 7) / 8),
      in_flight_(regions),
      last_write_epoch_(regions) {}

DirtyMap::~DirtyMap() {
  Status s = Persist();
  if (!s.ok()) LOG(WARNING) << s.ToString();
  ::close(fd_);
}

Result<std::unique_ptr<DirtyMap>> DirtyMap::Open(const std::string& path, uint64_t regions) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  std::unique_ptr<DirtyMap> map(new DirtyMap(path, fd, regions));
  const size_t table = map->al_.size();
  std::string buf(kHeader + 2 * table, '\0');
  ssize_t n = ::pread(fd, buf.data(), buf.size(), 0);
  if (n < 0) return Status::FromErrno(errno, "read " + path);
  if (n == 0) {
    // New map: nothing dirty.
    std::memcpy(buf.data(), kMagic, 8);
    std::memcpy(buf.data() + 8, &regions, 8);
    Status s = PwriteAll(fd, buf.data(), buf.size(), 0, path);
    if (s.ok()) s = SyncFd(fd, path);
    if (!s.ok()) return s;
    return map;
  }
  uint64_t stored = 0;
  std::memcpy(&stored, buf.data() + 8, 8);
  if (static_cast<size_t>(n) != buf.size() || std::memcmp(buf.data(), kMagic, 8) != 0) {
    return Status::Invalid(path + " is not a dirty-region map of " + std::to_string(regions) +
                           " regions");
  }
  if (stored != regions) {
    return Status::Invalid(path + " maps " + std::to_string(stored) +
                           " regions but the device has " + std::to_string(regions));
  }
  std::memcpy(map->al_.data(), buf.data() + kHeader, table);
  std::memcpy(map->oos_.data(), buf.data() + kHeader + table, table);
  // Regions with writes in flight when the last run stopped may differ from
  // the peer: they count as out of sync for the next resync.
  uint64_t folded = 0;
  for (size_t i = 0; i < table; ++i) {
    folded += static_cast<uint64_t>(__builtin_popcount(map->al_[i] & ~map->oos_[i]));
    map->oos_[i] |= map->al_[i];
    map->al_[i] = 0;
  }
  if (folded > 0) {
    LOG(INFO) << path << ": " << folded << " regions of the activity log count as out of sync";
    map->dirty_ = true;
    Status s = map->Persist();
    if (!s.ok()) return s;
  }
  return map;
}

Status DirtyMap::WriteByte(uint64_t table_offset, uint64_t region, bool sync) {
  const std::vector<uint8_t>& v = table_offset == 0 ? al_ : oos_;
  const uint64_t off = kHeader + table_offset + region / 8;
  Status s = PwriteAll(fd_, &v[region / 8], 1, off, path_);
  if (s.ok() && sync) s = SyncFd(fd_, path_);
  return s;
}

Status DirtyMap::BeginWrite(uint64_t first, uint64_t last) {
  std::lock_guard<std::mutex> l(mu_);
  bool newly = false;
  for (uint64_t r = first; r <= last && r < regions_; ++r) {
    in_flight_[r]++;
    last_write_epoch_[r] = epoch_;
    if (!Bit(al_, r)) {
      // Mark the whole aligned group at once, as DRBD's activity log marks
      // 4 MiB extents: a sequential writer then pays one sync per group
      // instead of one per region, for a slightly larger resync after a crash.
      const uint64_t group = r / kActivityGroup * kActivityGroup;
      for (uint64_t g = group; g < group + kActivityGroup && g < regions_; ++g) {
        if (Bit(al_, g)) continue;
        SetBit(al_, g);
        last_write_epoch_[g] = epoch_;
        Status s = WriteByte(0, g, false);
        if (!s.ok()) return s;
      }
      newly = true;
    }
  }
  // The mark is on disk before the write is applied (held under mu_, so no
  // other writer can rely on a bit that is set only in memory).
  return newly ? SyncFd(fd_, path_) : Status::OK();
}

void DirtyMap::EndWrite(uint64_t first, uint64_t last) {
  std::lock_guard<std::mutex> l(mu_);
  for (uint64_t r = first; r <= last && r < regions_; ++r) in_flight_[r]--;
}

uint64_t DirtyMap::StartSyncEpoch() {
  std::lock_guard<std::mutex> l(mu_);
  return ++epoch_;
}

Status DirtyMap::ClearIdle(uint64_t epoch) {
  std::lock_guard<std::mutex> l(mu_);
  for (uint64_t r = 0; r < regions_; ++r) {
    if (Bit(al_, r) && in_flight_[r] == 0 && last_write_epoch_[r] < epoch) {
      ClearBit(al_, r);
      dirty_ = true;
    }
  }
  return Status::OK();  // persisted lazily: a stale set bit only costs a resync
}

Status DirtyMap::MarkOutOfSync(uint64_t region) {
  std::lock_guard<std::mutex> l(mu_);
  if (region >= regions_ || Bit(oos_, region)) return Status::OK();
  SetBit(oos_, region);
  return WriteByte(al_.size(), region, true);
}

void DirtyMap::ClearOutOfSync(uint64_t region) {
  std::lock_guard<std::mutex> l(mu_);
  if (region < regions_ && Bit(oos_, region)) {
    ClearBit(oos_, region);
    dirty_ = true;
  }
}

void DirtyMap::SetAllOutOfSync() {
  std::lock_guard<std::mutex> l(mu_);
  for (uint64_t r = 0; r < regions_; ++r) SetBit(oos_, r);
  dirty_ = true;
}

Status DirtyMap::MergeOutOfSync(const std::string& bits) {
  {
    std::lock_guard<std::mutex> l(mu_);
    for (size_t i = 0; i < bits.size() && i < oos_.size(); ++i) {
      const uint8_t add = static_cast<uint8_t>(bits[i]) & ~oos_[i];
      if (add != 0) {
        oos_[i] |= add;
        dirty_ = true;
      }
    }
    // Bits past the last region must stay clear.
    if (regions_ % 8 != 0) oos_.back() &= static_cast<uint8_t>((1u << (regions_ % 8)) - 1);
  }
  return Persist();
}

std::string DirtyMap::DirtyBits() const {
  std::lock_guard<std::mutex> l(mu_);
  std::string out(oos_.size(), '\0');
  for (size_t i = 0; i < oos_.size(); ++i) out[i] = static_cast<char>(oos_[i] | al_[i]);
  return out;
}

std::vector<uint64_t> DirtyMap::OutOfSyncRegions() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<uint64_t> out;
  for (uint64_t r = 0; r < regions_; ++r)
    if (Bit(oos_, r)) out.push_back(r);
  return out;
}

uint64_t DirtyMap::OutOfSyncCount() const {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t n = 0;
  for (uint8_t b : oos_) n += static_cast<uint64_t>(__builtin_popcount(b));
  return n;
}

bool DirtyMap::IsOutOfSync(uint64_t region) const {
  std::lock_guard<std::mutex> l(mu_);
  return region < regions_ && Bit(oos_, region);
}

Status DirtyMap::ClearAllOutOfSync() {
  {
    std::lock_guard<std::mutex> l(mu_);
    std::fill(oos_.begin(), oos_.end(), 0);
    dirty_ = true;
  }
  return Persist();
}

Status DirtyMap::Persist() {
  std::lock_guard<std::mutex> l(mu_);
  if (!dirty_) return Status::OK();
  Status s = PwriteAll(fd_, al_.data(), al_.size(), kHeader, path_);
  if (s.ok()) s = PwriteAll(fd_, oos_.data(), oos_.size(), kHeader + al_.size(), path_);
  if (s.ok()) s = SyncFd(fd_, path_);
  if (s.ok()) dirty_ = false;
  return s;
}

}  // namespace scalefs
