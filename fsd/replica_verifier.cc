#include "fsd/replica_verifier.h"

#include <chrono>
#include <future>
#include <thread>

#include "common/layout.h"
#include "common/rpc_status.h"
#include "fsd/io_plan.h"

namespace scalefs {

std::vector<uint64_t> DifferingBlocks(const std::vector<uint32_t>& a,
                                      const std::vector<uint32_t>& b) {
  std::vector<uint64_t> out;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (i >= a.size() || i >= b.size() || a[i] != b[i]) out.push_back(i);
  }
  return out;
}

ReplicaVerifier::ReplicaVerifier(chunk::Chunk::StubInterface* a, chunk::Chunk::StubInterface* b,
                                 uint64_t capacity, VerifyOptions options)
    : members_{a, b}, capacity_(capacity), options_(std::move(options)) {}

Status ReplicaVerifier::Compare(uint64_t offset, uint64_t length, RangeSet* out,
                                DamagedBlocks* damaged) {
  chunk::ChecksumRequest req;
  req.set_offset(offset);
  req.set_length(length);
  req.set_block_size(options_.block_size);
  req.set_stored(true);
  req.set_written_only(options_.written_only);
  auto ask = [&](int member) -> Result<chunk::ChecksumReply> {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options_.rpc_timeout_ms));
    chunk::ChecksumReply rep;
    Status s = FromGrpc(members_[member]->Checksum(&ctx, req, &rep),
                        std::string("member ") + (member == 0 ? "A" : "B") + " Checksum");
    if (!s.ok()) return s;
    return rep;
  };
  auto fb = std::async(std::launch::async, ask, 1);
  auto a = ask(0);
  auto b = fb.get();
  if (!a.ok()) return a.status();
  if (!b.ok()) return b.status();
  const uint64_t expected = (length + options_.block_size - 1) / options_.block_size;
  for (const auto* r : {&*a, &*b}) {
    if (static_cast<uint64_t>(r->stored_crc32c_size()) != expected ||
        static_cast<uint64_t>(r->state_size()) != expected) {
      return Status::IoError("Checksum of [" + std::to_string(offset) + ", +" +
                             std::to_string(length) + ") returned " +
                             std::to_string(r->stored_crc32c_size()) + " checksums and " +
                             std::to_string(r->state_size()) + " states, wanted " +
                             std::to_string(expected));
    }
  }
  for (uint64_t i = 0; i < expected; ++i) {
    const int k = static_cast<int>(i);
    const bool bad_a = a->state(k) == chunk::BAD, bad_b = b->state(k) == chunk::BAD;
    if (!bad_a && !bad_b && a->stored_crc32c(k) == b->stored_crc32c(k)) continue;
    const uint64_t start = offset + i * options_.block_size;
    const uint64_t n = std::min<uint64_t>(options_.block_size, offset + length - start);
    out->Add(start, n);
    if (bad_a && bad_b) {
      damaged->both.Add(start, n);
    } else if (bad_a || bad_b) {
      damaged->only[bad_a ? 0 : 1].Add(start, n);
    }
  }
  return Status::OK();
}

Result<RangeSet> ReplicaVerifier::Verify(const Progress& progress) {
  RangeSet differ;
  damaged_ = DamagedBlocks();
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t off = 0; off < capacity_;) {
    const uint64_t n = std::min(options_.range_bytes, capacity_ - off);
    Status s = Compare(off, n, &differ, &damaged_);
    if (!s.ok()) return s;
    off += n;
    if (progress) progress(off, capacity_);
    if (options_.rate > 0) {
      // Never ahead of `rate` bytes/s since the start (a scrub in the background).
      std::this_thread::sleep_until(
          start + std::chrono::microseconds(static_cast<int64_t>(
                      1e6 * static_cast<double>(off) / static_cast<double>(options_.rate))));
    }
  }
  if (differ.empty()) return differ;
  return Recheck(differ);
}

Result<RangeSet> ReplicaVerifier::Recheck(const RangeSet& ranges) {
  RangeSet still = ranges;
  for (int delay : options_.recheck_delays_ms) {
    if (still.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    RangeSet now;
    DamagedBlocks damaged;
    for (const ByteSpan& span : still.Spans()) {
      for (uint64_t off = span.offset; off < span.end();) {
        const uint64_t n = std::min(options_.range_bytes, span.end() - off);
        Status s = Compare(off, n, &now, &damaged);
        if (!s.ok()) return s;
        off += n;
      }
    }
    still = std::move(now);
    damaged_ = std::move(damaged);
  }
  return still;
}

Status ReplicaVerifier::CallRepair(int member, uint64_t offset, uint64_t length,
                                   uint64_t* mended) {
  chunk::RepairRequest req;
  req.set_offset(offset);
  req.set_length(length);
  chunk::RepairReply rep;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(options_.rpc_timeout_ms));
  Status s = FromGrpc(members_[member]->Repair(&ctx, req, &rep),
                      std::string("member ") + (member == 0 ? "A" : "B") + " Repair [" +
                          std::to_string(offset) + ", +" + std::to_string(length) + ")");
  if (s.ok()) *mended += rep.repaired_blocks();
  return s;
}

Status ReplicaVerifier::CallResyncRange(uint64_t offset, uint64_t length) {
  chunk::ResyncRangeRequest req;
  req.set_offset(offset);
  req.set_length(length);
  chunk::ResyncRangeReply rep;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(options_.rpc_timeout_ms));
  grpc::Status g = members_[0]->ResyncRange(&ctx, req, &rep);
  if (g.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    return Status::NotSupported("member A does not implement ResyncRange: " + g.error_message());
  }
  return FromGrpc(g, "member A ResyncRange [" + std::to_string(offset) + ", +" +
                         std::to_string(length) + ")");
}

Status ReplicaVerifier::Repair(const RangeSet& ranges, RepairCounts* counts) {
  RepairCounts local;
  RepairCounts& c = counts != nullptr ? *counts : local;
  for (const ByteSpan& span : ranges.Spans()) {
    for (const DevicePart& part : SplitByRegion(span.offset, span.length)) {
      // A damaged copy is mended from the good one, whichever member holds it.
      for (int m = 0; m < 2; ++m) {
        for (const ByteSpan& d : damaged_.only[m].Intersect(part.dev_offset, part.length)) {
          Status s = CallRepair(m, d.offset, d.length, &c.mended[m]);
          if (!s.ok()) return s;
        }
      }
      // Sound on both members but different (a divergence): A's copy wins.
      RangeSet sound;
      sound.Add(part.dev_offset, part.length);
      for (const RangeSet* r : {&damaged_.only[0], &damaged_.only[1], &damaged_.both}) {
        for (const ByteSpan& d : r->Intersect(part.dev_offset, part.length)) {
          sound.Remove(d.offset, d.length);
        }
      }
      for (const ByteSpan& d : sound.Spans()) {
        Status s = CallResyncRange(d.offset, d.length);
        if (!s.ok()) return s;
        c.pushed += (d.length + options_.block_size - 1) / options_.block_size;
      }
    }
  }
  return Status::OK();
}

}  // namespace scalefs
