// `scalefs torture --faults SCHEDULE`: faults injected into a cluster that
// the project's tooling started (deploy/up or deploy/netns), while the
// workers run and check. The tooling leaves DIR/cluster in its state folder
// (a script with the cluster's variables: `cluster up` starts what is not
// running, `cluster cut A B`, `cluster heal`, `cluster kind` says local or
// netns) and each daemon's pid in DIR/run/NAME.pid.
//
// Every fault is one the documented contract hides from applications: one
// member of a pair at a time, meta, one link, or a client stopped (within its
// lease; its applications only wait), for a few seconds, or a new
// pair added and rebalanced onto; the next fault waits until every pair is
// healthy again. So no operation may fail, and the model checks stay exact
// while faults run. A client's kill is the one fault applications would see:
// before it, the processes on that mount fsync what they wrote and wait
// between operations (and the others keep off it) until the tooling has
// mounted it again; their descriptors die with the client. What it proves:
// a dead client's acknowledged writes, its session's end (its opens and
// unlinked-open files) and a new mount in its place, while the rest run.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "fsd/torture_worker.h"

namespace scalefs::torture {

struct Fault {
  double at = -1;         // seconds into the run; -1 in a random plan
  std::string kind;       // kill, stop, cut, delay, loss, isolate, grow, fill
  std::string target;     // meta, pairKa|b, clientK; none for grow and fill
  std::string other;      // cut, delay, loss: the other end
  double seconds = 3;     // until the restart, SIGCONT or heal
};

struct FaultPlan {
  bool random = false;
  std::vector<Fault> faults;  // in time order
  std::string text;           // as given, for the reproduction command
};

// "random", or a comma-separated schedule of AT:KIND:TARGET[:SECONDS] with
// KIND kill|stop (TARGET meta, a member or clientK, the client of the K-th
// mount), cut, delay or loss (TARGET A-B: a link, both ways), isolate (a
// member), grow and fill (AT:grow, AT:fill, no TARGET); e.g.
// "5:kill:pair0a,20:stop:meta:4,30:cut:pair1a-pair1b:6,40:grow".
Result<FaultPlan> ParseFaultPlan(const std::string& text);
extern const char kFaultsUsage[];

class FaultInjector {
 public:
  // `cluster_dir`: the state folder; `meta_flag` as the admin commands';
  // `ballast_dir`: a folder on a mount, made by grow, for the closed files
  // that give rebalance something to move. `mounts`: torture's, in order;
  // clientK is the process serving the K-th.
  FaultInjector(FaultPlan plan, std::string cluster_dir, std::string meta_flag, uint64_t seed,
                std::string ballast_dir, std::vector<std::string> mounts);
  ~FaultInjector();

  // The processes' shared state, for a client's kill; before Start.
  void set_shared(TortureShared* shared) { shared_ = shared; }
  // The cluster script is there, of a kind that has every fault planned.
  Status Check();
  // Injects from now on, `run_seconds` being the run's length.
  void Start(double run_seconds);
  // No new fault; the one in progress is undone (restart, SIGCONT, heal),
  // then waits until the cluster is healthy again.
  void Stop();

  // One line per fault with its time and what followed, and the counts.
  std::string Report() const;
  // What went wrong with the cluster itself: a fault that could not be
  // injected or undone, a cluster not healthy again within the limit.
  std::vector<std::string> Failures() const;
  uint64_t injected() const { return injected_.load(); }

 private:
  // A mount's processes stop for its client's kill, and locked sections end
  // before a fill, within this (a section may wait 30 s for its lock first).
  static constexpr double kQuietWithin = 90;
  // What writing a fill's ballast and getting its space back may take, on
  // top of its hold (a random plan counts both).
  static constexpr double kFillSeconds = 60;
  static std::string Seconds(double s);

  void Loop();
  Fault Draw();
  // Injects `f`, waits f.seconds (or until Stop), undoes it, then waits
  // until the cluster is healthy again.
  void Inject(const Fault& f);
  // The first part: false (and a failure added) when it could not be done.
  bool InjectAndUndo(const Fault& f);
  void Count(const Fault& f);
  // grow: ballast files until the pairs are 30% used, `cluster grow` (one
  // more pair), `scalefs rebalance` to its end, the ballast removed.
  Status Grow();
  Status WriteBallast(double fraction);
  // fill: ballast until ENOSPC, held f.seconds, removed, and the space back;
  // the processes are told (TortureShared::full) from before it to after.
  Status Fill(const Fault& f);
  // Ballast files of `file_size` (named on from *index) until one is refused
  // with ENOSPC; the MiB written. `capacity` bounds it.
  Result<uint64_t> BallastUntilFull(size_t file_size, uint64_t capacity, uint64_t* index);
  // Waits until meta and every member answer and every pair is healthy.
  Status WaitHealthy(double limit_seconds);
  Status Signal(const std::string& name, int sig);
  Result<long> ClientPid(const std::string& name) const;
  // kill clientK: its mount's processes stop, the client is killed and the
  // tooling mounts it again.
  bool KillClient(const Fault& f);
  Status WaitMounted(const std::string& mount, double limit_seconds);
  Status Tool(const std::string& args);
  bool Sleep(double seconds);  // false when Stop came first
  void Log(const std::string& line);
  void AddFailure(const std::string& what);
  double Now() const;

  const FaultPlan plan_;
  const std::string dir_;
  const std::string meta_flag_;
  const std::string ballast_dir_;
  const std::vector<std::string> mounts_;
  TortureShared* shared_ = nullptr;
  std::mt19937_64 rng_;
  int grown_ = 0;
  std::string kind_;  // local or netns
  double start_ = 0, run_seconds_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<std::string> log_;
  std::vector<std::string> failures_;
  std::map<std::string, int> counts_;
  std::atomic<uint64_t> injected_{0};
  std::thread thread_;
};

}  // namespace scalefs::torture
