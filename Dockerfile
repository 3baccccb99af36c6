# dicebox server image: the sensory service (default command), batch processors and evolution
# workers: the server and trainer roles. No GUI: Qt and matplotlib are left out; TensorFlow is in
# (training, /api/classify with a bundle; onnxruntime for an exported kit).
#
#   docker build -t dicebox .
#   docker run -d -p 5000:5000 -v dicebox-data:/data -e DICEBOX_API_ACCESS_KEY=change-me dicebox
#   docker run ... dicebox batch-processor --data-dir /data     (with DICEBOX_BROKER_URL set)
#   docker run ... dicebox worker --data-dir /data              (with DICEBOX_BROKER_URL set)
#
# docker-compose.yml runs the whole stack (RabbitMQ, service, processors, workers); see
# packaging/README.md.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# .dockerignore lets in only what `pip install .` needs.
COPY . .
# A virtualenv at its final path, copied whole into the runtime stage: no source tree, no build
# leftovers in the image. The server and trainer roles' requirements (service, batch processors,
# evolution workers; no Qt, no matplotlib), pinned by requirements/constraints.txt, then dicebox
# itself without dependencies (README, Install).
RUN python -m venv /opt/dicebox \
 && /opt/dicebox/bin/pip install -c requirements/constraints.txt -r requirements/server.txt -r requirements/trainer.txt \
 && /opt/dicebox/bin/pip install --no-deps . \
 && /opt/dicebox/bin/pip uninstall -y pip setuptools wheel \
 && /opt/dicebox/bin/dicebox --version


FROM python:3.11-slim
LABEL org.opencontainers.image.title="dicebox" \
      org.opencontainers.image.description="dicebox sensory service, batch processor and evolution worker" \
      org.opencontainers.image.licenses="MIT"
# An unprivileged user that owns only the data volume.
RUN groupadd --system --gid 10001 dicebox \
 && useradd --system --uid 10001 --gid dicebox --home-dir /data --no-create-home --shell /usr/sbin/nologin dicebox \
 && mkdir /data \
 && chown dicebox:dicebox /data
COPY --from=build /opt/dicebox /opt/dicebox
# DICEBOX_HOME: the data folder when --data-dir is not given (the API key file lives there).
# KERAS_HOME: Keras writes its keras.json there instead of ~/.keras.
ENV PATH=/opt/dicebox/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DICEBOX_HOME=/data \
    KERAS_HOME=/data/keras \
    DICEBOX_LISTENING_PORT=5000 \
    TF_CPP_MIN_LOG_LEVEL=2
VOLUME ["/data"]
USER dicebox
WORKDIR /data
EXPOSE 5000
# /health/plain answers the JSON literal true. Python's urllib: the slim image has no curl.
# Containers running batch-processor or worker have no HTTP server: compose disables the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/health/plain' % os.environ.get('DICEBOX_LISTENING_PORT', '5000'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).read().strip() == b'true' else 1)"]
ENTRYPOINT ["dicebox"]
# The API key comes from DICEBOX_API_ACCESS_KEY; without it one is generated into /data/api_key.
CMD ["serve", "--host", "0.0.0.0", "--data-dir", "/data"]
