// cityledger: the auditor's and the data platform's command-line tool.
#include <CLI/CLI.hpp>
#include <iostream>

#include "crypto/schnorr.hpp"
#include "crypto/sha256.hpp"

using namespace cityledger;

int main(int argc, char** argv) {
  CLI::App app{"cityledger - anchor city data and verify its proofs"};
  app.set_version_flag("--version", std::string("cityledger 0.1.0"));
  app.require_subcommand(1);

  std::vector<std::string> files;
  auto* hash = app.add_subcommand("hash", "Print the SHA-256 of files (what gets anchored)");
  hash->add_option("files", files, "Files to hash")->required()->check(CLI::ExistingFile);

  std::string key_out;
  auto* keygen =
      app.add_subcommand("keygen", "Create a BIP340 secret key file (mode 0600) and print its public key");
  keygen->add_option("--out", key_out, "Where to write the key file")->required();

  std::string key_in;
  auto* pubkey = app.add_subcommand("pubkey", "Print the public key of a key file");
  pubkey->add_option("--key", key_in, "Key file")->required();

  CLI11_PARSE(app, argc, argv);

  if (*hash) {
    int status = 0;
    for (const auto& f : files) {
      auto digest = crypto::sha256_file(f);
      if (!digest) {
        std::cerr << "cityledger: " << digest.status().to_string() << "\n";
        status = 1;
        continue;
      }
      std::cout << digest->hex() << "  " << f << "\n";
    }
    return status;
  }
  if (*keygen) {
    if (std::filesystem::exists(key_out)) {
      std::cerr << "cityledger: " << key_out << " exists; refusing to overwrite a key\n";
      return 1;
    }
    auto key = crypto::SecretKey::generate();
    if (!key) {
      std::cerr << "cityledger: " << key.status().to_string() << "\n";
      return 1;
    }
    if (Status s = crypto::write_key_file(key_out, *key); !s.ok()) {
      std::cerr << "cityledger: " << s.to_string() << "\n";
      return 1;
    }
    std::cout << key->public_key().hex() << "\n";
    return 0;
  }
  if (*pubkey) {
    auto key = crypto::read_key_file(key_in);
    if (!key) {
      std::cerr << "cityledger: " << key.status().to_string() << "\n";
      return 1;
    }
    std::cout << key->public_key().hex() << "\n";
    return 0;
  }
  return 0;
}
