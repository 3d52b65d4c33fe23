// scalefs: the FUSE client (`scalefs mount`, also run as mount.scalefs) and
// the admin commands.
#include <gflags/gflags.h>
#include <glog/logging.h>

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "common/process_tuning.h"
#include "fsd/admin_commands.h"
#include "fsd/session_commands.h"

DEFINE_string(meta, "", "address of scalefs-meta (else $SCALEFS_META, else the local cluster)");

namespace {

// Long options that name a gflags flag ("--name[=value]" anywhere on the
// line) go to gflags; the rest (subcommand, its arguments and options such as
// verify's --repair, -o and -f) stay in order for the subcommand.
bool SplitFlags(int argc, char** argv, std::vector<std::string>* flags,
                std::vector<std::string>* rest) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 2 && a.rfind("--", 0) == 0) {
      std::string name = a.substr(2, a.find('=') == std::string::npos ? std::string::npos
                                                                        : a.find('=') - 2);
      gflags::CommandLineFlagInfo info;
      const bool known = gflags::GetCommandLineFlagInfo(name.c_str(), &info) ||
                         (name.rfind("no", 0) == 0 &&
                          gflags::GetCommandLineFlagInfo(name.substr(2).c_str(), &info) &&
                          info.type == "bool");
      if (!known) {
        rest->push_back(a);
        continue;
      }
      flags->push_back(a);
      if (a.find('=') == std::string::npos && info.type != "bool") {
        if (i + 1 >= argc) {
          std::cerr << "scalefs: " << a << " needs a value\n";
          return false;
        }
        flags->push_back(argv[++i]);
      }
    } else {
      rest->push_back(a);
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const char* base = strrchr(argv[0], '/');
  base = base ? base + 1 : argv[0];
  const bool helper = strcmp(base, "mount.scalefs") == 0;

  std::vector<std::string> flags, rest;
  if (!SplitFlags(argc, argv, &flags, &rest)) return 2;
  std::vector<char*> fargv = {argv[0]};
  for (auto& f : flags) fargv.push_back(f.data());
  int fargc = static_cast<int>(fargv.size());
  char** fargp = fargv.data();
  gflags::SetUsageMessage(scalefs::kUsage);
  gflags::ParseCommandLineFlags(&fargc, &fargp, false);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  scalefs::TuneProcess();

  if (helper) return scalefs::RunMount(rest, true, FLAGS_meta);
  if (rest.empty()) {
    std::cerr << scalefs::kUsage;
    return 2;
  }
  const std::string cmd = rest[0];
  const std::vector<std::string> args(rest.begin() + 1, rest.end());
  if (cmd == "mount") return scalefs::RunMount(args, false, FLAGS_meta);
  if (cmd == "umount" || cmd == "unmount") return scalefs::RunUmount(args);
  if (cmd == "pair") return scalefs::RunPair(args, FLAGS_meta);
  if (cmd == "status") return scalefs::RunStatus(args, FLAGS_meta);
  if (cmd == "verify") return scalefs::RunVerify(args, FLAGS_meta);
  if (cmd == "fsck") return scalefs::RunFsck(args, FLAGS_meta);
  if (cmd == "locks") return scalefs::RunLocks(args, FLAGS_meta);
  if (cmd == "help" || cmd == "-h") {
    std::cout << scalefs::kUsage;
    return 0;
  }
  std::cerr << "scalefs: unknown command '" << cmd << "'\n" << scalefs::kUsage;
  return 2;
}
