// `scalefs verify` and `scalefs scrub`: every pair's two members compared
// block by block through ReplicaVerifier, by each block's stored CRC32C and
// whether the member's bytes match it. Repair takes the copy that matches
// its checksum; blocks damaged on both members are named by file and offset
// (found in meta's extent maps) and left alone.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "common/layout.h"
#include "common/rpc_channel.h"
#include "fsd/admin_commands.h"
#include "fsd/meta_client.h"
#include "fsd/replica_verifier.h"

namespace scalefs {

namespace {
int Usage(const char* what) {
  std::cerr << what << kUsage;
  return 2;
}

// "\rpair0: 45.2% (462.0M of 1.0G)  350.2 MB/s" on stderr, at most twice a second.
class VerifyProgressLine {
 public:
  explicit VerifyProgressLine(std::string name)
      : name_(std::move(name)), start_(std::chrono::steady_clock::now()) {}
  void Update(uint64_t done, uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (done < total && now - last_ < std::chrono::milliseconds(500)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    fprintf(stderr, "\r%s: %5.1f%% (%s of %s)  %.1f MB/s   ", name_.c_str(),
            total == 0 ? 100.0 : 100.0 * static_cast<double>(done) / static_cast<double>(total),
            HumanBytes(done).c_str(), HumanBytes(total).c_str(),
            secs > 0 ? static_cast<double>(done) / 1e6 / secs : 0.0);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
  }

 private:
  const std::string name_;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_{};
};

void PrintRanges(const std::string& name, const RangeSet& ranges) {
  for (const ByteSpan& s : ranges.Spans()) {
    printf("%s: out of sync [%llu, +%llu)\n", name.c_str(),
           static_cast<unsigned long long>(s.offset), static_cast<unsigned long long>(s.length));
  }
}

std::unique_ptr<chunk::Chunk::Stub> VerifyStub(const std::string& address) {
  return chunk::Chunk::NewStub(NewChannel(address, Role::kMember));
}

// Which file holds a device block: every regular file's extent map on the
// pair, read from meta once (only when some block is damaged on both).
class ExtentOwners {
 public:
  ExtentOwners(MetaClient* meta, uint32_t pair) : meta_(meta), pair_(pair) {}

  // "file /a/b offset 8192", or why no file was found.
  std::string Describe(uint64_t dev_offset) {
    if (!loaded_) {
      loaded_ = true;
      error_ = Walk(1, "").ToString();
      if (error_ == "OK") error_.clear();
    }
    for (const Owner& o : owners_) {
      if (dev_offset >= o.dev_offset && dev_offset < o.dev_offset + o.length) {
        return "file " + o.path + " offset " + std::to_string(o.file_offset + dev_offset - o.dev_offset);
      }
    }
    return error_.empty() ? std::string("in no file's written extents")
                          : "file unknown (" + error_ + ")";
  }

 private:
  struct Owner {
    std::string path;
    uint64_t file_offset, dev_offset, length;
  };
  Status Walk(uint64_t dir, const std::string& path) {
    auto entries = meta_->ReadDirAll(dir);
    if (!entries.ok()) return entries.status();
    for (const meta::DirEntry& e : *entries) {
      if (e.name() == "." || e.name() == "..") continue;
      const std::string child = path + "/" + e.name();
      if (S_ISDIR(e.attr().mode())) {
        Status s = Walk(e.attr().ino(), child);
        if (!s.ok()) return s;
      } else if (S_ISREG(e.attr().mode()) && e.attr().size() > 0) {
        auto ext = meta_->GetExtents(e.attr().ino(), 0, e.attr().size());
        if (!ext.ok()) return ext.status();
        for (const meta::Extent& x : ext->extents()) {
          if (x.pair() == pair_ && x.written()) {
            owners_.push_back({child, x.file_offset(), x.dev_offset(), x.length()});
          }
        }
      }
    }
    return Status::OK();
  }

  MetaClient* const meta_;
  const uint32_t pair_;
  bool loaded_ = false;
  std::string error_;
  std::vector<Owner> owners_;
};

// Lists the damaged blocks the verifier found; true when none is damaged on
// both members.
bool PrintDamaged(const meta::Pair& p, const DamagedBlocks& damaged, MetaClient* meta) {
  for (int m = 0; m < 2; ++m) {
    for (const ByteSpan& s : damaged.only[m].Spans()) {
      printf("%s: member %s damaged [%llu, +%llu): does not match its checksum, member %s's "
             "copy does\n",
             p.name().c_str(), m == 0 ? "A" : "B", static_cast<unsigned long long>(s.offset),
             static_cast<unsigned long long>(s.length), m == 0 ? "B" : "A");
    }
  }
  if (damaged.both.empty()) return true;
  ExtentOwners owners(meta, p.id());
  for (const ByteSpan& s : damaged.both.Spans()) {
    for (uint64_t at = s.offset; at < s.end(); at += kBlockSize) {
      printf("%s: both copies damaged at device offset %llu: %s; not repaired\n",
             p.name().c_str(), static_cast<unsigned long long>(at), owners.Describe(at).c_str());
    }
  }
  return false;
}

// Verifies (and with `repair` mends) one pair; true when its members end
// identical and sound.
bool VerifyPair(const meta::Pair& p, const VerifyOptions& options, bool repair,
                MetaClient* meta) {
  auto a = VerifyStub(p.address_a());
  auto b = VerifyStub(p.address_b());
  ReplicaVerifier verifier(a.get(), b.get(), p.capacity(), options);
  VerifyProgressLine line(p.name());
  auto differ = verifier.Verify([&](uint64_t done, uint64_t total) { line.Update(done, total); });
  if (!differ.ok()) {
    fprintf(stderr, "\n");
    printf("%s: cannot verify: %s\n", p.name().c_str(), differ.status().ToString().c_str());
    return false;
  }
  const uint64_t bs = options.block_size;
  PrintRanges(p.name(), *differ);
  const DamagedBlocks damaged = verifier.damaged();
  const bool repairable = PrintDamaged(p, damaged, meta);
  printf("%s: %llu out-of-sync blocks of %llu (%.1f GiB checked); damaged: %llu on A, %llu on "
         "B, %llu on both\n",
         p.name().c_str(), static_cast<unsigned long long>((differ->bytes() + bs - 1) / bs),
         static_cast<unsigned long long>(verifier.blocks()),
         static_cast<double>(p.capacity()) / (1 << 30),
         static_cast<unsigned long long>(damaged.only[0].bytes() / bs),
         static_cast<unsigned long long>(damaged.only[1].bytes() / bs),
         static_cast<unsigned long long>(damaged.both.bytes() / bs));
  if (differ->empty()) return true;
  if (!repair) return false;
  RepairCounts counts;
  Status s = verifier.Repair(*differ, &counts);
  if (!s.ok()) {
    printf("%s: repair failed: %s\n", p.name().c_str(), s.ToString().c_str());
    return false;
  }
  auto left = verifier.Recheck(*differ);
  if (!left.ok()) {
    printf("%s: cannot verify the repair: %s\n", p.name().c_str(),
           left.status().ToString().c_str());
    return false;
  }
  PrintRanges(p.name(), *left);
  printf("%s: mended %llu damaged blocks of member A and %llu of member B from their peer, "
         "resynced %llu blocks from member A; %llu out-of-sync blocks left\n",
         p.name().c_str(), static_cast<unsigned long long>(counts.mended[0]),
         static_cast<unsigned long long>(counts.mended[1]),
         static_cast<unsigned long long>(counts.pushed),
         static_cast<unsigned long long>((left->bytes() + bs - 1) / bs));
  return left->empty() && repairable;
}

// The pairs PAIR names (a name or an id), or all of them; null after an
// error message (`rc` set).
std::optional<std::vector<meta::Pair>> ChoosePairs(MetaClient* meta, const std::string& command,
                                                   const std::string& pair_arg, int* rc) {
  auto pairs = meta->PairList();
  if (!pairs.ok()) {
    std::cerr << "scalefs " << command << ": " << pairs.status().ToString() << "\n";
    *rc = 1;
    return std::nullopt;
  }
  std::vector<meta::Pair> chosen;
  for (const meta::Pair& p : *pairs) {
    if (pair_arg.empty() || p.name() == pair_arg || std::to_string(p.id()) == pair_arg) {
      chosen.push_back(p);
    }
  }
  if (!pair_arg.empty() && chosen.empty()) {
    *rc = Usage((command + ": no pair named '" + pair_arg + "'\n").c_str());
    return std::nullopt;
  }
  return chosen;
}
}  // namespace

int RunVerify(const std::vector<std::string>& args, const std::string& meta_flag) {
  bool repair = false;
  VerifyOptions options;
  std::string pair_arg;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--repair") {
      repair = true;
    } else if (a == "--range-mib" || a.rfind("--range-mib=", 0) == 0) {
      std::string mib;
      if (a.size() > 11) {
        mib = a.substr(12);
      } else if (i + 1 < args.size()) {
        mib = args[++i];
      }
      char* end = nullptr;
      const unsigned long long n = strtoull(mib.c_str(), &end, 10);
      if (mib.empty() || *end != '\0' || n < 1 || n > 1024) {
        return Usage(("verify: --range-mib wants 1..1024, not '" + mib + "'\n").c_str());
      }
      options.range_bytes = n << 20;
    } else if (!a.empty() && a[0] == '-') {
      return Usage(("verify: unknown argument '" + a + "'\n").c_str());
    } else if (pair_arg.empty()) {
      pair_arg = a;
    } else {
      return Usage("verify takes at most one PAIR\n");
    }
  }
  auto meta = ConnectMeta(meta_flag, "verify");
  if (meta == nullptr) return 1;
  int rc = 0;
  auto chosen = ChoosePairs(meta.get(), "verify", pair_arg, &rc);
  if (!chosen) return rc;
  bool identical = true;
  for (const meta::Pair& p : *chosen) {
    identical = VerifyPair(p, options, repair, meta.get()) && identical;
  }
  return identical ? 0 : 1;
}

int RunScrub(const std::vector<std::string>& args, const std::string& meta_flag) {
  VerifyOptions options;
  options.written_only = true;
  std::string pair_arg;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--rate" || a.rfind("--rate=", 0) == 0) {
      const std::string text = a.size() > 6 ? a.substr(7) : (i + 1 < args.size() ? args[++i] : "");
      // Bytes per second, with an optional K, M or G (powers of 1024).
      char* end = nullptr;
      uint64_t rate = strtoull(text.c_str(), &end, 10);
      const std::string unit = end != nullptr ? end : "";
      const int shift = unit.empty() ? 0 : unit == "K" ? 10 : unit == "M" ? 20 : unit == "G" ? 30 : -1;
      if (text.empty() || end == text.c_str() || shift < 0 || rate == 0) {
        return Usage(("scrub: --rate wants bytes per second (e.g. 50M), not '" + text + "'\n").c_str());
      }
      options.rate = rate << shift;
    } else if (!a.empty() && a[0] == '-') {
      return Usage(("scrub: unknown argument '" + a + "'\n").c_str());
    } else if (pair_arg.empty()) {
      pair_arg = a;
    } else {
      return Usage("scrub takes at most one PAIR\n");
    }
  }
  auto meta = ConnectMeta(meta_flag, "scrub");
  if (meta == nullptr) return 1;
  int rc = 0;
  auto chosen = ChoosePairs(meta.get(), "scrub", pair_arg, &rc);
  if (!chosen) return rc;
  bool clean = true;
  for (const meta::Pair& p : *chosen) clean = VerifyPair(p, options, true, meta.get()) && clean;
  printf("scrub: %s\n", clean ? "clean" : "damage left (see above)");
  return clean ? 0 : 1;
}

}  // namespace scalefs
