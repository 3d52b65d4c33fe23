#include "common/program_flags.h"

#include <gflags/gflags.h>

#include <cstdio>
#include <map>

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
  for (const auto& [file, title] : help.groups) {
    std::string lines;
    for (const gflags::CommandLineFlagInfo& f : all) {
      if (EndsWith(f.filename, "/" + file) || f.filename == file) lines += FlagLine(f);
    }
    if (!lines.empty()) out += "\n" + title + ":\n" + lines;
  }
  out += "\nAlso: --logtostderr, --v=N (verbose logging), --helpfull (every flag), --version.\n";
  return out;
}

ParsedFlags ParseProgramFlags(int argc, char** argv, const ProgramHelp& help, bool pass_unknown) {
  ParsedFlags out;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
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
    gflags::CommandLineFlagInfo info;
    bool known = gflags::GetCommandLineFlagInfo(name.c_str(), &info);
    if (!known && !has_value && name.rfind("no", 0) == 0 &&
        gflags::GetCommandLineFlagInfo(name.substr(2).c_str(), &info) && info.type == "bool") {
      name = name.substr(2);
      value = "false";
      has_value = known = true;
    }
    if (!known) {
      if (!pass_unknown) return Usage(help, "unknown flag --" + name);
      out.rest.push_back(arg);  // a subcommand's own option (verify --repair)
      continue;
    }
    if (!has_value) {
      if (info.type == "bool") {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return Usage(help, "flag --" + name + " needs a value");
      }
    }
    if (gflags::SetCommandLineOption(name.c_str(), value.c_str()).empty()) {
      return Usage(help, "bad value '" + value + "' for --" + name + " (" + info.type + ")");
    }
  }
  return out;
}

}  // namespace scalefs
