// Test helpers: running a program and capturing its output.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace lifeboat::testing {

struct ProcessResult {
  int exit_code = -1;  // 128+signal when killed by a signal
  std::string out;
  std::string err;
};

// Runs argv[0] (searched in PATH) with `argv`, extra environment `env`, stdin from /dev/null.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {});

// Path of the built lifeboat binary (or its bootkube/checkpoint links).
std::string LifeboatBinary(const std::string& name = "lifeboat");

}  // namespace lifeboat::testing
