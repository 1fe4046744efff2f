# LeadSync service image: runs `leadsync run` as an unprivileged user.
#   docker build -t leadsync .
#   docker run -v $PWD/leadsync.toml:/etc/leadsync/leadsync.toml:ro \
#              -e LEADSYNC_TOKEN=... -e SF_CLIENT_SECRET=... -p 8080:8080 leadsync
# Secrets come from the environment: the TOML file names them as ${VAR}.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY leadsync ./leadsync
COPY connectors ./connectors
COPY mappings ./mappings
COPY jobs ./jobs
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 leadsync \
 && useradd --system --uid 10001 --gid leadsync --home-dir /data --create-home leadsync
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
ENV LEADSYNC_CONFIG=/etc/leadsync/leadsync.toml \
    PYTHONUNBUFFERED=1
WORKDIR /data
USER leadsync
EXPOSE 8080
# /healthz answers without the access token (it says the process serves; /readyz checks the store).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["leadsync"]
CMD ["run"]
