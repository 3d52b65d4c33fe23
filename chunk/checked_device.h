// The member's device with a CRC32C of every 4 KiB block beside it
// (ChecksumStore): every write is checked against the checksums its sender
// computed and stores the blocks' new checksums with the data; every read
// checks each block it returns.
//
// Crash consistency. A block's entry has two slots. A write of a block
//   1. stages the entry as (current, new), before the data changes;
//   2. writes the data;
//   3. settles the entry as (new, new).
// Each step is one store into the page cache (the entry is one 8-byte word
// of a shared mapping; the data one pwrite), in this order, so whenever the
// member is killed, the entry holds a checksum of whatever the block holds:
// before 1 the settled old one, between 1 and 3 both, after 3 the new one.
// A reader accepts data matching either slot, so a member that restarts
// after SIGKILL never reports a sound block bad, nor needs a scan: the next
// write of the block settles it (it finds out which slot its data matches).
// A torn block (a power cut in the middle of a 4 KiB write, when the disk
// does not write 4 KiB atomically) matches neither: it reads as damaged and is
// mended from the peer like any other damaged block; it lies in a region of
// the activity log, so the resync after the restart copies it anyway. A
// partial write of a block (unaligned) reads the rest of the block, checks
// it, and stores the checksum of the whole merged block; over a block that
// fails that check it writes the bytes but leaves the entry as it was, so
// the block stays known damaged (never laundered into a valid checksum) and
// is mended from the peer, whose copy has the write too.
//
// The current checksum of step 1 is known without reading the data whenever
// the entry is settled, which it is except after a crash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chunk/block_device.h"
#include "chunk/checksum_store.h"
#include "common/status.h"
#include "proto/chunk.pb.h"

namespace scalefs {

class CheckedDevice {
 public:
  // Both outlive this.
  CheckedDevice(BlockDevice* device, ChecksumStore* store) : device_(device), store_(store) {}

  BlockDevice* raw() const { return device_; }
  uint64_t size() const { return device_->size(); }
  Status CheckRange(std::string_view what, uint64_t offset, uint64_t length) const {
    return device_->CheckRange(what, offset, length);
  }

  // Replaces *out with [offset, offset+length), every block it touches
  // checked. A block that matches neither slot fails the read with Corrupt
  // naming its device offset; `bad` (if set) receives the offsets of all of
  // them. `crcs` (if set, and the read is of whole blocks) receives each
  // block's CRC32C as read and checked here, for the reader to check again
  // on its side.
  Status Read(uint64_t offset, uint64_t length, std::string* out,
              std::vector<uint64_t>* bad = nullptr, std::vector<uint32_t>* crcs = nullptr) const;

  // Writes `data` at `offset`. `crcs` are the sender's PieceCrcs of it
  // (empty: computed here); a mismatch is Corrupt and writes nothing. The
  // caller orders writes to a block (region lock or its peer's sequencing).
  // `damaged` (if set) receives the offsets of blocks partly written over
  // damaged data: they still fail their check and need the peer's copy.
  Status Write(uint64_t offset, std::string_view data,
               const google::protobuf::RepeatedField<uint32_t>& crcs,
               std::vector<uint64_t>* damaged = nullptr);
  Status Write(uint64_t offset, std::string_view data);

  // Per 4 KiB block of [offset, offset+length) (whole blocks): its state and
  // checksum (the stored one; for an unchecked block the data's own). With
  // `written_only`, a block without a stored checksum is not read: it is
  // {UNCHECKED, 0}.
  struct BlockCheck {
    chunk::BlockState state;
    uint32_t crc32c;
  };
  Result<std::vector<BlockCheck>> Check(uint64_t offset, uint64_t length,
                                        bool written_only = false) const;

  // The data and the checksums survive a crash of the host.
  Status Sync();

 private:
  // Good, Unchecked or Bad for a block whose data has CRC `crc`.
  static chunk::BlockState Verdict(ChecksumStore::Slots slots, uint32_t crc);

  BlockDevice* const device_;
  ChecksumStore* const store_;
};

}  // namespace scalefs
