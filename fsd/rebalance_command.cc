// The mover: `scalefs rebalance` moves extents between pairs until every
// pair's used fraction is within 5 points of the mean (a draining pair's
// target is 0), one file at a time, by meta's move protocol
// (meta/rebalance_ops.cc): MoveBegin gives a file's spans on the fullest
// pair and space on the emptiest, this command copies the written spans
// (read from either member of the source, so a pair with a member down can
// still be drained), reads every block's CRC32C back from *both* target
// members and compares them with the source bytes', and MoveCommit switches
// the map. A move whose copy cannot be verified is abandoned (meta frees its
// target space later) and its file tried again later.
//
// It is the only process that carries the data of a move, so it is what
// resumes: started again after an interruption (SIGKILL of it, or a target
// member down for longer than it retries), it starts over from meta's
// current state; a meta restart it rides out by itself (its calls are sent
// again for a minute, and meta abandoned the move in flight, which it
// retries).
#include "fsd/rebalance_command.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <iostream>
#include <map>
#include <thread>

#include <gflags/gflags.h>
#include <glog/logging.h>

#include "common/block_crc.h"
#include "common/layout.h"
#include "common/rpc_channel.h"
#include "common/rpc_status.h"
#include "fsd/admin_commands.h"
#include "fsd/meta_client.h"
#include "fsd/pair_client.h"

DECLARE_int32(io_timeout_ms);
DECLARE_int32(io_retry_ms);

namespace scalefs {

namespace {

const char kRebalanceUsage[] =
    "usage: scalefs rebalance [--rate N] [--dry-run] [--stop]\n"
    "  Moves extents between storage pairs, online, until every pair's used fraction is\n"
    "  within 5 points of the mean and draining pairs (scalefs pair drain) are empty.\n"
    "  A file is moved only while no client has it open; an open during its move\n"
    "  cancels that move (the file stays where it was and is tried again later). Each\n"
    "  copy is read back from both members of the target pair and compared by CRC32C\n"
    "  before meta switches the file's map in one change; only then is the old space\n"
    "  freed. Progress shows here and in scalefs status.\n"
    "  --rate N    at most N bytes/s copied (K, M, G suffixes; default unlimited)\n"
    "  --dry-run   print what would move, move nothing\n"
    "  --stop      ask a running rebalance to stop after its current file\n"
    "  Interrupted (killed, or a target member down too long), run it again: it starts\n"
    "  from where meta's maps are. A meta restart it rides out by itself.\n"
    "  Exit status: 0 balanced (or stopped), 1 error, 2 usage.\n";

int Usage(const std::string& what) {
  std::cerr << what << kRebalanceUsage;
  return 2;
}

// A move's copy is made within this of MoveBegin, or given up: meta frees
// the space of an abandoned move 30 s after it (kMoveQuarantineNs), and a
// write of this process gives up within 3 s (io_timeout_ms, io_retry_ms are
// capped below), so no late write lands in space another file got.
constexpr auto kMoverWindow = std::chrono::seconds(5);
constexpr uint64_t kCopyPiece = 1 << 20;
constexpr uint64_t kMaxMoveBytes = 16 << 20;
// Gives up when nothing could be moved for this long.
constexpr auto kStallLimit = std::chrono::seconds(90);
constexpr double kTolerance = 0.05;

int64_t WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t Used(const meta::Pair& p) { return p.capacity() - std::min(p.capacity(), p.free()); }
double Fraction(const meta::Pair& p) {
  return p.capacity() == 0 ? 0 : static_cast<double>(Used(p)) / static_cast<double>(p.capacity());
}

// What is left to do: the mean used fraction over the pairs that take data,
// each pair's excess (bytes above it; all of a draining pair's) and deficit.
struct Plan {
  double mean = 0;
  uint64_t to_move = 0;
  bool balanced = true;
  int from = -1, to = -1;  // indexes into pairs
  uint64_t amount = 0;     // bytes from -> to in this step
  std::string draining;
};

Plan MakePlan(const std::vector<meta::Pair>& pairs) {
  Plan plan;
  uint64_t used = 0, cap = 0;
  for (const meta::Pair& p : pairs) {
    used += Used(p);
    if (!p.draining()) cap += p.capacity();
    if (p.draining()) plan.draining += (plan.draining.empty() ? "" : ",") + p.name();
  }
  if (cap == 0) return plan;
  plan.mean = static_cast<double>(used) / static_cast<double>(cap);
  double worst_excess = 0, worst_deficit = 0;
  uint64_t excess_bytes = 0, deficit_bytes = 0;
  for (size_t i = 0; i < pairs.size(); i++) {
    const meta::Pair& p = pairs[i];
    const double target = p.draining() ? 0 : plan.mean;
    const double f = Fraction(p);
    const double target_bytes = target * static_cast<double>(p.capacity());
    if (p.draining() ? Used(p) > 0 : std::fabs(f - target) > kTolerance) plan.balanced = false;
    if (static_cast<double>(Used(p)) > target_bytes) {
      const uint64_t ex = static_cast<uint64_t>(static_cast<double>(Used(p)) - target_bytes);
      plan.to_move += ex;
      // A draining pair first, then the one furthest above the mean.
      const double score = p.draining() ? 2 + f : f - target;
      if (score > worst_excess) {
        worst_excess = score;
        plan.from = static_cast<int>(i);
        excess_bytes = ex;
      }
    } else if (!p.draining()) {
      const double score = target - f;
      if (score > worst_deficit || plan.to < 0) {
        worst_deficit = score;
        plan.to = static_cast<int>(i);
        deficit_bytes = static_cast<uint64_t>(target_bytes - static_cast<double>(Used(p)));
      }
    }
  }
  if (plan.from >= 0 && plan.to >= 0) {
    plan.amount = std::min(excess_bytes, std::max<uint64_t>(deficit_bytes, kBlockSize));
    if (pairs[plan.from].draining()) plan.amount = excess_bytes;
    plan.amount = std::min(plan.amount, pairs[plan.to].free());
  }
  return plan;
}

std::string Percent(double f) {
  char buf[16];
  snprintf(buf, sizeof buf, "%.1f%%", f * 100);
  return buf;
}

void PrintPlan(const std::vector<meta::Pair>& pairs, const Plan& plan) {
  printf("%-12s %10s %10s %8s %8s\n", "PAIR", "CAPACITY", "USED", "USED%", "TARGET");
  for (const meta::Pair& p : pairs) {
    printf("%-12s %10s %10s %8s %8s%s\n", p.name().c_str(), HumanBytes(p.capacity()).c_str(),
           HumanBytes(Used(p)).c_str(), Percent(Fraction(p)).c_str(),
           Percent(p.draining() ? 0 : plan.mean).c_str(), p.draining() ? "  draining" : "");
  }
  printf("to move: %s; %s\n", HumanBytes(plan.to_move).c_str(),
         plan.balanced ? "balanced (every pair within 5 points of the mean)" : "not balanced");
}

// Copies one move's written spans and verifies them on both target members.
class MoveCopier {
 public:
  MoveCopier(ChunkPool* pool, const std::map<uint32_t, meta::Pair>& pairs, uint64_t rate)
      : pool_(pool), pairs_(pairs), rate_(rate) {}

  Status Copy(const meta::MoveRecord& move, std::chrono::steady_clock::time_point begun,
              uint64_t* copied) {
    uint32_t target = 0;
    for (const meta::MoveSpan& sp : move.spans()) {
      target = sp.to_pair();
      if (!sp.written()) continue;  // unwritten reads as zeros wherever it is
      std::vector<uint32_t> crcs;
      for (uint64_t done = 0; done < sp.length(); done += kCopyPiece) {
        const uint64_t n = std::min(kCopyPiece, sp.length() - done);
        std::string data;
        Status s = pool_->Read(sp.from_pair(), sp.from_dev_offset() + done, n, &data);
        if (!s.ok()) return s.Annotate("read of the source");
        if (data.size() != n) data.resize(n, '\0');
        for (uint64_t b = 0; b < n; b += kBlockSize) {
          crcs.push_back(Crc32c(std::string_view(data).substr(b, kBlockSize)));
        }
        if (std::chrono::steady_clock::now() - begun > kMoverWindow) {
          return Status::Unavailable("copy slower than the mover's window of 5 s");
        }
        s = pool_->Write(sp.to_pair(), sp.to_dev_offset() + done, std::move(data));
        if (!s.ok()) return s.Annotate("write to the target");
        *copied += n;
        Throttle(n);
      }
      Status s = Verify(sp, crcs);
      if (!s.ok()) return s;
    }
    if (target != 0) return pool_->Flush(target);
    return Status::OK();
  }

 private:
  // Every block as both target members hold it, against the source's CRC.
  Status Verify(const meta::MoveSpan& sp, const std::vector<uint32_t>& crcs) {
    auto it = pairs_.find(sp.to_pair());
    if (it == pairs_.end()) return Status::NotFound("pair " + std::to_string(sp.to_pair()));
    const std::string addrs[2] = {it->second.address_a(), it->second.address_b()};
    for (int m = 0; m < 2; m++) {
      if (!stubs_.count(addrs[m])) {
        stubs_[addrs[m]] = chunk::Chunk::NewStub(NewChannel(addrs[m], Role::kMember));
      }
      for (uint64_t done = 0; done < sp.length(); done += 16 * kCopyPiece) {
        const uint64_t n = std::min(16 * kCopyPiece, sp.length() - done);
        chunk::ChecksumRequest req;
        req.set_offset(sp.to_dev_offset() + done);
        req.set_length(n);
        req.set_block_size(kBlockSize);
        req.set_stored(true);
        chunk::ChecksumReply rep;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        Status s = FromGrpc(stubs_[addrs[m]]->Checksum(&ctx, req, &rep),
                            "Checksum of member " + addrs[m]);
        if (!s.ok()) return s;
        const uint64_t first = done / kBlockSize, blocks = n / kBlockSize;
        if (static_cast<uint64_t>(rep.stored_crc32c_size()) != blocks ||
            static_cast<uint64_t>(rep.state_size()) != blocks) {
          return Status::IoError("member " + addrs[m] + " answered a short Checksum");
        }
        for (uint64_t b = 0; b < blocks; b++) {
          if (rep.state(b) != chunk::GOOD || rep.stored_crc32c(b) != crcs[first + b]) {
            return Status::Corrupt("copy differs on member " + addrs[m] + " at device offset " +
                                   std::to_string(sp.to_dev_offset() + (first + b) * kBlockSize));
          }
        }
      }
    }
    return Status::OK();
  }

  void Throttle(uint64_t n) {
    if (rate_ == 0) return;
    sent_ += n;
    const auto due = start_ + std::chrono::microseconds(sent_ * 1'000'000 / rate_);
    std::this_thread::sleep_until(due);
  }

  ChunkPool* const pool_;
  const std::map<uint32_t, meta::Pair>& pairs_;
  const uint64_t rate_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  uint64_t sent_ = 0;
  std::map<std::string, std::unique_ptr<chunk::Chunk::Stub>> stubs_;
};

// The loop of moves; `what` names the command in messages.
int Mover(MetaClient* meta, uint64_t rate, const std::string& what) {
  // Every chunk request of a move ends within a few seconds, tried on both
  // members (a mount's may go on for a minute): see kMoverWindow.
  FLAGS_io_timeout_ms = std::min(FLAGS_io_timeout_ms, 3000);
  FLAGS_io_retry_ms = std::min(FLAGS_io_retry_ms, 3000);
  ChunkPool pool(meta);
  auto pairs = meta->PairList();
  if (!pairs.ok()) {
    std::cerr << "scalefs " << what << ": " << pairs.status().ToString() << "\n";
    return 1;
  }
  Plan plan = MakePlan(*pairs);
  const uint64_t total = plan.to_move;
  meta::RebalanceProgress progress;
  progress.set_running(true);
  progress.set_started_ns(WallNs());
  progress.set_bytes_to_move(total);
  progress.set_eta_s(-1);
  progress.set_draining(plan.draining);
  auto reported = meta->RebalanceReport(progress);
  // A run killed a moment ago still holds meta's mover lease (10 s after its
  // last report): wait that out; a live one keeps it and this run gives up.
  for (int i = 0; i < 12 && !reported.ok() && reported.status().code() == Status::Code::kBusy; i++) {
    if (i == 0) {
      printf("%s: another rebalance reported lately; waiting up to 12 s for its lease to end\n",
             what.c_str());
      fflush(stdout);
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    reported = meta->RebalanceReport(progress);
  }
  if (!reported.ok()) {
    std::cerr << "scalefs " << what << ": " << reported.status().message() << "\n";
    return 1;
  }
  // Moves a killed run left behind: their space comes back 30 s from now.
  Status s = meta->MoveAbandon(0, /*all=*/true);
  if (!s.ok()) LOG(WARNING) << "abandoning old moves: " << s.ToString();
  const bool tty = isatty(STDOUT_FILENO);
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start, last_progress = start;
  auto last_moved_at = start;
  uint64_t moved = 0, copied = 0, abandoned = 0;
  std::map<uint32_t, uint64_t> cursor;  // per source pair: the last file looked at
  int exit_code = 0;
  bool stopped = false;
  auto report = [&](bool running) {
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate_now = secs > 0 ? static_cast<double>(copied) / secs : 0;
    const uint64_t left = total > moved ? total - moved : 0;
    progress.set_running(running);
    progress.set_bytes_moved(moved);
    progress.set_bytes_to_move(std::max(total, moved));
    progress.set_rate_bytes_per_s(rate_now);
    progress.set_eta_s(rate_now > 0 ? static_cast<int64_t>(static_cast<double>(left) / rate_now) : -1);
    progress.set_moves_abandoned(abandoned);
    auto r = meta->RebalanceReport(progress);
    if (r.ok() && r->stop_requested()) stopped = true;
    char line[200];
    snprintf(line, sizeof line, "moved %s of %s, %s/s, %s left, %llu moves abandoned",
             HumanBytes(moved).c_str(), HumanBytes(std::max(total, moved)).c_str(),
             HumanBytes(static_cast<uint64_t>(rate_now)).c_str(),
             progress.eta_s() < 0 ? "?" : (std::to_string(progress.eta_s()) + " s").c_str(),
             static_cast<unsigned long long>(abandoned));
    if (tty) {
      printf("\r%-100s", line);
    } else {
      printf("%s\n", line);
    }
    fflush(stdout);
  };
  // The target space of moves abandoned here, which meta frees 30 s after
  // (rebalance_ops.cc): counted free already, so the plan is the one that
  // holds once it is.
  struct Quarantined {
    std::chrono::steady_clock::time_point at;
    uint32_t pair;
    uint64_t bytes;
  };
  std::deque<Quarantined> quarantined;
  auto quarantine = [&](const meta::MoveRecord& m) {
    for (const meta::MoveSpan& sp : m.spans()) {
      quarantined.push_back({std::chrono::steady_clock::now(), sp.to_pair(), sp.length()});
    }
  };
  while (!stopped) {
    pairs = meta->PairList();
    if (!pairs.ok()) {
      std::cerr << "scalefs " << what << ": " << pairs.status().ToString() << "\n";
      exit_code = 1;
      break;
    }
    while (!quarantined.empty() &&
           std::chrono::steady_clock::now() - quarantined.front().at > std::chrono::seconds(30)) {
      quarantined.pop_front();
    }
    for (const Quarantined& q : quarantined) {
      for (meta::Pair& p : *pairs) {
        if (p.id() == q.pair) p.set_free(std::min(p.capacity(), p.free() + q.bytes));
      }
    }
    plan = MakePlan(*pairs);
    if (plan.balanced) break;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_moved_at > kStallLimit) {
      std::cerr << "\nscalefs " << what << ": nothing could be moved for "
                << std::chrono::duration_cast<std::chrono::seconds>(kStallLimit).count()
                << " s (files held open, a target member down?); run it again\n";
      exit_code = 1;
      break;
    }
    if (now - last_report >= std::chrono::seconds(1)) {
      report(true);
      last_report = now;
    }
    if (plan.from < 0 || plan.to < 0 || plan.amount < kBlockSize) {
      // What is left is held by abandoned moves (freed within 30 s).
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    const meta::Pair& from = (*pairs)[plan.from];
    const meta::Pair& to = (*pairs)[plan.to];
    meta::MoveBeginRequest req;
    req.set_from_pair(from.id());
    req.set_to_pair(to.id());
    uint64_t budget = std::min(plan.amount, kMaxMoveBytes);
    if (rate != 0) budget = std::min<uint64_t>(budget, std::max<uint64_t>(rate * 2, kBlockSize));
    req.set_max_bytes(RoundUp(budget, kBlockSize));
    req.set_after_ino(cursor[from.id()]);
    auto begun = meta->MoveBegin(req);
    if (!begun.ok()) {
      LOG(WARNING) << "MoveBegin " << from.name() << " -> " << to.name() << ": "
                   << begun.status().ToString();
      if (begun.status().code() != Status::Code::kUnavailable &&
          begun.status().code() != Status::Code::kNoSpace) {
        std::cerr << "\nscalefs " << what << ": " << begun.status().ToString() << "\n";
        exit_code = 1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (!begun->found()) {
      // Every file with data there is open or moving: ask again soon, a
      // file opened and closed all the time is unopened only for moments.
      cursor[from.id()] = 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(begun->skipped_busy() > 0 ? 10 : 200));
      continue;
    }
    const meta::MoveRecord& move = begun->move();
    cursor[from.id()] = move.ino();
    std::map<uint32_t, meta::Pair> by_id;
    for (const meta::Pair& p : *pairs) by_id[p.id()] = p;
    MoveCopier copier(&pool, by_id, rate);
    uint64_t bytes_copied = 0;
    s = copier.Copy(move, std::chrono::steady_clock::now(), &bytes_copied);
    copied += bytes_copied;
    if (!s.ok()) {
      LOG(WARNING) << "move of inode " << move.ino() << " from " << from.name() << " to "
                   << to.name() << " not verified, abandoned: " << s.ToString();
      abandoned++;
      quarantine(move);
      Status a = meta->MoveAbandon(move.ino(), false);
      if (!a.ok()) LOG(WARNING) << "MoveAbandon: " << a.ToString();
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    auto committed = meta->MoveCommit(move.ino());
    if (!committed.ok()) {
      LOG(WARNING) << "MoveCommit of inode " << move.ino() << ": " << committed.status().ToString();
      abandoned++;
      quarantine(move);
      continue;
    }
    if (!committed->switched()) {
      VLOG(1) << "move of inode " << move.ino() << " abandoned: " << committed->reason();
      abandoned++;
      quarantine(move);
      continue;
    }
    moved += committed->bytes();
    last_moved_at = std::chrono::steady_clock::now();
    if (last_moved_at - last_progress >= std::chrono::seconds(tty ? 1 : 2)) {
      report(true);
      last_progress = last_report = last_moved_at;
    }
  }
  report(false);
  if (tty) printf("\n");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (stopped) {
    printf("%s stopped at request: moved %s in %.1f s\n", what.c_str(), HumanBytes(moved).c_str(),
           secs);
    return 0;
  }
  if (exit_code == 0) {
    printf("%s done: moved %s in %.1f s (%s/s); every pair within 5 points of the mean (%s)\n",
           what.c_str(), HumanBytes(moved).c_str(), secs,
           HumanBytes(secs > 0 ? static_cast<uint64_t>(static_cast<double>(copied) / secs) : 0).c_str(),
           Percent(plan.mean).c_str());
  }
  return exit_code;
}

}  // namespace

int RunRebalance(const std::vector<std::string>& args, const std::string& meta_flag) {
  uint64_t rate = 0;
  bool dry_run = false, stop = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kRebalanceUsage;
      return 0;
    }
    if (a == "--rate" || a.rfind("--rate=", 0) == 0) {
      const std::string text = a.size() > 6 ? a.substr(7) : (i + 1 < args.size() ? args[++i] : "");
      char* end = nullptr;
      const uint64_t n = strtoull(text.c_str(), &end, 10);
      const std::string unit = end != nullptr ? end : "";
      const int shift = unit.empty() ? 0 : unit == "K" ? 10 : unit == "M" ? 20 : unit == "G" ? 30 : -1;
      if (text.empty() || end == text.c_str() || shift < 0 || n == 0) {
        return Usage("rebalance: --rate wants bytes per second (e.g. 50M), not '" + text + "'\n");
      }
      rate = n << shift;
    } else if (a == "--dry-run") {
      dry_run = true;
    } else if (a == "--stop") {
      stop = true;
    } else {
      return Usage("rebalance: unknown argument '" + a + "'\n");
    }
  }
  if (stop && dry_run) return Usage("rebalance: --stop and --dry-run exclude each other\n");
  // A minute per call: a meta restart is ridden out.
  auto meta = ConnectMeta(meta_flag, "rebalance", 60000);
  if (meta == nullptr) return 1;
  if (stop) {
    Status s = meta->RebalanceStop();
    if (!s.ok()) {
      std::cerr << "scalefs rebalance --stop: " << s.ToString() << "\n";
      return 1;
    }
    auto p = meta->RebalanceStatus();
    printf("%s\n", p.ok() && p->running() ? "asked the running rebalance to stop after its current file"
                                         : "no rebalance is running");
    return 0;
  }
  if (dry_run) {
    auto pairs = meta->PairList();
    if (!pairs.ok()) {
      std::cerr << "scalefs rebalance: " << pairs.status().ToString() << "\n";
      return 1;
    }
    PrintPlan(*pairs, MakePlan(*pairs));
    return 0;
  }
  return Mover(meta.get(), rate, "rebalance");
}

int RunPairDrain(const std::vector<std::string>& args, const std::string& meta_flag) {
  if (args.size() != 1) return Usage("pair drain takes NAME\n");
  auto meta = ConnectMeta(meta_flag, "pair drain", 60000);
  if (meta == nullptr) return 1;
  auto p = meta->PairDrain(args[0]);
  if (!p.ok()) {
    std::cerr << "scalefs pair drain: " << p.status().ToString() << "\n";
    return 1;
  }
  printf("pair %s draining: no new allocations there; moving its %s off\n", p->name().c_str(),
         HumanBytes(Used(*p)).c_str());
  fflush(stdout);
  const int rc = Mover(meta.get(), 0, "drain of " + p->name());
  if (rc == 0) printf("pair %s is empty: scalefs pair remove %s\n", p->name().c_str(), p->name().c_str());
  return rc;
}

int RunPairRemove(const std::vector<std::string>& args, const std::string& meta_flag) {
  if (args.size() != 1) return Usage("pair remove takes NAME\n");
  auto meta = ConnectMeta(meta_flag, "pair remove");
  if (meta == nullptr) return 1;
  Status s = meta->PairRemove(args[0]);
  if (!s.ok()) {
    std::cerr << "scalefs pair remove: " << s.ToString() << "\n";
    return 1;
  }
  printf("removed pair %s\n", args[0].c_str());
  return 0;
}

}  // namespace scalefs
