// A validator's TLS identity: an Ed25519 key and a self-signed certificate.
// Peers authenticate each other by pinning the certificate's public key
// (SHA-256 of its DER SubjectPublicKeyInfo) in genesis.json, not by a CA.
#pragma once

#include <filesystem>
#include <string>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace cityledger::node {

// Writes tls.key (PEM, mode 0600) and tls.crt (PEM) and returns the pin.
Result<Hash32> generate_tls_identity(const std::filesystem::path& key_path,
                                     const std::filesystem::path& cert_path, const std::string& common_name);

// The pin of a PEM certificate file.
Result<Hash32> tls_pin_of_certificate(const std::filesystem::path& cert_path);

}  // namespace cityledger::node
