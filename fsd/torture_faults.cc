#include "fsd/torture_faults.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fsd/admin_commands.h"
#include "fsd/pair_status.h"

namespace scalefs::torture {

const char kFaultsUsage[] =
    "  --faults random | AT:KIND:TARGET[:SECONDS],...  faults while it runs, in the cluster\n"
    "  whose state folder --cluster names ($SCALEFS_STATE): kill (SIGKILL, then restarted by\n"
    "  the cluster's tooling) or stop (SIGSTOP, SIGCONT) of meta, a member or clientK (the\n"
    "  client of the K-th MOUNT given; before its kill, the processes on that mount fsync and\n"
    "  wait, the others keep off it, until it is mounted again); with deploy/netns\n"
    "  also cut:A-B and isolate:MEMBER, delay:A-B (each packet held 200..300 ms both ways,\n"
    "  so they reorder) and loss:A-B (10% both ways), healed after SECONDS (3); AT:grow adds\n"
    "  a pair and runs scalefs rebalance onto it (with ballast files to move); AT:fill writes\n"
    "  ballast until ENOSPC, keeps it full 3 s, removes it (a write, close, fsync or\n"
    "  fallocate may then say ENOSPC; its file is unlinked, its content being unknown). One\n"
    "  at a time, each once the cluster is healthy again; no operation may fail meanwhile.\n";

namespace {

constexpr double kHealthyWithin = 120;
constexpr long kFuseMagic = 0x65735546;
// A random plan grows the cluster this often at most (each adds two devices).
constexpr int kMaxRandomGrows = 2;
// What a grow may take, for the plan (a random one injects none that would
// not end within the run).
constexpr double kGrowSeconds = 90;
// How long a fill holds the file system full.
constexpr double kFillHoldSeconds = 3;
// delay:A-B holds each packet kDelayMs plus 0..kJitterMs of its own, both
// ways (a later packet may overtake an earlier one); loss:A-B drops
// kLossPercent of them, both ways. As tc netem's delay, jitter and loss.
constexpr int kDelayMs = 200;
constexpr int kJitterMs = 100;
constexpr int kLossPercent = 10;

// Faults on a link between two nodes: AT:KIND:A-B.
bool IsLinkFault(const std::string& kind) {
  return kind == "cut" || kind == "delay" || kind == "loss";
}

bool IsMember(const std::string& n) {
  return n.size() == 6 && n.rfind("pair", 0) == 0 && isdigit(static_cast<unsigned char>(n[4])) &&
         (n[5] == 'a' || n[5] == 'b');
}
bool IsClient(const std::string& n) {
  return n.size() > 6 && n.rfind("client", 0) == 0 &&
         n.find_first_not_of("0123456789", 6) == std::string::npos;
}
bool IsNode(const std::string& n) { return n == "meta" || IsMember(n) || IsClient(n); }

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

std::string Describe(const Fault& f) {
  if (IsLinkFault(f.kind)) return f.kind + " " + f.target + "-" + f.other;
  if (f.kind == "grow" || f.kind == "fill") return f.kind;
  return f.kind + " " + f.target;
}

}  // namespace

std::string FaultInjector::Seconds(double s) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

Result<FaultPlan> ParseFaultPlan(const std::string& text) {
  FaultPlan plan;
  plan.text = text;
  if (text == "random") {
    plan.random = true;
    return plan;
  }
  for (const std::string& item : Split(text, ',')) {
    const std::vector<std::string> p = Split(item, ':');
    const std::string bad = "--faults: '" + item + "' is not AT:KIND:TARGET[:SECONDS] ";
    const bool grow = p.size() == 2 && p[1] == "grow";
    const bool fill = p.size() == 2 && p[1] == "fill";
    if (!grow && !fill && (p.size() < 3 || p.size() > 4)) {
      return Status::Invalid(bad + "(or AT:grow, AT:fill, or 'random')");
    }
    Fault f;
    char* end = nullptr;
    f.at = strtod(p[0].c_str(), &end);
    if (p[0].empty() || *end != '\0' || !(f.at >= 0)) return Status::Invalid(bad + "(AT: seconds)");
    if (p.size() == 4) {
      f.seconds = strtod(p[3].c_str(), &end);
      if (p[3].empty() || *end != '\0' || !(f.seconds > 0 && f.seconds <= 600)) {
        return Status::Invalid(bad + "(SECONDS: 0..600)");
      }
    }
    f.kind = p[1];
    if (grow) {
      f.seconds = kGrowSeconds;
    } else if (fill) {
      f.seconds = kFillHoldSeconds;
    } else if (f.kind == "grow" || f.kind == "fill") {
      return Status::Invalid(bad + "(" + f.kind + " takes no TARGET: AT:" + f.kind + ")");
    } else if (f.kind == "kill" || f.kind == "stop") {
      f.target = p[2];
      if (f.target != "meta" && !IsMember(f.target) && !IsClient(f.target)) {
        return Status::Invalid(bad + "(kill and stop take meta, a member, pairKa or pairKb, " +
                               "or clientK)");
      }
    } else if (f.kind == "isolate") {
      f.target = p[2];
      if (!IsMember(f.target)) return Status::Invalid(bad + "(isolate takes a member)");
    } else if (IsLinkFault(f.kind)) {
      const size_t dash = p[2].find('-');
      f.target = p[2].substr(0, dash);
      f.other = dash == std::string::npos ? "" : p[2].substr(dash + 1);
      if (!IsNode(f.target) || !IsNode(f.other) || f.target == f.other) {
        return Status::Invalid(bad + "(" + f.kind +
                               " takes A-B: meta, pairKa, pairKb or clientK)");
      }
    } else {
      return Status::Invalid(bad +
                             "(KIND: kill, stop, cut, delay, loss, isolate, grow or fill)");
    }
    if (!plan.faults.empty() && f.at < plan.faults.back().at) {
      return Status::Invalid("--faults: the schedule is not in time order at '" + item + "'");
    }
    plan.faults.push_back(f);
  }
  if (plan.faults.empty()) return Status::Invalid("--faults: an empty schedule");
  return plan;
}

FaultInjector::FaultInjector(FaultPlan plan, std::string cluster_dir, std::string meta_flag,
                             uint64_t seed, std::string ballast_dir,
                             std::vector<std::string> mounts)
    : plan_(std::move(plan)),
      dir_(std::move(cluster_dir)),
      meta_flag_(std::move(meta_flag)),
      ballast_dir_(std::move(ballast_dir)),
      mounts_(std::move(mounts)),
      rng_(seed ^ 0x5ca1ef5) {}

FaultInjector::~FaultInjector() {
  if (thread_.joinable()) Stop();
}

Status FaultInjector::Tool(const std::string& args) {
  // Its output goes to the cluster's log folder; the tail comes back on failure.
  const std::string log = dir_ + "/log/torture-faults.log";
  const std::string cmd = dir_ + "/cluster " + args + " >>" + log + " 2>&1";
  const int rc = system(cmd.c_str());
  if (rc == 0) return Status::OK();
  std::ifstream in(log);
  std::string line, tail;
  while (std::getline(in, line)) tail = line;
  return Status::IoError("'cluster " + args + "' failed (status " +
                         std::to_string(WIFEXITED(rc) ? WEXITSTATUS(rc) : rc) + "): " + tail +
                         " (see " + log + ")");
}

Status FaultInjector::Check() {
  FILE* p = popen((dir_ + "/cluster kind 2>/dev/null").c_str(), "r");
  if (p == nullptr) return Status::FromErrno(errno, "running " + dir_ + "/cluster");
  char buf[64] = {0};
  if (fgets(buf, sizeof buf, p) == nullptr) buf[0] = '\0';
  const int rc = pclose(p);
  kind_ = std::string(buf).substr(0, std::string(buf).find('\n'));
  if (rc != 0 || (kind_ != "local" && kind_ != "netns")) {
    return Status::Invalid("--faults needs a cluster started by deploy/up or deploy/netns: " +
                           dir_ + "/cluster is missing or does not say its kind (--cluster " +
                           "names the state folder)");
  }
  for (const Fault& f : plan_.faults) {
    if ((IsLinkFault(f.kind) || f.kind == "isolate") && kind_ != "netns") {
      return Status::Invalid("--faults: " + Describe(f) +
                             " needs the namespace cluster (deploy/netns); " + dir_ +
                             " is a local one");
    }
    for (const std::string& n : {f.target, f.other}) {
      if ((n == "meta" || IsMember(n)) && access((dir_ + "/run/" + n + ".pid").c_str(), R_OK) != 0) {
        return Status::Invalid("--faults: the cluster in " + dir_ + " has no " + n);
      }
    }
    if (IsClient(f.target) && (f.kind == "stop" || f.kind == "kill")) {
      auto pid = ClientPid(f.target);
      if (!pid.ok()) return Status::Invalid("--faults: " + pid.status().message());
    }
  }
  return Status::OK();
}

double FaultInjector::Now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
             .count() -
         start_;
}

void FaultInjector::Log(const std::string& line) {
  const std::string l = "torture: fault " + Seconds(Now()) + ": " + line;
  {
    std::lock_guard lock(mu_);
    log_.push_back(l);
  }
  printf("%s\n", l.c_str());
  fflush(stdout);
}

void FaultInjector::AddFailure(const std::string& what) {
  Log("FAILED: " + what);
  std::lock_guard lock(mu_);
  failures_.push_back("torture: FAILED check 'faults': " + what + "\n");
}

bool FaultInjector::Sleep(double seconds) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return stop_; });
}

Result<long> FaultInjector::ClientPid(const std::string& name) const {
  const size_t k = std::stoul(name.substr(6));
  if (k >= mounts_.size()) {
    return Status::NotFound(name + ": torture was given " + std::to_string(mounts_.size()) +
                            " mounts (clientK is the client of the K-th, from 0)");
  }
  // The mount's own process: argv "scalefs mount META MOUNTPOINT ...".
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = e.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline");
    std::vector<std::string> args;
    for (std::string a; std::getline(in, a, '\0');) args.push_back(a);
    if (args.size() >= 4 && std::filesystem::path(args[0]).filename() == "scalefs" &&
        args[1] == "mount" && args[3] == mounts_[k]) {
      return std::stol(pid);
    }
  }
  return Status::NotFound(name + ": no scalefs mount process serves " + mounts_[k]);
}

Status FaultInjector::Signal(const std::string& name, int sig) {
  long pid = 0;
  if (IsClient(name)) {
    auto found = ClientPid(name);
    if (!found.ok()) return found.status();
    pid = *found;
  } else {
    std::ifstream in(dir_ + "/run/" + name + ".pid");
    if (!(in >> pid) || pid <= 1) return Status::NotFound("no pid of " + name + " in " + dir_ + "/run");
  }
  std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
  std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
  if (args.find("scalefs") == std::string::npos) {
    return Status::NotFound(name + " (pid " + std::to_string(pid) + ") is not running");
  }
  if (kill(static_cast<pid_t>(pid), sig) != 0) {
    return Status::FromErrno(errno, "signal " + std::to_string(sig) + " to " + name);
  }
  return Status::OK();
}

Status FaultInjector::WaitHealthy(double limit_seconds) {
  const double until = Now() + limit_seconds;
  std::string why = "no answer yet";
  while (Now() < until) {
    std::unique_ptr<MetaClient> meta = ConnectMeta(meta_flag_, "torture --faults", 3000);
    if (meta) {
      auto views = GatherPairViews(meta.get(), 2000);
      if (views.ok()) {
        why.clear();
        for (const PairView& v : *views) {
          if (!PairHealthy(v)) why += (why.empty() ? "" : ", ") + v.pair.name() + " not healthy";
        }
        if (why.empty()) return Status::OK();
      } else {
        why = views.status().ToString();
      }
    } else {
      why = "meta does not answer";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return Status::Unavailable("cluster not healthy within " + Seconds(limit_seconds) + ": " + why);
}

Fault FaultInjector::Draw() {
  std::vector<std::string> members;
  for (int k = 0; k < 16; ++k) {
    for (char m : {'a', 'b'}) {
      const std::string n = "pair" + std::to_string(k) + m;
      if (access((dir_ + "/run/" + n + ".pid").c_str(), R_OK) == 0) members.push_back(n);
    }
  }
  auto pick = [&](const std::vector<std::string>& v) { return v[rng_() % v.size()]; };
  Fault f;
  f.seconds = 2 + static_cast<double>(rng_() % 41) / 10;  // 2..6 s
  const std::string member = pick(members);
  std::vector<std::string> kinds = {"kill-member", "kill-member", "stop-member", "kill-meta",
                                    "stop-meta", "stop-client", "kill-client"};
  if (kind_ == "netns") {
    for (const char* k : {"cut-peer", "cut-peer", "cut-meta", "isolate", "cut-client",
                          "delay-peer", "delay-meta", "delay-client", "loss-peer",
                          "loss-client"}) {
      kinds.push_back(k);
    }
  }
  if (grown_ < kMaxRandomGrows) kinds.push_back("grow");
  kinds.push_back("fill");
  const std::string k = pick(kinds);
  if (k == "grow") {
    f.kind = "grow";
    f.seconds = kGrowSeconds;
  } else if (k == "fill") {
    f.kind = "fill";
    f.seconds = kFillHoldSeconds;
  } else if (k == "kill-member" || k == "stop-member") {
    f.kind = k.substr(0, 4);
    f.target = member;
  } else if (k == "stop-client" || k == "kill-client") {
    f.kind = k.substr(0, 4);
    f.target = "client" + std::to_string(rng_() % std::max<size_t>(1, mounts_.size()));
  } else if (k == "kill-meta" || k == "stop-meta") {
    f.kind = k.substr(0, 4);
    f.target = "meta";
  } else if (k == "isolate") {
    f.kind = "isolate";
    f.target = member;
  } else {
    // A link: a pair's replication link, a member's to meta, or a client's
    // to meta (cut) or to meta or a member (delay, loss: its data path too).
    const size_t dash = k.find('-');
    const std::string link = k.substr(dash + 1);
    f.kind = k.substr(0, dash);
    if (link == "peer") {
      f.target = member;
      f.other = member.substr(0, 5) + (member[5] == 'a' ? "b" : "a");
    } else if (link == "meta") {
      f.target = member;
      f.other = "meta";
    } else {
      f.target = "client" + std::to_string(rng_() % std::max<size_t>(1, mounts_.size()));
      f.other = f.kind != "cut" && rng_() % 2 == 0 ? member : "meta";
    }
  }
  return f;
}

void FaultInjector::Count(const Fault& f) {
  injected_++;
  std::lock_guard lock(mu_);
  counts_[f.kind]++;
}

bool FaultInjector::KillClient(const Fault& f) {
  MountState& m = shared_->mounts[std::stoul(f.target.substr(6))];
  m.closed.store(1);
  // Its processes stop between operations with their writes fsynced, and
  // the others leave it: no acknowledged byte is in the client alone.
  const double until = Now() + kQuietWithin;
  while (m.parked.load() != m.active.load() || m.users.load() != 0) {
    if (Now() > until) {
      m.closed.store(0);
      AddFailure("kill " + f.target + ": its processes did not come to a stop within " +
                 Seconds(kQuietWithin));
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (Status s = Signal(f.target, SIGKILL); !s.ok()) {
    m.closed.store(0);
    AddFailure("injecting kill " + f.target + ": " + s.ToString());
    return false;
  }
  Count(f);
  Log("kill " + f.target + " for " + Seconds(f.seconds));
  Sleep(f.seconds);
  // The tooling detaches the dead mount and mounts it again.
  Status s = Tool("up");
  if (s.ok()) s = WaitMounted(mounts_[std::stoul(f.target.substr(6))], 30);
  m.kills.fetch_add(1);
  m.closed.store(0);
  if (!s.ok()) {
    AddFailure("undoing kill " + f.target + ": " + s.ToString());
    return false;
  }
  return true;
}

Status FaultInjector::WaitMounted(const std::string& mount, double limit_seconds) {
  const double until = Now() + limit_seconds;
  for (;;) {
    struct statfs st {};
    if (statfs(mount.c_str(), &st) == 0 && st.f_type == kFuseMagic) return Status::OK();
    if (Now() > until) return Status::Unavailable(mount + " not mounted again within " +
                                                  Seconds(limit_seconds));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

bool FaultInjector::InjectAndUndo(const Fault& f) {
  if (f.kind == "kill" && IsClient(f.target)) return KillClient(f);
  if (f.kind == "fill") {
    Log("fill: ballast until ENOSPC");
    if (Status s = Fill(f); !s.ok()) {
      AddFailure("fill: " + s.ToString());
      return false;
    }
    return true;
  }
  if (f.kind == "grow") {
    // Nothing to undo: the new pair stays, the ballast goes within Grow.
    Log("grow: ballast, a new pair, rebalance");
    Status s = Grow();
    if (!s.ok()) {
      AddFailure("grow: " + s.ToString());
      return false;
    }
    Count(f);
    return true;
  }
  Status s;
  if (f.kind == "kill") {
    s = Signal(f.target, SIGKILL);
  } else if (f.kind == "stop") {
    s = Signal(f.target, SIGSTOP);
  } else if (f.kind == "cut") {
    s = Tool("cut " + f.target + " " + f.other);
  } else if (f.kind == "delay") {
    const std::string ms = " " + std::to_string(kDelayMs) + " " + std::to_string(kJitterMs);
    s = Tool("delay " + f.target + " " + f.other + ms);
    if (s.ok()) s = Tool("delay " + f.other + " " + f.target + ms);
  } else if (f.kind == "loss") {
    const std::string pct = " " + std::to_string(kLossPercent);
    s = Tool("loss " + f.target + " " + f.other + pct);
    if (s.ok()) s = Tool("loss " + f.other + " " + f.target + pct);
  } else {
    s = Tool("isolate " + f.target);
  }
  if (!s.ok() && IsLinkFault(f.kind)) Tool("heal " + f.target + " " + f.other);
  if (!s.ok()) {
    AddFailure("injecting " + Describe(f) + ": " + s.ToString());
    return false;
  }
  Count(f);
  Log(Describe(f) + " for " + Seconds(f.seconds));
  Sleep(f.seconds);
  if (f.kind == "kill") {
    s = Tool("up");
  } else if (f.kind == "stop") {
    s = Signal(f.target, SIGCONT);
  } else if (IsLinkFault(f.kind)) {
    s = Tool("heal " + f.target + " " + f.other);
  } else {
    s = Tool("rejoin " + f.target);
  }
  if (!s.ok()) {
    AddFailure("undoing " + Describe(f) + ": " + s.ToString());
    return false;
  }
  return true;
}

void FaultInjector::Inject(const Fault& f) {
  const double began = Now();
  if (!InjectAndUndo(f)) return;
  const double undone = Now();
  if (Status s = WaitHealthy(kHealthyWithin); !s.ok()) {
    AddFailure("after " + Describe(f) + ": " + s.ToString());
    return;
  }
  const char* done = f.kind == "kill"   ? " restarted"
                     : f.kind == "stop" ? " continued"
                     : f.kind == "grow" ? ": rebalanced"
                     : f.kind == "fill" ? ": space back"
                                        : " healed";
  Log(Describe(f) + done + " after " + Seconds(undone - began) + ", healthy again " +
      Seconds(Now() - undone) + " later");
}

void FaultInjector::Loop() {
  if (Status s = WaitHealthy(kHealthyWithin); !s.ok()) {
    AddFailure("before the first fault: " + s.ToString());
    return;
  }
  size_t next = 0;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      if (!failures_.empty()) return;  // the cluster is broken: report, inject no more
    }
    Fault f;
    if (plan_.random) {
      if (!Sleep(2 + static_cast<double>(rng_() % 31) / 10)) return;
      f = Draw();
      const double budget = f.seconds + (f.kind == "fill" ? kFillSeconds : 0);
      if (Now() + budget > run_seconds_ - 2) {  // undone within the run
        if (f.kind == "grow" || f.kind == "fill") continue;  // a shorter one may fit
        return;
      }
    } else {
      if (next == plan_.faults.size()) return;
      f = plan_.faults[next++];
      if (f.at > Now() && !Sleep(f.at - Now())) return;
    }
    Inject(f);
  }
}

void FaultInjector::Start(double run_seconds) {
  start_ = 0;
  start_ = Now();
  run_seconds_ = run_seconds;
  thread_ = std::thread([this] { Loop(); });
}

void FaultInjector::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string FaultInjector::Report() const {
  std::lock_guard lock(mu_);
  std::string out = "torture: " + std::to_string(injected_.load()) + " faults injected";
  std::string by;
  for (const auto& [kind, n] : counts_) by += (by.empty() ? "" : ", ") + kind + " " + std::to_string(n);
  if (!by.empty()) out += " (" + by + ")";
  out += "\n";
  for (const std::string& l : log_) out += "  " + l + "\n";
  return out;
}

std::vector<std::string> FaultInjector::Failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

}  // namespace scalefs::torture
