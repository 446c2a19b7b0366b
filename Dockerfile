# Corridors service image: slim Python, non-root, same install as the README.

# Leaflet for the planner map, from the npm registry (never a CDN at run time).
FROM node:20-slim AS web
WORKDIR /web
COPY src/corridors/web/package.json src/corridors/web/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CORRIDORS_DATA_DIR=/var/lib/corridors \
    CORRIDORS_HOST=0.0.0.0 \
    CORRIDORS_PORT=8000

RUN useradd --system --create-home --home-dir /home/corridors corridors \
    && mkdir -p /var/lib/corridors && chown corridors /var/lib/corridors

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY data ./data
COPY --from=web /web/node_modules ./src/corridors/web/node_modules
RUN python -m pip install -e .

USER corridors
EXPOSE 8000
VOLUME ["/var/lib/corridors"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
CMD ["corridors", "serve"]
