"""One helper that hides credentials in any text coldtier shows.

Every message, log line, asset metadata value, exporter label, federated plan and `coldtier config`
line goes through :func:`redact`: a URL's password becomes ``user:***@host``, a secret property
(``s3.secret-access-key=…``, ``password=…``) and the secret argument of ClickHouse's S3 table
functions (``icebergS3('url', 'key', '…')``) become ``***``, and every secret value the process
was given (the passwords in the connection strings, the AWS secret key and session token) is
replaced wherever it appears, also inside another library's error text.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlparse

MASK = "***"

#: Variables that hold a connection string with a possible password.
URL_VARIABLES = ("COLDTIER_WARM_DSN", "COLDTIER_CATALOG_URI", "COLDTIER_DAGSTER_PG_URL")
#: Variables whose whole value is a secret.
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
#: ``key=value,…`` variables whose values are secret when the key looks like Spark's default
#: ``spark.redaction.regex`` (secret, password, token, access.key).
CONF_VARIABLES = ("COLDTIER_SPARK_CONF",)
_SECRET_CONF_KEY = re.compile(r"secret|password|token|access[.]key", re.IGNORECASE)

_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s'\"]*):(?P<password>[^@\s'\"/]+)@")
_SECRET_PROPERTY = re.compile(
    r"(?P<head>(?:s3\.secret-access-key|s3\.session-token|secret[_-]access[_-]key|session[_-]token"
    r"|jdbc\.password|password)['\"]?\s*[=:]\s*['\"]?)(?P<value>[^'\"\s,;}&)]+)",
    re.IGNORECASE,
)
#: ClickHouse's S3 table functions: ``icebergS3('url', 'key id', 'secret', …)``, ``s3(…)``.
_S3_FUNCTION_SECRET = re.compile(
    r"(?P<head>\b(?:icebergS3|icebergS3Cluster|s3|s3Cluster|deltaLake|hudi)\(\s*'[^']*'\s*,\s*'[^']*'\s*,\s*')"
    r"(?P<value>(?:[^'\\]|\\.)+)'",
    re.IGNORECASE,
)
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (``scheme://user:***@host/…``)."""
    return _URL_PASSWORD.sub(lambda match: f"{match.group('head')}:{MASK}@", url)


def secret_values(env: Mapping[str, str] | None = None) -> set[str]:
    """The secret values this process was given: URL passwords (as written and decoded) and AWS secrets."""
    env = os.environ if env is None else env
    secrets: set[str] = set()
    for name in URL_VARIABLES:
        try:
            password = urlparse(env.get(name) or "").password
        except ValueError:
            password = None
        if password:
            secrets.update({password, unquote(password)})
    for name in SECRET_VARIABLES:
        if env.get(name):
            secrets.add(env[name])
    for name in CONF_VARIABLES:
        for item in (env.get(name) or "").split(","):
            key, _, value = item.partition("=")
            if _SECRET_CONF_KEY.search(key) and value.strip():
                secrets.add(value.strip())
    return {secret for secret in secrets if len(secret) >= _MIN_SECRET_LENGTH}


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """``text`` with every credential hidden (URL passwords, secret properties, known secret values)."""
    text = redact_url(text)
    text = _SECRET_PROPERTY.sub(lambda match: f"{match.group('head')}{MASK}", text)
    text = _S3_FUNCTION_SECRET.sub(lambda match: f"{match.group('head')}{MASK}'", text)
    for secret in sorted(secret_values(env), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def install_log_redaction() -> None:
    """Redact every log record of this process (message and traceback) when it is created.

    Log records reach stderr, files, the exporter's log and Dagster's event log (Dagster's
    ``context.log`` is Python logging), so redacting them at creation covers every log line.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error report
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact("".join(traceback.format_exception(record.exc_info[1])).rstrip())
        return record

    factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
