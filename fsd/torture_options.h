// The command line of `scalefs torture` and the commands that reproduce a
// failing run: parsed and printed in one place, so a reproduction command
// always parses back into the run it names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace scalefs::torture {

struct TortureOptions {
  std::vector<std::string> mounts;  // mounts of one cluster, at least one
  int seconds = 60;                 // how long the processes run
  uint64_t seed = 0;                // process k draws from seed + k
  bool seed_given = false;
  int files = 16;                   // file names per directory of a process's subtree
  int procs = 4;                    // processes; process k works through mounts[k % size]
  uint64_t ops = 0;                 // stop each process after this many operations (0: no limit)
  // The mounts' attr_timeout and entry_timeout (the longest): what another
  // mount reads is checked once a change is older than this.
  double attr_timeout = 1.0;
  std::string faults;   // --faults (torture_faults.h), "" for none
  std::string cluster;  // --cluster: the state folder of the cluster the faults go to
};

inline constexpr int kMaxProcs = 64;
inline constexpr int kMaxMounts = 8;

// Parses the arguments after `torture`; a bad one is an Invalid status
// naming it.
Result<TortureOptions> ParseTortureArgs(const std::vector<std::string>& args);

// The command that runs `options` again.
std::string TortureCommand(const TortureOptions& options);
// The command that runs process `proc` of `options` alone for its first
// `ops` operations: the same seed, the same mount first, the same choices
// (what it did in its own subtree does not depend on other processes).
std::string SingleProcessCommand(const TortureOptions& options, int proc, uint64_t ops);

extern const char kTortureUsage[];

}  // namespace scalefs::torture
