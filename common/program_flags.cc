#include "common/program_flags.h"

#include <gflags/gflags.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "common/log_files.h"
#include "common/version.h"

namespace scalefs {
namespace {

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string FlagLine(const gflags::CommandLineFlagInfo& f) {
  std::string line = "  --" + f.name;
  if (f.type == "string") {
    line += f.default_value.empty() ? "=S" : "=\"" + f.default_value + "\"";
  } else if (f.type != "bool") {
    line += "=" + f.default_value;
  } else if (f.default_value == "true") {
    line += " (default; --no" + f.name + " to turn off)";
  }
  if (line.size() < 30) line.resize(30, ' ');
  return line + " " + f.description + "\n";
}

ParsedFlags Usage(const ProgramHelp& help, const std::string& problem) {
  std::fprintf(stderr, "%s: %s\n%s(--help lists the flags)\n", help.program, problem.c_str(),
               help.usage);
  return ParsedFlags{2, {}};
}

}  // namespace

std::string VersionLine(const char* program) {
  return std::string(program) + " " + kScalefsVersion;
}

std::string ProgramHelpText(const ProgramHelp& help) {
  std::vector<gflags::CommandLineFlagInfo> all;
  gflags::GetAllFlags(&all);
  std::string out = help.usage;
  // Groups in a row with the same title share its heading.
  std::string last_title;
  for (const auto& [file, title] : help.groups) {
    std::string lines;
    for (const gflags::CommandLineFlagInfo& f : all) {
      if (EndsWith(f.filename, "/" + file) || f.filename == file) lines += FlagLine(f);
    }
    if (lines.empty()) continue;
    if (title != last_title) out += "\n" + title + ":\n";
    out += lines;
    last_title = title;
  }
  out += "\nLogs: files in --log_dir (" + LogDir() +
         "), a new one past --max_log_size MB (64), or --logtostderr; also --v=N (verbose), "
         "--helpfull (every flag), --version.\n";
  return out;
}

// A flag file (--flagfile, the systemd units' /etc/scalefs/*.conf): one
// --name=value per line, blank lines and # comments skipped. Its lines are
// read as if given on the command line where --flagfile stood, so a bad one
// is the same usage error, naming the file and line.
bool ReadFlagFile(const std::string& path, std::vector<std::string>* args,
                  std::vector<std::string>* where, std::string* problem) {
  std::ifstream in(path);
  if (!in) {
    *problem = "cannot read flag file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    const size_t e = line.find_last_not_of(" \t\r");
    std::string arg = line.substr(b, e - b + 1);
    const std::string at = path + ":" + std::to_string(n);
    if (arg.rfind("--", 0) != 0 || arg.find('=') == std::string::npos) {
      *problem = at + ": not --name=value: '" + arg + "'";
      return false;
    }
    args->push_back(std::move(arg));
    where->push_back(at);
  }
  return true;
}

ParsedFlags ParseProgramFlags(int argc, char** argv, const ProgramHelp& help, bool pass_unknown) {
  SetLogFlagDefaults();
  // What --helpfull and gflags' own messages show.
  gflags::SetUsageMessage(help.usage);
  gflags::SetVersionString(kScalefsVersion);
  ParsedFlags out;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<std::string> where(args.size());  // "" = the command line, else file:line
  int files = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string arg = args[i];
    const std::string at = where[i].empty() ? "" : where[i] + ": ";
    if (arg == "--help" || arg == "-h" || arg == "--helpshort") {
      std::fputs(ProgramHelpText(help).c_str(), stdout);
      return ParsedFlags{0, {}};
    }
    if (arg == "--helpfull") {
      gflags::ShowUsageWithFlags(argv[0]);
      return ParsedFlags{0, {}};
    }
    if (arg == "--version") {
      std::printf("%s\n", VersionLine(help.program).c_str());
      return ParsedFlags{0, {}};
    }
    const bool dashes = arg.size() > 2 && arg.rfind("--", 0) == 0;
    if (!dashes) {
      if (!pass_unknown) return Usage(help, "unexpected argument '" + arg + "'");
      out.rest.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    const auto eq = name.find('=');
    bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (name == "flagfile") {
      if (!has_value) {
        if (i + 1 >= args.size()) return Usage(help, "flag --flagfile needs a value");
        value = args[++i];
      }
      std::vector<std::string> more, more_where;
      std::string problem;
      if (++files > 16) return Usage(help, "flag files include each other");
      if (!ReadFlagFile(value, &more, &more_where, &problem)) return Usage(help, at + problem);
      args.insert(args.begin() + static_cast<long>(i) + 1, more.begin(), more.end());
      where.insert(where.begin() + static_cast<long>(i) + 1, more_where.begin(), more_where.end());
      continue;
    }
    gflags::CommandLineFlagInfo info;
    bool known = gflags::GetCommandLineFlagInfo(name.c_str(), &info);
    if (!known && !has_value && name.rfind("no", 0) == 0 &&
        gflags::GetCommandLineFlagInfo(name.substr(2).c_str(), &info) && info.type == "bool") {
      name = name.substr(2);
      value = "false";
      has_value = known = true;
    }
    if (!known) {
      if (!pass_unknown || !at.empty()) return Usage(help, at + "unknown flag --" + name);
      out.rest.push_back(arg);  // a subcommand's own option (verify --repair)
      continue;
    }
    if (!has_value) {
      if (info.type == "bool") {
        value = "true";
      } else if (i + 1 < args.size() && where[i + 1] == where[i]) {
        value = args[++i];
      } else {
        return Usage(help, at + "flag --" + name + " needs a value");
      }
    }
    if (gflags::SetCommandLineOption(name.c_str(), value.c_str()).empty()) {
      return Usage(help, at + "bad value '" + value + "' for --" + name + " (" + info.type + ")");
    }
  }
  return out;
}

}  // namespace scalefs
