// The `lifeboat` command line. One binary with subcommands; invoked through a link named
// `bootkube` it is bootkube's CLI (`bootkube recover|start`). The pod checkpointer is a binary of
// its own, lifeboat-checkpointer (a node daemon with an 8 MiB memory budget links none of gRPC,
// curl or OpenSSL); `lifeboat checkpoint` and the `checkpoint` link run it with upstream's flags. Exit codes: 0 success, 1 failure, 2 usage error.
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

// Parses argv into `app` and runs `dispatch`: --help and usage errors end here with CLI11's
// message and exit code 0 or 2 (kExitUsage).
int RunParsed(CLI::App& app, int argc, char** argv, const std::function<int()>& dispatch);

// main() of lifeboat-checkpointer, the checkpointer's own lean binary (`lifeboat checkpoint`
// and the `checkpoint` link run it).
int CheckpointerMain(int argc, char** argv);

}  // namespace lifeboat::cli
