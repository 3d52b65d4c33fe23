// The admin commands about mounted clients: the clients part of
// `scalefs status`, and `scalefs locks [PATH]`.
#pragma once

#include <string>
#include <vector>

#include "proto/meta.pb.h"

namespace scalefs {

// "clients: N" and a line per session (host, mount point, since, open
// files, locks), as `scalefs status` prints them.
std::string FormatClients(const meta::SessionListReply& sessions);

// `scalefs locks [PATH...]`: the locks held and waited for, on every file or
// on the files named (paths on a scalefs mount).
int RunLocks(const std::vector<std::string>& args, const std::string& meta_flag);

}  // namespace scalefs
