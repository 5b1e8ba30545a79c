# Builds skiff in a builder stage and ships the one binary in a small runtime stage.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make build

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates iptables \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/bin/skiff /usr/local/bin/skiff
VOLUME /var/lib/skiff
EXPOSE 6443
ENTRYPOINT ["/usr/local/bin/skiff"]
CMD ["server"]
