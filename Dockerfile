# The image of the ordering system's processes: `python -m worker` (default),
# `python -m consumer` and `python -m db migrate`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
        --shell /usr/sbin/nologin app

WORKDIR /app

# The locked dependencies first, in a layer of their own that code changes do not rebuild.
COPY requirements/runtime.lock requirements/runtime.lock
RUN pip install --no-cache-dir --require-hashes -r requirements/runtime.lock

COPY pyproject.toml README.md ./
COPY schemas/ schemas/
COPY db/ db/
COPY consumer/ consumer/
COPY worker/ worker/
COPY runtime/ runtime/
COPY tools/ tools/

# The lock holds the tracing extra too, so TRACING_ENABLED=true needs no other image.
# The processes run the code under /app, which the app user cannot write to: its bytecode is
# compiled here, or the workflow sandbox would compile the workflow module for every new run.
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf build ./*.egg-info \
    && python -m compileall -q schemas db consumer worker runtime tools/ops

USER app

CMD ["python", "-m", "worker"]
