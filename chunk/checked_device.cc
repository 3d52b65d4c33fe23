#include "chunk/checked_device.h"

#include <algorithm>

#include "common/block_crc.h"
#include "common/layout.h"

namespace scalefs {

namespace {
std::string At(uint64_t offset) { return "block at device offset " + std::to_string(offset); }
}  // namespace

chunk::BlockState CheckedDevice::Verdict(ChecksumStore::Slots slots, uint32_t crc) {
  const uint32_t stored = ChecksumStore::Encode(crc);
  if (slots.a == stored || slots.b == stored) return chunk::GOOD;
  // A zero slot: the block held data without a checksum, and may still.
  if (slots.a == 0 || slots.b == 0) return chunk::UNCHECKED;
  return chunk::BAD;
}

Status CheckedDevice::Read(uint64_t offset, uint64_t length, std::string* out,
                           std::vector<uint64_t>* bad, std::vector<uint32_t>* crcs) const {
  Status s = device_->CheckRange("read", offset, length);
  if (!s.ok() || length == 0) return length == 0 ? device_->Read(offset, 0, out) : s;
#ifdef SCALEFS_WITHOUT_CHECKSUMS
  return device_->Read(offset, length, out);  // the benchmark's baseline
#endif
  const uint64_t first = RoundDown(offset, kBlockSize);
  const uint64_t end = std::min(RoundUp(offset + length, kBlockSize), device_->size());
  const bool aligned = first == offset && end == offset + length;
  // The entries are read before and after the data: a write racing with this
  // read changes them from (old, old) over (old, new) to (new, new), and the
  // data read matches one snapshot or the other.
  std::vector<ChecksumStore::Slots> before;
  before.reserve((end - first) / kBlockSize + 1);
  for (uint64_t b = first / kBlockSize; b * kBlockSize < end; ++b) before.push_back(store_->Get(b));
  std::string whole;
  std::string* buf = aligned ? out : &whole;
  s = device_->Read(first, end - first, buf);
  if (!s.ok()) return s;
  Status result;
  if (crcs != nullptr) crcs->clear();
  const bool give_crcs = crcs != nullptr && aligned;
  size_t i = 0;
  for (uint64_t pos = first; pos < end; pos += kBlockSize, ++i) {
    const bool checked = !before[i].none() || !store_->Get(pos / kBlockSize).none();
    if (!checked && !give_crcs) continue;
    const uint32_t crc =
        Crc32c(std::string_view(*buf).substr(pos - first, std::min(kBlockSize, end - pos)));
    if (give_crcs) crcs->push_back(crc);
    if (!checked) continue;
    if (Verdict(before[i], crc) != chunk::BAD) continue;
    if (Verdict(store_->Get(pos / kBlockSize), crc) != chunk::BAD) continue;
    if (bad != nullptr) bad->push_back(pos);
    if (result.ok()) result = Status::Corrupt(At(pos) + " does not match its checksum");
  }
  if (!aligned) *out = whole.substr(offset - first, length);
  return result;
}

Status CheckedDevice::Write(uint64_t offset, std::string_view data) {
  return Write(offset, data, google::protobuf::RepeatedField<uint32_t>());
}

Status CheckedDevice::Write(uint64_t offset, std::string_view data,
                            const google::protobuf::RepeatedField<uint32_t>& sent,
                            std::vector<uint64_t>* damaged) {
  Status s = device_->CheckRange("write", offset, data.size());
  if (!s.ok() || data.empty()) return s;
  const std::vector<uint32_t> crcs = PieceCrcs(offset, data);
  if (!sent.empty()) {
    if (static_cast<size_t>(sent.size()) != crcs.size()) {
      return Status::Invalid("write [" + std::to_string(offset) + ", +" +
                             std::to_string(data.size()) + ") carries " +
                             std::to_string(sent.size()) + " checksums for " +
                             std::to_string(crcs.size()) + " blocks");
    }
    uint64_t pos = offset;
    for (size_t i = 0; i < crcs.size(); ++i) {
      if (crcs[i] != sent[static_cast<int>(i)]) {
        return Status::Corrupt("write of " + At(RoundDown(pos, kBlockSize)) +
                               " damaged in transit: its bytes do not match the checksum "
                               "the sender computed");
      }
      pos = RoundDown(pos, kBlockSize) + kBlockSize;
    }
  }
  // The new checksum of every block touched: the piece's own for a whole
  // block, else over the block merged with the bytes it keeps.
  const uint64_t first_block = offset / kBlockSize;
  std::vector<uint32_t> fresh(crcs.size());
  std::vector<uint32_t> current(crcs.size());
  std::vector<bool> keep(crcs.size(), false);  // entry left alone: damaged block
  std::string old;
  for (size_t i = 0; i < crcs.size(); ++i) {
    const uint64_t block = first_block + i;
    const uint64_t bstart = block * kBlockSize;
    const uint64_t bend = std::min(bstart + kBlockSize, device_->size());
    const uint64_t from = std::max(bstart, offset), to = std::min(bend, offset + data.size());
    const ChecksumStore::Slots slots = store_->Get(block);
    const bool whole = from == bstart && to == bend;
    // The block's current data is read only when needed: to merge it, or to
    // learn which slot of an entry a crash left staged it matches.
    if (!whole || !slots.settled()) {
      s = device_->Read(bstart, bend - bstart, &old);
      if (!s.ok()) return s;
      const uint32_t old_crc = Crc32c(old);
      const chunk::BlockState v = Verdict(slots, old_crc);
      if (!whole && v == chunk::BAD) {
        // Merging would give damaged bytes a valid checksum.
        keep[i] = true;
        if (damaged != nullptr) damaged->push_back(bstart);
        continue;
      }
      current[i] = v == chunk::GOOD ? ChecksumStore::Encode(old_crc) : slots.a;
      if (!whole) {
        old.replace(from - bstart, to - from, data.substr(from - offset, to - from));
        fresh[i] = Crc32c(old);
      } else {
        fresh[i] = crcs[i];
      }
    } else {
      current[i] = slots.a;
      fresh[i] = crcs[i];
    }
  }
  for (size_t i = 0; i < crcs.size(); ++i) {
    if (!keep[i]) store_->Set(first_block + i, {current[i], ChecksumStore::Encode(fresh[i])});
  }
  s = device_->Write(offset, data);
  if (!s.ok()) return s;
  for (size_t i = 0; i < crcs.size(); ++i) {
    const uint32_t v = ChecksumStore::Encode(fresh[i]);
    if (!keep[i]) store_->Set(first_block + i, {v, v});
  }
  return Status::OK();
}

Result<std::vector<CheckedDevice::BlockCheck>> CheckedDevice::Check(uint64_t offset,
                                                                    uint64_t length,
                                                                    bool written_only) const {
  if (offset % kBlockSize != 0 || offset + length < offset || offset + length > device_->size()) {
    return Status::Range("checksum range [" + std::to_string(offset) + ", +" +
                         std::to_string(length) + ") not block aligned inside the device of " +
                         std::to_string(device_->size()) + " bytes");
  }
  const uint64_t blocks = (length + kBlockSize - 1) / kBlockSize;
  if (blocks > BlockDevice::kMaxChecksumBlocks) {
    return Status(Status::Code::kTooBig, "checksum of " + std::to_string(blocks) +
                                             " blocks exceeds the limit of " +
                                             std::to_string(BlockDevice::kMaxChecksumBlocks));
  }
  std::vector<BlockCheck> out;
  out.reserve(blocks);
  std::string buf;
  for (uint64_t pos = offset; pos < offset + length;) {
    const uint64_t n = std::min(kMaxIoSize, offset + length - pos);
    std::vector<ChecksumStore::Slots> before;
    for (uint64_t b = 0; b < n; b += kBlockSize) before.push_back(store_->Get((pos + b) / kBlockSize));
    auto skipped = [&](uint64_t b) { return written_only && before[b / kBlockSize].none(); };
    // Runs of blocks to read: every block, or only those with a checksum.
    for (uint64_t run = 0; run < n;) {
      if (skipped(run)) {
        out.push_back({chunk::UNCHECKED, 0});
        run += kBlockSize;
        continue;
      }
      uint64_t run_end = run;
      while (run_end < n && !skipped(run_end)) run_end = std::min(n, run_end + kBlockSize);
      Status s = device_->Read(pos + run, run_end - run, &buf);
      if (!s.ok()) return s;
      for (uint64_t b = run; b < run_end; b += kBlockSize) {
        const uint32_t crc =
            Crc32c(std::string_view(buf).substr(b - run, std::min(kBlockSize, run_end - b)));
        const ChecksumStore::Slots now = store_->Get((pos + b) / kBlockSize);
        chunk::BlockState v = Verdict(before[b / kBlockSize], crc);
        if (v == chunk::BAD) v = Verdict(now, crc);
        const uint32_t stored = now.none() && before[b / kBlockSize].none() ? 0 : now.a;
        out.push_back({v, v == chunk::BAD ? stored : crc});
      }
      run = run_end;
    }
    pos += n;
  }
  return out;
}

Status CheckedDevice::Sync() {
  Status s = device_->Sync();
  Status c = store_->Sync();
  return s.ok() ? c : s;
}

}  // namespace scalefs
