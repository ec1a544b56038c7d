"""Readers (`umedata sql`, the duckdb shell, library queries) keep working while another process ingests."""

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from umedata.warehouse import Warehouse

REPO = Path(__file__).resolve().parent.parent


def test_queries_succeed_during_an_ingest_in_another_process(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "pairs.jsonl", "w") as f:
        for i in range(60_000):
            f.write(json.dumps({"q": f"query {i}", "t": f"target {i % 500}"}) + "\n")
    db = tmp_path / "w.duckdb"
    # The writer leaves the file free for 50 ms after each commit, as a producer reading real media does between
    # batches. Without that its pipelined commits follow each other almost back to back, and on a busy machine a
    # reader (retrying with backoff) could miss every gap and never see the ingest half done.
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from umedata.ingest import ingest_source
        from umedata.sources.config import DatasetSpec, SourceSpec
        from umedata.warehouse import Warehouse

        class Paced(Warehouse):
            def commit(self, batch):
                counts = super().commit(batch)
                time.sleep(0.05)
                return counts

        wh = Paced({str(db)!r}); wh.init()
        print("ready", flush=True)
        spec = SourceSpec(name="big", layout="generic", root=Path({str(src)!r}),
                          datasets=[DatasetSpec(name="Big", path="pairs.jsonl", modality="text", task="retrieval",
                                                split="train", columns={{"qry": "q", "pos": "t"}})])
        print(ingest_source(wh, spec, batch_rows=3_000).as_dict(), flush=True)
    """)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    umedata = [sys.executable, "-m", "umedata"]
    cli_seen: list[int] = []
    cli_errors: list[str] = []

    def cli_reader() -> None:  # the command-line reader, beside the in-process one (each call starts Python)
        while writer.poll() is None:
            out = subprocess.run(umedata + ["sql", "SELECT count(*) AS n FROM pairs", "-f", "json", "-w", str(db)],
                                 capture_output=True, text=True, cwd=REPO)
            if out.returncode:
                cli_errors.append(out.stderr)
            else:
                cli_seen.append(json.loads(out.stdout)[0]["n"])

    thread = threading.Thread(target=cli_reader)
    thread.start()
    seen = []
    wh = Warehouse(db)
    while writer.poll() is None:
        seen.append(wh.sql("SELECT count(*) AS n FROM pairs").column("n")[0].as_py())
    thread.join()
    assert writer.returncode == 0
    assert "'pairs_new': 60000" in writer.stdout.read()
    assert not cli_errors, cli_errors
    assert cli_seen, "the command-line reader ran during the ingest"
    assert seen == sorted(seen) and cli_seen == sorted(cli_seen), "counts only grow"
    assert any(0 < n < 60_000 for n in seen), f"no read landed mid-ingest: {seen}"
    seen += cli_seen
    assert all(n % 3_000 == 0 for n in seen), "a read never sees part of a batch"

    shell = Path(sys.executable).with_name("duckdb")
    if shell.exists():
        out = subprocess.run([str(shell), "-readonly", str(db), "-csv", "-noheader", "-c",
                              "SELECT count(*) FROM pairs; SELECT count(*) FROM pair_overview; SELECT count(*) FROM quarantine"],
                             capture_output=True, text=True, check=True)
        assert out.stdout.split() == ["60000", "60000", "0"]
