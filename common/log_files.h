// Where a scalefs daemon or mount logs: glog's own log files, rotated by
// size, in one folder. Every program starts logging to stderr
// (StartLogging); a daemon or a mount then moves to files (LogToFiles)
// unless --logtostderr was given (the systemd units pass it: the journal
// keeps and rotates their logs). The admin commands stay on stderr.
//
// Files: <log_dir>/<name>.log.<YYYYMMDD-HHMMSS>.<pid>, every severity in
// one file; glog starts a new one at each start and when the current one
// passes --max_log_size MB, keeps <log_dir>/<name>.INFO linked to the
// current one, and deletes this name's files untouched for --log_keep_days.
#pragma once

#include <string>

#include "common/status.h"

namespace scalefs {

// scalefs's defaults for glog's flags (stderr until LogToFiles,
// --max_log_size, no buffering); before the command line is parsed, so it
// overrides them (ParseProgramFlags calls it).
void SetLogFlagDefaults();

// Starts glog: on stderr, for what a program logs before it knows its
// files (and all an admin command logs).
void StartLogging(const char* argv0);

// --log_dir, else /var/log/scalefs as root, else $XDG_STATE_HOME/scalefs,
// else ~/.local/state/scalefs.
std::string LogDir();

// From now on to files named --log_name, else `default_name`, in LogDir()
// (created if missing); nothing changes with --logtostderr. Returns the
// link to the current file ("<dir>/<name>.INFO"), "" with --logtostderr.
// Fails when the folder cannot be created or written, naming it.
Result<std::string> LogToFiles(const std::string& default_name);

}  // namespace scalefs
