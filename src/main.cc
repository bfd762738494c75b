// The `lathe` executable: every subcommand is in src/cli.
#include "cli/cli.h"

int main(int argc, char** argv) { return lathe::cli::Main(argc, argv); }
