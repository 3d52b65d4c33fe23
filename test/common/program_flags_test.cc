#include "common/program_flags.h"

#include <gflags/gflags.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

DEFINE_int32(pf_test_port, 7600, "a port");
DEFINE_bool(pf_test_direct, true, "a switch that is on");
DEFINE_string(pf_test_name, "", "a name");

namespace scalefs {
namespace {

const ProgramHelp kHelp{"prog", "usage: prog [flags]\n",
                        {{"test/common/program_flags_test.cc", "test flags"}}};

ParsedFlags Parse(std::vector<std::string> args, bool pass_unknown = false) {
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return ParseProgramFlags(static_cast<int>(argv.size()), argv.data(), kHelp, pass_unknown);
}

TEST(ProgramFlagsTest, EveryFormOfAFlagSetsIt) {
  ParsedFlags p = Parse({"--pf_test_port=1", "--pf_test_name", "x", "--nopf_test_direct"});
  EXPECT_EQ(p.exit_code, -1);
  EXPECT_EQ(FLAGS_pf_test_port, 1);
  EXPECT_EQ(FLAGS_pf_test_name, "x");
  EXPECT_FALSE(FLAGS_pf_test_direct);
  p = Parse({"--pf_test_port", "2", "--pf_test_direct"});
  EXPECT_EQ(FLAGS_pf_test_port, 2);
  EXPECT_TRUE(FLAGS_pf_test_direct);
}

TEST(ProgramFlagsTest, BadFlagsAreUsageErrorsAndChangeNothing) {
  FLAGS_pf_test_port = 5;
  EXPECT_EQ(Parse({"--pf_test_port=many"}).exit_code, 2);
  EXPECT_EQ(Parse({"--no_such_flag=1"}).exit_code, 2);
  EXPECT_EQ(Parse({"--pf_test_port"}).exit_code, 2);  // no value
  EXPECT_EQ(Parse({"stray"}).exit_code, 2);
  EXPECT_EQ(FLAGS_pf_test_port, 5);
}

// The scalefs command keeps its subcommand and the subcommand's options.
TEST(ProgramFlagsTest, PassUnknownKeepsTheRestInOrder) {
  ParsedFlags p = Parse({"status", "--pf_test_port=3", "--watch", "2", "-o", "ro"}, true);
  EXPECT_EQ(p.exit_code, -1);
  EXPECT_EQ(FLAGS_pf_test_port, 3);
  EXPECT_EQ(p.rest, (std::vector<std::string>{"status", "--watch", "2", "-o", "ro"}));
}

TEST(ProgramFlagsTest, HelpListsTheProgramsOwnFlagsOnly) {
  const std::string help = ProgramHelpText(kHelp);
  EXPECT_EQ(help.rfind("usage: prog [flags]\n", 0), 0u) << help;
  EXPECT_NE(help.find("test flags:\n"), std::string::npos) << help;
  EXPECT_NE(help.find("--pf_test_port=7600"), std::string::npos) << help;
  EXPECT_NE(help.find("--pf_test_direct (default; --nopf_test_direct to turn off)"),
            std::string::npos)
      << help;
  // Not the flags of gflags, glog or gtest.
  EXPECT_EQ(help.find("--flagfile"), std::string::npos) << help;
  EXPECT_EQ(help.find("--gtest"), std::string::npos) << help;
  EXPECT_EQ(help.find("--minloglevel"), std::string::npos) << help;
  EXPECT_EQ(Parse({"--help"}).exit_code, 0);
  EXPECT_EQ(Parse({"--version"}).exit_code, 0);
  EXPECT_EQ(VersionLine("prog").rfind("prog 0.", 0), 0u);
}

// The systemd units pass /etc/scalefs/*.conf as --flagfile: its lines are
// flags like any other, and a bad one is a usage error naming its line.
TEST(ProgramFlagsTest, AFlagFileIsReadLikeTheCommandLine) {
  const std::string path = ::testing::TempDir() + "/program_flags_test.conf";
  {
    std::ofstream f(path);
    f << "# a comment\n\n  --pf_test_port=4242\n--pf_test_name=from file\n";
  }
  ParsedFlags p = Parse({"--flagfile=" + path, "--pf_test_direct"});
  EXPECT_EQ(p.exit_code, -1);
  EXPECT_EQ(FLAGS_pf_test_port, 4242);
  EXPECT_EQ(FLAGS_pf_test_name, "from file");
  // Later flags win, as on a command line.
  EXPECT_EQ(Parse({"--flagfile", path, "--pf_test_port=7"}).exit_code, -1);
  EXPECT_EQ(FLAGS_pf_test_port, 7);
  {
    std::ofstream f(path);
    f << "--pf_test_port=1\n--no_such=2\n";
  }
  testing::internal::CaptureStderr();
  EXPECT_EQ(Parse({"--flagfile=" + path}, true).exit_code, 2);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(path + ":2: unknown flag --no_such"), std::string::npos) << err;
  EXPECT_EQ(Parse({"--flagfile=/nonexistent/x.conf"}).exit_code, 2);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace scalefs
