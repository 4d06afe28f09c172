#include "node/explorer.hpp"

#include <string>

namespace cityledger::node {

namespace {

// Only this origin: scripts and styles from our own files (no inline code),
// JSON-RPC to the node itself; no frames, no forms elsewhere, no plugins.
constexpr std::string_view content_security_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

std::string_view content_type_of(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace

rpc::HttpResponse explorer_response(std::string_view target) {
  std::string_view path = target.substr(0, target.find_first_of("?#"));
  rpc::HttpResponse response;
  std::string_view name;
  if (path == "/explorer" || path == "/explorer/") {
    name = "index.html";
  } else if (path.starts_with("/explorer/")) {
    name = path.substr(std::string_view("/explorer/").size());
  }
  for (const auto& asset : explorer_assets()) {
    if (!name.empty() && asset.name == name) {
      response.content_type = std::string(content_type_of(name));
      response.body = std::string(asset.bytes);
      return response;
    }
  }
  response.status = 404;
  response.body = "not found\n";
  return response;
}

rpc::HttpHeaders explorer_headers() {
  return {{"Content-Security-Policy", std::string(content_security_policy)},
          {"X-Content-Type-Options", "nosniff"},
          {"Referrer-Policy", "no-referrer"},
          {"Cache-Control", "no-cache"}};
}

}  // namespace cityledger::node
