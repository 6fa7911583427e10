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

// A program running in the background with stdout and stderr going to one file.
class Subprocess {
 public:
  Subprocess(const std::vector<std::string>& argv, const std::string& output_file);
  ~Subprocess();  // kills the process if it still runs
  int pid() const { return pid_; }
  void Signal(int sig);
  // Waits up to `timeout_ms` for the exit; returns the exit code (128+signal), or -1 on timeout.
  int Wait(int timeout_ms);
  // Everything printed so far.
  std::string Output() const;
  // Polls Output() until it contains `text` or `timeout_ms` passes.
  bool WaitForOutput(const std::string& text, int timeout_ms) const;

 private:
  int pid_ = -1;
  int exit_code_ = -1;
  std::string output_file_;
};

// The bytes of a file ("" when it cannot be read).
std::string ReadFile(const std::string& path);

// The permission bits of a path, not following a symlink (0 when it does not exist).
unsigned FileMode(const std::string& path);

// Every regular file under `root` by relative path, as "<mode>:<content>" (mode in octal), so
// that two trees compare equal only when names, modes and bytes all match.
std::map<std::string, std::string> ReadTree(const std::string& root);

// Path of the built lifeboat binary (or its bootkube/checkpoint links).
std::string LifeboatBinary(const std::string& name = "lifeboat");

// A loopback TCP port nothing listens on (bound, then closed: connecting gets a reset).
int UnusedLoopbackPort();

}  // namespace lifeboat::testing
