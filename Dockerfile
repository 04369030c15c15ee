# syntax=docker/dockerfile:1
# Build a static gatehouse binary, then ship it alone in a distroless non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/gatehouse ./cmd/gatehouse \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
COPY --from=build --chown=65532:65532 /out/data /data
ENV GATEHOUSE_HTTP_ADDR=:8080 \
    GATEHOUSE_DATA_DIR=/data
USER 65532:65532
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD ["/usr/local/bin/gatehouse", "healthcheck", "http://127.0.0.1:8080/health/ready"]
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
