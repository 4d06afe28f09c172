#include "node/tls_identity.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "crypto/sha256.hpp"

namespace cityledger::node {

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct FileClose {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

Result<Hash32> pin_of(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int size = i2d_PUBKEY(key, &der);
  if (size <= 0) return error(ErrorCode::internal, "cannot encode TLS public key");
  const Hash32 pin = crypto::sha256(ByteSpan{der, static_cast<std::size_t>(size)});
  OPENSSL_free(der);
  return pin;
}

std::unique_ptr<std::FILE, FileClose> open_for_write(const std::filesystem::path& path, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return nullptr;
  if (::fchmod(fd, mode) != 0) {
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<std::FILE, FileClose>(::fdopen(fd, "w"));
}

}  // namespace

Result<Hash32> generate_tls_identity(const std::filesystem::path& key_path,
                                     const std::filesystem::path& cert_path, const std::string& common_name) {
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return error(ErrorCode::internal, "cannot generate an Ed25519 TLS key");
  std::unique_ptr<X509, X509Free> cert(X509_new());
  if (!cert) return error(ErrorCode::internal, "cannot allocate a certificate");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60 * 60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * 365 * 20);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_sign(cert.get(), key.get(), nullptr) == 0)
    return error(ErrorCode::internal, "cannot sign certificate");

  auto key_file = open_for_write(key_path, 0600);
  if (!key_file) return error(ErrorCode::io_error, "cannot write " + key_path.string());
  if (PEM_write_PrivateKey(key_file.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      std::fflush(key_file.get()) != 0 || ::fsync(::fileno(key_file.get())) != 0) {
    return error(ErrorCode::io_error, "cannot write " + key_path.string());
  }
  auto cert_file = open_for_write(cert_path, 0644);
  if (!cert_file) return error(ErrorCode::io_error, "cannot write " + cert_path.string());
  if (PEM_write_X509(cert_file.get(), cert.get()) != 1 || std::fflush(cert_file.get()) != 0 ||
      ::fsync(::fileno(cert_file.get())) != 0) {
    return error(ErrorCode::io_error, "cannot write " + cert_path.string());
  }
  return pin_of(key.get());
}

Result<Hash32> tls_pin_of_certificate(const std::filesystem::path& cert_path) {
  std::unique_ptr<std::FILE, FileClose> file(std::fopen(cert_path.c_str(), "r"));
  if (!file) return error(ErrorCode::io_error, "cannot open " + cert_path.string());
  std::unique_ptr<X509, X509Free> cert(PEM_read_X509(file.get(), nullptr, nullptr, nullptr));
  if (!cert) return error(ErrorCode::invalid_argument, cert_path.string() + " is not a PEM certificate");
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  if (key == nullptr) return error(ErrorCode::invalid_argument, cert_path.string() + " has no public key");
  return pin_of(key);
}

}  // namespace cityledger::node
