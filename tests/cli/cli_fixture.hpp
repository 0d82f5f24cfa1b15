// A test fixture that runs the real command-line program (BP_CLI) in a fresh temporary directory,
// with helpers for expected successes and one-line errors. Included by the CLI tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.hpp"

#ifndef BP_CLI
#error "BP_CLI must name the command-line program (see tests/CMakeLists.txt)"
#endif

namespace bp::testing {

namespace fs = std::filesystem;

struct Result {
  int exit_code = -1;
  bool crashed = false;  // killed by a signal
  std::string out, err;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  return lines;
}

inline std::string quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Each test runs in a fresh temporary directory, removed afterwards.
class CliFixture : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return tmp_.file(name); }

  // `env` is extra NAME=value settings for the program's environment, separated by spaces.
  Result run(const std::vector<std::string>& args, const std::string& env = "") const {
    // Appended piece by piece: GCC 12 warns (-Wrestrict) on chains of string + string.
    std::string cmd = "cd ";
    cmd += quote(dir_);
    cmd += " && OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive ";
    if (!env.empty()) {
      cmd += env;
      cmd += ' ';
    }
    cmd += quote(BP_CLI);
    for (const auto& a : args) {
      cmd += ' ';
      cmd += quote(a);
    }
    cmd += " >";
    cmd += quote(path(".stdout"));
    cmd += " 2>";
    cmd += quote(path(".stderr"));
    cmd += " </dev/null";
    int status = std::system(cmd.c_str());
    Result r;
    if (WIFSIGNALED(status)) {
      r.crashed = true;
    } else if (WIFEXITED(status)) {
      r.exit_code = WEXITSTATUS(status);
      r.crashed = r.exit_code >= 128;  // the shell reports a signal as 128 + n
    }
    r.out = read_file(path(".stdout"));
    r.err = read_file(path(".stderr"));
    fs::remove(path(".stdout"));
    fs::remove(path(".stderr"));
    return r;
  }

  // Runs and expects success.
  Result ok(const std::vector<std::string>& args, const std::string& env = "") const {
    Result r = run(args, env);
    EXPECT_EQ(r.exit_code, 0) << "stdout:\n" << r.out << "\nstderr:\n" << r.err;
    return r;
  }

  // Runs and expects a clean failure: non-zero exit, no crash, and a one-line "error: ..." on
  // stderr containing every needle.
  void expect_error(const std::vector<std::string>& args,
                    std::initializer_list<std::string> needles) const {
    Result r = run(args);
    std::string cmd;
    for (const auto& a : args) cmd += " " + a;
    EXPECT_FALSE(r.crashed) << cmd << "\n" << r.err;
    EXPECT_NE(r.exit_code, 0) << cmd;
    auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << cmd << "\nstderr:\n" << r.err;
    EXPECT_EQ(lines[0].rfind("error: ", 0), 0u) << cmd << "\n" << lines[0];
    for (const auto& n : needles)
      EXPECT_NE(lines[0].find(n), std::string::npos) << cmd << "\nmissing \"" << n << "\" in\n"
                                                     << lines[0];
  }

  // A flag rejected by the argument parser: CLI11's message names the flag.
  void expect_flag_error(const std::vector<std::string>& args, const std::string& flag) const {
    Result r = run(args);
    EXPECT_FALSE(r.crashed) << r.err;
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(flag), std::string::npos) << r.err;
  }

  TempDir tmp_;
  std::string dir_ = tmp_.path();
};

}  // namespace bp::testing
