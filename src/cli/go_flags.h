// Upstream's checkpointer parses its command line with Go's `flag` package, which takes a long
// flag with one dash or two (`-lock-file=x`, `--lock-file x`) and glog's `-v=N` / `-v N`. CLI11
// reads `-abc` as three short flags. GoFlagsToCli11 rewrites the Go forms into ones CLI11 parses
// with the same meaning, so `checkpoint` accepts any command line upstream's binary accepted.
#pragma once

#include <set>
#include <string>
#include <vector>

namespace lifeboat::cli {

// Returns `args` (without argv[0]) with
//  - `-name` and `-name=value` turned into `--name...` when `name` is one of `long_names`
//    (the app's long option names, without dashes) and longer than one letter or `v`;
//  - `-v N` / `--v N` (N all digits) turned into `--v=N`: glog's verbosity, not a repeated -v.
// Anything else, and everything after a `--`, is left as it is (CLI11 then judges it).
std::vector<std::string> GoFlagsToCli11(const std::vector<std::string>& args,
                                        const std::set<std::string>& long_names);

}  // namespace lifeboat::cli
