// scalefs: the FUSE client (`scalefs mount`, also run as mount.scalefs) and
// the admin commands.
#include <gflags/gflags.h>
#include <glog/logging.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "common/log_files.h"
#include "common/process_tuning.h"
#include "common/program_flags.h"
#include "common/rpc_security.h"
#include "fsd/ca_command.h"
#include "common/version.h"
#include "fsd/admin_commands.h"
#include "fsd/rebalance_command.h"
#include "fsd/layout_commands.h"
#include "fsd/session_commands.h"
#include "fsd/torture_command.h"

DEFINE_string(meta, "", "address of scalefs-meta (else $SCALEFS_META, else the local cluster)");

namespace {

int Run(int argc, char** argv) {
  const char* base = strrchr(argv[0], '/');
  base = base ? base + 1 : argv[0];
  const bool helper = strcmp(base, "mount.scalefs") == 0;

  const scalefs::ProgramHelp help{
      helper ? "mount.scalefs" : "scalefs", scalefs::kUsage,
      {{"fsd/main.cc", "cluster and security"},
       {"common/rpc_security.cc", "cluster and security"},
       {"fsd/admin_commands.cc", "mount"},
       {"common/metrics.cc", "mount"},
       {"common/log_files.cc", "mount"},
       {"fsd/meta_client.cc", "meta calls and storage pair I/O"},
       {"fsd/pair_client.cc", "meta calls and storage pair I/O"}}};
  // Subcommands and their own options (-o, -f, --repair, --watch) stay in
  // `rest`, in order.
  const scalefs::ParsedFlags parsed = scalefs::ParseProgramFlags(argc, argv, help, true);
  if (parsed.exit_code >= 0) return parsed.exit_code;
  const std::vector<std::string>& rest = parsed.rest;
  // A mount moves its log to files (RunMount); the other commands keep it
  // on stderr.
  scalefs::StartLogging(argv[0]);
  scalefs::TuneProcess();

  // A mount shows the local cluster's client certificate by default, an
  // admin command its admin certificate.
  auto secure = [](const char* default_name) {
    scalefs::Status s = scalefs::InitRpcSecurityFromFlags("scalefs", default_name);
    if (!s.ok()) std::cerr << "scalefs: " << s.message() << "\n";
    return s.ok();
  };
  if (helper) return secure("client") ? scalefs::RunMount(rest, true, FLAGS_meta) : 2;
  if (rest.empty()) {
    std::cerr << scalefs::kUsage;
    return 2;
  }
  const std::string cmd = rest[0];
  const std::vector<std::string> args(rest.begin() + 1, rest.end());
  if (cmd == "ca") return scalefs::RunCa(args);
  const bool known = cmd == "mount" || cmd == "pair" || cmd == "status" || cmd == "verify" ||
                     cmd == "scrub" || cmd == "fsck" || cmd == "locks" || cmd == "layout" ||
                     cmd == "fileinfo" || cmd == "rebalance";
  if (known && !secure(cmd == "mount" ? "client" : "admin")) return 2;
  if (cmd == "mount") return scalefs::RunMount(args, false, FLAGS_meta);
  if (cmd == "umount" || cmd == "unmount") return scalefs::RunUmount(args);
  if (cmd == "pair") return scalefs::RunPair(args, FLAGS_meta);
  if (cmd == "status") return scalefs::RunStatus(args, FLAGS_meta);
  if (cmd == "verify") return scalefs::RunVerify(args, FLAGS_meta);
  if (cmd == "scrub") return scalefs::RunScrub(args, FLAGS_meta);
  if (cmd == "fsck") return scalefs::RunFsck(args, FLAGS_meta);
  if (cmd == "locks") return scalefs::RunLocks(args, FLAGS_meta);
  if (cmd == "layout") return scalefs::RunLayout(args, FLAGS_meta);
  if (cmd == "fileinfo") return scalefs::RunFileInfo(args, FLAGS_meta);
  if (cmd == "rebalance") return scalefs::RunRebalance(args, FLAGS_meta);
  // Torture checks its arguments before it shows the admin certificate.
  if (cmd == "torture") return scalefs::RunTorture(args, FLAGS_meta);
  if (cmd == "help" || cmd == "-h") {
    std::cout << scalefs::ProgramHelpText(help);
    return 0;
  }
  if (cmd == "version") {
    std::cout << scalefs::VersionLine("scalefs") << "\n";
    return 0;
  }
  if (cmd.size() > 1 && cmd[0] == '-') {
    std::cerr << "scalefs: unknown flag " << cmd.substr(0, cmd.find('=')) << "\n"
              << scalefs::kUsage;
    return 2;
  }
  std::cerr << "scalefs: unknown command '" << cmd << "'\n" << scalefs::kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const int rc = Run(argc, argv);
  // Every object of the command is gone by now, but gRPC's own threads
  // (event_engine, its timers) may still be winding down a connection
  // attempt; exit's teardown of the libraries under them (OpenSSL 3's atexit
  // cleanup among them) crashed one in a CI run (SIGSEGV in event_engine,
  // `status --json` without meta; grpc/grpc#38539). Our output is flushed,
  // and the process ends without that teardown.
  std::cout.flush();
  std::cerr.flush();
  fflush(nullptr);
  google::FlushLogFiles(google::GLOG_INFO);
  _exit(rc);
}
