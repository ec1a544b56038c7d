"""API keys named by secret: the library reads them only through the loader its caller passes (the annotate flow's
reads Prefect Secret blocks), the key reaches the server, and it is kept nowhere — not in a warehouse row, a file
beside the warehouse, the run summary or a log line. Without a loader such a config is a clear user error."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import teacher_helpers as th
from openai_server import OpenAIServer, Script

from umedata.errors import UserError
from umedata.teacher.annotate import make_run
from umedata.teacher.credentials import MissingCredential


def _everything_in(wh) -> str:
    tables = wh.sql("SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'").column(0)
    return "\n".join(str(wh.sql(f'SELECT * FROM "{t}"').to_pylist()) for t in tables.to_pylist())


def test_a_named_secret_is_read_by_the_callers_loader_and_kept_nowhere(warehouse, tmp_path, caplog):
    secret = f"sk-loader-{uuid.uuid4().hex}"
    asked: list[str] = []

    def loader(name: str) -> str:
        asked.append(name)
        return secret

    n_sides = len(th.seed(warehouse, tmp_path, n_pairs=6, images=False)["sides"])
    caplog.set_level(logging.DEBUG)
    with OpenAIServer(Script(latency_s=0.001, require_key=secret)) as srv:
        cfg = th.config(srv.url, endpoint={"api_key_secret": "teacher-endpoint-key"})
        run = make_run(warehouse, cfg, secret_loader=loader)
        summary = run.run()
        assert srv.stats.auth_failures == 0  # the loader's key reached the server
    assert asked == ["teacher-endpoint-key"]  # read once, by name, through the loader
    assert summary.ok == n_sides
    places = {
        "warehouse tables": _everything_in(warehouse),
        "run summary": json.dumps(summary.as_dict(), default=str),
        "config as recorded": json.dumps(cfg.public(), default=str),
        "logs": caplog.text,
    }
    for where, text in places.items():
        assert secret not in text, where
    for path in warehouse.path.parent.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_named_secret_without_a_loader_is_a_user_error_before_any_lease(warehouse, tmp_path, monkeypatch, capsys):
    from umedata.cli import main

    th.seed(warehouse, tmp_path, n_pairs=3, images=False)
    monkeypatch.delenv("UMEDATA_TEST_TEACHER_KEY", raising=False)
    cfg = th.config("http://127.0.0.1:9/v1", endpoint={"api_key_secret": "teacher-endpoint-key"})
    with pytest.raises(MissingCredential) as err:
        make_run(warehouse, cfg).run()
    assert isinstance(err.value, UserError)
    assert "annotate flow" in str(err.value) and "teacher-endpoint-key" in str(err.value)
    # an env var named beside the secret is what the message points to
    both = th.config("http://127.0.0.1:9/v1",
                     endpoint={"api_key_secret": "teacher-endpoint-key", "api_key_env": "UMEDATA_TEST_TEACHER_KEY"})
    with pytest.raises(MissingCredential, match=r"\$UMEDATA_TEST_TEACHER_KEY"):
        make_run(warehouse, both).run()
    assert warehouse.sql("SELECT count(*) AS n FROM teacher_requests")["n"][0].as_py() == 0
    # on the command line: one line, exit status 2
    toml = th.toml_config(tmp_path / "t.toml", "http://127.0.0.1:9/v1",
                          endpoint={"api_key_secret": "teacher-endpoint-key"})
    with pytest.raises(SystemExit) as exit_:
        main(["annotate", "-c", str(toml), "-w", str(warehouse.path), "--no-progress"])
    assert exit_.value.code == 2
    assert "annotate flow" in capsys.readouterr().err
