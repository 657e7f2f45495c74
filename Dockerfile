# cascadeserve image: the Open Inference Protocol on 0.0.0.0, REST on 8080 and gRPC on 8081
# (KServe's conventions), as a non-root user, the embedded Fashion-MNIST demo as its default
# plan. Build: see docs/deploy.md (no registry reachable: a local Debian 13 base image).
#
# Stage 1 builds the addon and the TypeScript with the README's own commands (`npm install`);
# stage 2 holds only what serving needs: Node.js, the production dependencies, the compiled
# JavaScript, the prebuilt addon with its ONNX Runtime library and licence (prebuilds/, as the
# npm package ships them), the gRPC service's .proto and the demo models. scripts/dockerfile-steps.mjs runs these steps without a
# container engine (test/deploy-dockerfile.test.ts).
ARG BASE_IMAGE=debian:trixie-slim

FROM ${BASE_IMAGE} AS build
# Debian 13: Node.js 20, and ONNX Runtime's C headers as a package (setup.mjs finds them).
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm cmake make g++ ca-certificates libonnxruntime-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN npm install
RUN npm run prebuild
RUN npm prune --omit=dev

FROM ${BASE_IMAGE} AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends nodejs \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home cascadeserve
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/ts ./dist/ts
COPY --from=build /src/dist/bindings ./dist/bindings
COPY --from=build /src/dist/planner ./dist/planner
COPY --from=build /src/prebuilds ./prebuilds
COPY --from=build /src/proto ./proto
COPY --from=build /src/models/fmnist ./models/fmnist
USER 10001:10001
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/v2/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/ts/cli/bin.js"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--grpc-port", "8081"]
