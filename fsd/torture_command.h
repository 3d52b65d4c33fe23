// `scalefs torture`: forks the torture processes over the mounts, waits for
// them, checks the shared files on every mount, removes its folder, then runs
// `scalefs verify` and `scalefs fsck`. Exit 0 only when every check, verify
// and fsck were clean; 1 with a report otherwise; 2 for bad arguments.
#pragma once

#include <string>
#include <vector>

namespace scalefs {

int RunTorture(const std::vector<std::string>& args, const std::string& meta_flag);

}  // namespace scalefs
