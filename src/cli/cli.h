// The `lathe` command line: subcommands built with CLI11.
#pragma once

namespace lathe::cli {

// Parses argv, runs the chosen subcommand, and returns the process exit code (0 on success,
// 1 with a one-line reason on stderr otherwise).
int Main(int argc, char** argv);

}  // namespace lathe::cli
