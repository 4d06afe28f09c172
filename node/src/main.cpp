// cityledgerd: the validator. Its commands (init, testnet, start) arrive with
// the validator-node issue; today it reports its version and build.
#include <CLI/CLI.hpp>
#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"cityledgerd - validator node of the cityledger permissioned ledger"};
  app.set_version_flag("--version", std::string("cityledgerd 0.1.0"));
  app.require_subcommand(0);
  CLI11_PARSE(app, argc, argv);
  std::cout << app.help();
  return 0;
}
