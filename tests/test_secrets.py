import io
import json
import logging
import os
import stat
from pathlib import Path

import pytest
import structlog

from annexd.errors import ConfigError, InvalidInputError
from annexd.redaction import MASK, KnownSecrets, RedactingLogFilter, Secret, redact_secrets, redact_url
from annexd.secrets import FileSecretBackend, MasterKey, SecretRef, SecretStore, resolve

VALUE = "s3cr3t-Value-42"


@pytest.fixture
def store(tmp_path: Path) -> SecretStore:
    return SecretStore(FileSecretBackend(tmp_path / "state" / "secrets.json"),
                       MasterKey.load_or_create(tmp_path / "state" / "master.key"))


def test_master_key_created_with_mode_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "master.key"
    first = MasterKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = first.fernet.encrypt(b"x")
    assert MasterKey.load_or_create(path).fernet.decrypt(token) == b"x"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_master_key_with_loose_permissions_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    MasterKey.load_or_create(path)
    os.chmod(path, mode)
    with pytest.raises(ConfigError, match="chmod 600") as exc:
        MasterKey.load_or_create(path)
    assert f"{mode:04o}" in str(exc.value)


def test_master_key_garbage_and_symlink_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    fd = os.open(bad, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not a key")
    os.close(fd)
    with pytest.raises(ConfigError, match="valid key"):
        MasterKey.load_or_create(bad)
    link = tmp_path / "link.key"
    link.symlink_to(bad)
    with pytest.raises(ConfigError, match="regular file"):
        MasterKey.load_or_create(link)


def test_store_roundtrip_and_file_mode(store: SecretStore, tmp_path: Path) -> None:
    store.set("plex_token", VALUE)
    store.set("other", "another-value")
    path = tmp_path / "state" / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert VALUE not in path.read_text()
    assert store.get("plex_token").reveal() == VALUE
    assert store.names() == ["other", "plex_token"]
    assert sorted(store.values()) == sorted([VALUE, "another-value"])
    store.delete("other")
    assert store.get("other") is None and store.names() == ["plex_token"]
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_ciphertext_bound_to_name_and_key(store: SecretStore, tmp_path: Path) -> None:
    token = store.encrypt("a", VALUE)
    assert store.decrypt(token) == VALUE
    store.backend.put("b", token)
    with pytest.raises(ConfigError, match="another name"):
        store.get("b")
    other = SecretStore(store.backend, MasterKey.load_or_create(tmp_path / "other.key"))
    with pytest.raises(ConfigError, match="cannot be decrypted") as exc:
        other.decrypt(token, "a")
    assert VALUE not in str(exc.value)


@pytest.mark.parametrize("name", ["", "../x", "a b", "x" * 65, "-lead"])
def test_invalid_names(store: SecretStore, name: str) -> None:
    with pytest.raises(InvalidInputError):
        store.set(name, VALUE)


def test_too_short_values_refused(store: SecretStore) -> None:
    with pytest.raises(InvalidInputError, match="shorter than"):
        store.set("short", "abc")
    assert store.names() == []


def test_secret_wrapper_never_prints() -> None:
    secret = Secret(VALUE)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret]),
                 repr({"k": secret})):
        assert VALUE not in text and MASK in text
    assert secret.reveal() == VALUE and secret == Secret(VALUE) and secret != Secret("other")


def test_refs(store: SecretStore, tmp_path: Path) -> None:
    store.set("idx", VALUE)
    f = tmp_path / "tok"
    f.write_text(VALUE + "\n")
    assert resolve("secret:idx", store=store).reveal() == VALUE
    assert resolve("env:TOK", environ={"TOK": VALUE}).reveal() == VALUE
    assert resolve(f"file:{f}").reveal() == VALUE
    assert resolve(VALUE).reveal() == VALUE
    assert VALUE not in repr(SecretRef.parse(VALUE))
    assert SecretRef.parse("env:X") == SecretRef("env", "X")
    for ref, match in [("secret:missing", "annexd secret set missing"), ("env:NOPE", "not set"),
                       (f"file:{tmp_path}/nope", "cannot be read"), ("env:", "empty")]:
        with pytest.raises(ConfigError, match=match):
            resolve(ref, store=store, environ={})
    with pytest.raises(ConfigError, match="no secret store"):
        resolve("secret:idx")


@pytest.mark.parametrize("url, hidden", [
    ("http://idx/api?t=search&apikey=ABCDEF&q=x", "ABCDEF"),
    ("http://idx/api?api_key=ABCDEF", "ABCDEF"),
    ("http://plex:32400/library/sections?X-Plex-Token=ABCDEF", "ABCDEF"),
    ("http://h/?token=ABCDEF#frag", "ABCDEF"),
    ("http://h/login?user=u&password=ABCDEF", "ABCDEF"),
    ("https://user:ABCDEF@host/path", "ABCDEF"),
])
def test_redact_url(url: str, hidden: str) -> None:
    redacted = redact_url(url)
    assert hidden not in redacted and MASK in redacted


def test_redact_url_keeps_other_params() -> None:
    assert redact_url("http://idx/api?t=search&q=x&apikey=K1") == f"http://idx/api?t=search&q=x&apikey={MASK}"


def test_secret_never_in_structlog_output(store: SecretStore) -> None:
    store.set("plex", VALUE)
    out = io.StringIO()
    saved = structlog.get_config()
    structlog.configure(
        processors=[structlog.processors.format_exc_info, redact_secrets(store.known.values),
                    structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(out), cache_logger_on_first_use=False)
    try:
        log = structlog.get_logger("test")
        log.info("calling", url=f"http://plex/?X-Plex-Token={VALUE}", headers={"X-Plex-Token": VALUE},
                 args=[VALUE, 1], secret=Secret(VALUE), note=f"token is {VALUE}!")
        try:
            raise RuntimeError(f"failed with {VALUE}")
        except RuntimeError:
            log.exception("boom")
    finally:
        structlog.configure(**saved)
    text = out.getvalue()
    assert VALUE not in text
    assert text.count(MASK) >= 6
    first = json.loads(text.splitlines()[0])
    assert first["args"] == [MASK, 1] and first["note"] == f"token is {MASK}!"


def test_redacting_stdlib_filter(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("annexd.test.redact")
    logger.addFilter(RedactingLogFilter([VALUE]))
    with caplog.at_level(logging.INFO, logger="annexd.test.redact"):
        logger.info("GET %s", f"http://h/x?apikey=zzz&v={VALUE}")
    assert VALUE not in caplog.text and "zzz" not in caplog.text


def test_known_secrets_collects_resolved_and_stored_values(store: SecretStore, tmp_path: Path) -> None:
    known = KnownSecrets()
    resolve("env:A", environ={"A": "from-env-value"}, known=known)
    resolve("a-literal-value", known=known)
    store.set("s", VALUE)
    assert {"from-env-value", "a-literal-value"} <= known.values()
    assert VALUE in store.known.values()
    assert VALUE not in repr(known) and VALUE not in repr(store)
    fresh = SecretStore(store.backend, MasterKey.load_or_create(tmp_path / "state" / "master.key"))
    assert VALUE not in fresh.known.values()
    fresh.get("s")  # reading a secret makes it known
    assert VALUE in fresh.known.values()
    event = redact_secrets(known.values)(None, "info", {"event": "x from-env-value a-literal-value"})
    assert event["event"] == f"x {MASK} {MASK}"
