# cohortbot on a slim Python 3.11 image, as a non-root user.
# The install step is the Makefile's (`pip install .`), so CI exercises the same path.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    COHORTBOT_WEB_HOST=0.0.0.0 \
    COHORTBOT_WEB_PORT=8080 \
    COHORTBOT_DATABASE_URL=sqlite+aiosqlite:////data/cohortbot.db

RUN useradd --create-home --uid 10001 cohortbot && mkdir /data && chown cohortbot /data
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY bot ./bot
COPY cogs ./cogs
COPY cohortlab ./cohortlab
COPY migrations ./migrations
COPY examples ./examples
RUN python -m pip install --upgrade pip && python -m pip install .

USER cohortbot
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz').status == 200 else 1)"
CMD ["sh", "-c", "cohortbot migrate && exec cohortbot run"]
