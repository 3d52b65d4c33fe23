// The subcommands of the scalefs program. Each takes its arguments after the
// subcommand name (global flags already removed) and returns the exit status:
// 0 success, 1 failure, 2 bad usage (after printing the usage).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fsd/meta_client.h"

namespace scalefs {

// `meta_flag` is the --meta value ("" when not given).
int RunMount(const std::vector<std::string>& args, bool helper, const std::string& meta_flag);
int RunUmount(const std::vector<std::string>& args);
int RunPair(const std::vector<std::string>& args, const std::string& meta_flag);
int RunStatus(const std::vector<std::string>& args, const std::string& meta_flag);
// Exit 0 only when the members of every pair verified are identical.
int RunVerify(const std::vector<std::string>& args, const std::string& meta_flag);
// Verify with repair, every block of every pair, at most --rate bytes/s.
int RunScrub(const std::vector<std::string>& args, const std::string& meta_flag);
int RunFsck(const std::vector<std::string>& args, const std::string& meta_flag);

// The meta of an admin command (`command`: "pair list"), once it answered
// within kAdminPingMs; else null, after "scalefs COMMAND: meta at ADDR does
// not answer ..." on stderr. timeout_ms as MetaClient's.
inline constexpr int kAdminPingMs = 2500;
std::unique_ptr<MetaClient> ConnectMeta(const std::string& meta_flag, const std::string& command,
                                        int timeout_ms = 0);

// "1.5G" style, binary units.
std::string HumanBytes(uint64_t bytes);

extern const char kUsage[];

}  // namespace scalefs
