// The block explorer served at GET /explorer (docs/explorer.md): static HTML,
// CSS and JavaScript from node/explorer/, embedded into the binary at build
// time (node/explorer/embed.cmake). The page talks same-origin JSON-RPC.
#pragma once

#include <string_view>
#include <vector>

#include "rpc/server.hpp"

namespace cityledger::node {

struct ExplorerAsset {
  std::string_view name;  // "index.html", "explorer.js", ...
  std::string_view bytes;
};

// Every embedded file (generated code).
const std::vector<ExplorerAsset>& explorer_assets();

// The answer to GET <target> for a target under /explorer: "/explorer" and
// "/explorer/" are index.html, "/explorer/NAME" an asset (query ignored), with
// its Content-Type; anything else 404.
rpc::HttpResponse explorer_response(std::string_view target);

// The headers of every /explorer answer: a Content-Security-Policy allowing
// only this origin (no inline code), nosniff, no referrer, no caching.
rpc::HttpHeaders explorer_headers();

}  // namespace cityledger::node
