// The command line of every scalefs program, parsed one way: --name=value,
// --name value, --bool and --nobool for the program's flags; an unknown
// flag, a bad value or a missing one is a usage error (exit 2), never
// gflags' exit 1. --help lists the program's own flags, grouped by what they
// are for, not the hundred flags of the logging and flags libraries
// (--helpfull still does); --version prints the version.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace scalefs {

struct ProgramHelp {
  const char* program = "";  // "scalefs-meta"
  const char* usage = "";    // what it is and how it is called, ending in '\n'
  // The flags defined in each source file (the end of its path: "fsd/main.cc")
  // under a title, in this order; flags of files not named are not listed.
  std::vector<std::pair<std::string, std::string>> groups;
};

struct ParsedFlags {
  int exit_code = -1;              // >= 0: exit with it (help, version, usage error)
  std::vector<std::string> rest;   // the arguments that are not the program's flags
};

// Parses argv into the program's gflags (and gives gflags the usage and the
// version). With `pass_unknown`, arguments that
// are not flags of the program (a subcommand, its arguments and options)
// stay in `rest` in order; without, any such argument is a usage error.
ParsedFlags ParseProgramFlags(int argc, char** argv, const ProgramHelp& help, bool pass_unknown);

// What --help prints.
std::string ProgramHelpText(const ProgramHelp& help);

// "scalefs-meta 0.13.0".
std::string VersionLine(const char* program);

}  // namespace scalefs
