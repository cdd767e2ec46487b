# One image for every service: `ticketing serve <service>` picks which (see infra/k8s).
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnats-dev=3.4.* libsqlite3-dev=3.40.* libqrencode-dev=4.1.* pkg-config=1.8.* \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# Dependencies first, so a change to the sources alone does not fetch and build them again.
COPY Package.swift ./
RUN swift package resolve
# Every target the manifest names must be present, test targets included, though only the binary is built.
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product ticketing --static-swift-stdlib \
 && install -D "$(swift build -c release --show-bin-path)/ticketing" /out/ticketing \
 && strip /out/ticketing

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnats3.4=3.4.* libsqlite3-0=3.40.* libqrencode4=4.1.* ca-certificates=20230311* tzdata=202* \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin ticketing
WORKDIR /app
COPY --from=build /out/ticketing /app/ticketing
# The web front end's templates and the API description it shows at /docs, read relative to the working directory.
COPY Resources ./Resources
COPY openapi.yaml ./openapi.yaml
USER 10001:10001
ENV HOST=0.0.0.0 PORT=8080 TICKETING_DATA_DIR=/tmp/ticketing LOG_LEVEL=info
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["/app/ticketing"]
CMD ["serve", "web"]
