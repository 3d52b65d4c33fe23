// The subcommands of the scalefs program. Each takes its arguments after the
// subcommand name (global flags already removed) and returns the exit status:
// 0 success, 1 failure, 2 bad usage (after printing the usage).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scalefs {

// `meta_flag` is the --meta value ("" when not given).
int RunMount(const std::vector<std::string>& args, bool helper, const std::string& meta_flag);
int RunUmount(const std::vector<std::string>& args);
int RunPair(const std::vector<std::string>& args, const std::string& meta_flag);
int RunStatus(const std::vector<std::string>& args, const std::string& meta_flag);
// Exit 0 only when the members of every pair verified are identical.
int RunVerify(const std::vector<std::string>& args, const std::string& meta_flag);
int RunFsck(const std::vector<std::string>& args, const std::string& meta_flag);

// "1.5G" style, binary units.
std::string HumanBytes(uint64_t bytes);

extern const char kUsage[];

}  // namespace scalefs
