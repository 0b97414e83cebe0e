# Builds the `edgebridge` binary (every role, the dashboard embedded) into a small runtime image.

# The dashboard (web/): its API types come from openapi/openapi.json.
FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY openapi /src/openapi
COPY web ./
RUN npm run build

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY services ./services
COPY migrations ./migrations
COPY openapi ./openapi
COPY tests ./tests
COPY --from=web /src/web/dist ./web/dist
RUN cargo build --release -p edgebridge --bin edgebridge

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 edgebridge
COPY --from=build /src/target/release/edgebridge /usr/local/bin/edgebridge
USER edgebridge
ENV EDGEBRIDGE_LISTEN=0.0.0.0:8080 \
    EDGEBRIDGE_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["edgebridge"]
CMD ["api"]
