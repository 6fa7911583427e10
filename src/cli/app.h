// The `lifeboat` command line. One binary with subcommands; invoked through a link named
// `bootkube` it is bootkube's CLI (`bootkube recover|start`), through `checkpoint` it is the
// pod checkpointer with upstream's flags. Exit codes: 0 success, 1 failure, 2 usage error.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace lifeboat::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// A subcommand: registers its flags on `app` and returns the function that runs it.
using Runner = std::function<int()>;
using Command = std::function<Runner(CLI::App& app)>;

// Commands known to the binary, by name ("recover", "start", "checkpoint").
struct CommandInfo {
  std::string name;
  std::string description;
  Command add;
};
const std::vector<CommandInfo>& Commands();

int Main(int argc, char** argv);

}  // namespace lifeboat::cli
