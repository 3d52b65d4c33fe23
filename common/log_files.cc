#include "common/log_files.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <gflags/gflags.h>
#include <glog/logging.h>

DEFINE_string(log_name, "",
              "base name of this process's log files in --log_dir (default: the program's "
              "own, see the README)");
DEFINE_int32(log_keep_days, 14,
             "log files of this name untouched for this many days are deleted; 0 = keep all");

namespace scalefs {

void SetLogFlagDefaults() {
  // Every program starts on stderr; LogToFiles moves a daemon to files
  // unless the command line set --logtostderr (then it is not the default).
  gflags::SetCommandLineOptionWithMode("logtostderr", "true", gflags::SET_FLAGS_DEFAULT);
  // glog's 1.8 GB per file is more than a log folder should ever hold.
  gflags::SetCommandLineOptionWithMode("max_log_size", "64", gflags::SET_FLAGS_DEFAULT);
  // Written at once, not buffered for up to 30 s: what a killed daemon said
  // last is what explains it, and daemons log little.
  gflags::SetCommandLineOptionWithMode("logbuflevel", "-1", gflags::SET_FLAGS_DEFAULT);
}

void StartLogging(const char* argv0) { google::InitGoogleLogging(argv0); }

std::string LogDir() {
  if (!FLAGS_log_dir.empty()) return FLAGS_log_dir;
  if (getuid() == 0) return "/var/log/scalefs";
  if (const char* x = std::getenv("XDG_STATE_HOME"); x != nullptr && *x == '/') {
    return std::string(x) + "/scalefs";
  }
  if (const char* h = std::getenv("HOME"); h != nullptr && *h == '/') {
    return std::string(h) + "/.local/state/scalefs";
  }
  return "/tmp/scalefs-" + std::to_string(getuid());
}

Result<std::string> LogToFiles(const std::string& default_name) {
  // --logtostderr given: stderr; --nologtostderr given or neither: files.
  if (!gflags::GetCommandLineFlagInfoOrDie("logtostderr").is_default && FLAGS_logtostderr) {
    return std::string();
  }
  const std::string dir = LogDir();
  const std::string name = FLAGS_log_name.empty() ? default_name : FLAGS_log_name;
  if (name.empty() || name.find('/') != std::string::npos) {
    return Status::Invalid("--log_name '" + name + "' must be a file name, not a path");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || access(dir.c_str(), W_OK | X_OK) != 0) {
    return Status::Permission("cannot write log folder " + dir + ": " +
                              (ec ? ec.message() : std::string(std::strerror(errno))) +
                              " (--log_dir names another, --logtostderr logs to stderr)");
  }
  const std::string base = dir + "/" + name + ".log.";
  // One file for every severity, not one more per severity; errors are
  // also copied to stderr (glog's --stderrthreshold).
  google::SetLogDestination(google::GLOG_INFO, base.c_str());
  for (google::LogSeverity s : {google::GLOG_WARNING, google::GLOG_ERROR, google::GLOG_FATAL}) {
    google::SetLogDestination(s, "");
  }
  google::SetLogSymlink(google::GLOG_INFO, name.c_str());
  if (FLAGS_log_keep_days > 0) google::EnableLogCleaner(static_cast<unsigned>(FLAGS_log_keep_days));
  FLAGS_logtostderr = false;
  return dir + "/" + name + ".INFO";
}

}  // namespace scalefs
