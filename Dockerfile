# cityledger images: one image holds both programs (cityledgerd, cityledger).
#
#   docker build -t cityledger:0.1.0 .
#   docker compose up -d          # docker-compose.yml: a 4-validator network
#
# Stage 1 builds the .deb exactly as CI does (scripts/deps.sh, CMake, CPack);
# stage 2 installs that .deb on debian:bookworm-slim, so the runtime image has
# the package's Depends (the shared libraries dpkg-shlibdeps found) and nothing
# else: no compiler, no headers. docs/operations.md, "Containers".
FROM debian:12 AS build
WORKDIR /src
# Dependencies first: this layer is reused until deps.sh changes.
COPY scripts/deps.sh scripts/deps.sh
RUN ./scripts/deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCITYLEDGER_TESTS=OFF -DCITYLEDGER_BENCH=OFF \
    && ninja -C /build cityledgerd cityledger \
    && cd /build && cpack -G DEB -B /build/packages

FROM debian:bookworm-slim
COPY --from=build /build/packages/*.deb /tmp/
# The postinst creates the cityledger system user and /var/lib/cityledger (0700).
RUN apt-get update \
    && apt-get install -y --no-install-recommends /tmp/cityledger_*.deb \
    && rm -rf /var/lib/apt/lists/* /tmp/*.deb \
    && cityledgerd --version
USER cityledger
WORKDIR /var/lib/cityledger
# The validator home: keys, the double-sign guard, the ledger. Never share it
# between two running containers, and never restore an old copy of it
# (docs/operations.md, "Backups and restore").
VOLUME ["/var/lib/cityledger"]
# p2p 26656 and JSON-RPC 26657 are `cityledgerd init`'s defaults; config.toml decides.
EXPOSE 26656 26657
STOPSIGNAL SIGTERM
ENTRYPOINT ["cityledgerd"]
CMD ["start", "--home", "/var/lib/cityledger"]
