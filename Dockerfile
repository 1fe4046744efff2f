# LeadSync service image: runs `leadsync run` as an unprivileged user.
#   docker build -t leadsync .
#   docker run -v $PWD/leadsync.toml:/etc/leadsync/leadsync.toml:ro \
#              -e LEADSYNC_TOKEN=... -e SF_CLIENT_SECRET=... -p 8080:8080 leadsync
# Secrets come from the environment: the TOML file names them as ${VAR}.
#
# Behind a TLS-intercepting proxy, hand pip the proxy's CA as a build secret (it stays out of
# the image):  DOCKER_BUILDKIT=1 docker build --secret id=pip_ca,src=/path/ca.crt -t leadsync .
# PYTHON_IMAGE may name any Debian-based image with python3 >= 3.11 and its venv module.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY leadsync ./leadsync
COPY connectors ./connectors
COPY sandboxes ./sandboxes
COPY mappings ./mappings
COPY jobs ./jobs
# One virtualenv holds LeadSync and its dependencies; the runtime stage copies it whole, so
# the image carries no compiler, no wheel cache and no pip download state.
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
 && python3 -m venv /opt/leadsync \
 && /opt/leadsync/bin/pip install --no-cache-dir --disable-pip-version-check . \
 && /opt/leadsync/bin/leadsync --help > /dev/null

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 leadsync \
 && useradd --system --uid 10001 --gid leadsync --home-dir /data --create-home leadsync
COPY --from=build /opt/leadsync /opt/leadsync
ENV PATH=/opt/leadsync/bin:$PATH \
    LEADSYNC_CONFIG=/etc/leadsync/leadsync.toml \
    PYTHONUNBUFFERED=1
WORKDIR /data
USER leadsync
EXPOSE 8080
# /healthz answers without the access token (it says the process serves; /readyz checks the
# store). `leadsync healthcheck` asks the port [service] in the config names.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["leadsync", "healthcheck", "--timeout", "4"]
ENTRYPOINT ["leadsync"]
CMD ["run"]
