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

Status ReplicaVerifier::Compare(uint64_t offset, uint64_t length, RangeSet* out) {
  chunk::ChecksumRequest req;
  req.set_offset(offset);
  req.set_length(length);
  req.set_block_size(options_.block_size);
  auto ask = [&](int member) -> Result<std::vector<uint32_t>> {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options_.rpc_timeout_ms));
    chunk::ChecksumReply rep;
    Status s = FromGrpc(members_[member]->Checksum(&ctx, req, &rep),
                        std::string("member ") + (member == 0 ? "A" : "B") + " Checksum");
    if (!s.ok()) return s;
    return std::vector<uint32_t>(rep.crc32().begin(), rep.crc32().end());
  };
  auto fb = std::async(std::launch::async, ask, 1);
  auto a = ask(0);
  auto b = fb.get();
  if (!a.ok()) return a.status();
  if (!b.ok()) return b.status();
  const uint64_t expected = (length + options_.block_size - 1) / options_.block_size;
  if (a->size() != expected || b->size() != expected) {
    return Status::IoError("Checksum of [" + std::to_string(offset) + ", +" +
                           std::to_string(length) + ") returned " + std::to_string(a->size()) +
                           " and " + std::to_string(b->size()) + " blocks, wanted " +
                           std::to_string(expected));
  }
  for (uint64_t i : DifferingBlocks(*a, *b)) {
    const uint64_t start = offset + i * options_.block_size;
    out->Add(start, std::min<uint64_t>(options_.block_size, offset + length - start));
  }
  return Status::OK();
}

Result<RangeSet> ReplicaVerifier::Verify(const Progress& progress) {
  RangeSet differ;
  for (uint64_t off = 0; off < capacity_;) {
    const uint64_t n = std::min(options_.range_bytes, capacity_ - off);
    Status s = Compare(off, n, &differ);
    if (!s.ok()) return s;
    off += n;
    if (progress) progress(off, capacity_);
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
    for (const ByteSpan& span : still.Spans()) {
      for (uint64_t off = span.offset; off < span.end();) {
        const uint64_t n = std::min(options_.range_bytes, span.end() - off);
        Status s = Compare(off, n, &now);
        if (!s.ok()) return s;
        off += n;
      }
    }
    still = std::move(now);
  }
  return still;
}

Status ReplicaVerifier::Repair(const RangeSet& ranges) {
  for (const ByteSpan& span : ranges.Spans()) {
    for (const DevicePart& part : SplitByRegion(span.offset, span.length)) {
      chunk::ResyncRangeRequest req;
      req.set_offset(part.dev_offset);
      req.set_length(part.length);
      chunk::ResyncRangeReply rep;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(options_.rpc_timeout_ms));
      grpc::Status g = members_[0]->ResyncRange(&ctx, req, &rep);
      if (g.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
        return Status::NotSupported("member A does not implement ResyncRange: " +
                                    g.error_message());
      }
      Status s = FromGrpc(g, "member A ResyncRange [" + std::to_string(part.dev_offset) + ", +" +
                                 std::to_string(part.length) + ")");
      if (!s.ok()) return s;
    }
  }
  return Status::OK();
}

}  // namespace scalefs
