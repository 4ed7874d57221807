# sentiflow's image: the package and its command line; compose.yaml runs it as api, worker
# and the one-shot migration.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && useradd --create-home sentiflow \
    && mkdir -p /run/sentiflow-metrics && chown sentiflow /run/sentiflow-metrics
USER sentiflow
EXPOSE 8000
CMD ["sentiflow", "api", "--host", "0.0.0.0"]
