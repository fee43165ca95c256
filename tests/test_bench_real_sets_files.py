"""The real-sets benchmark records which files it matched, and says when a re-run's files differ."""

from __future__ import annotations

import json
from pathlib import Path

from bench.bench_real_sets import changed_since, file_digests


def test_a_re_recorded_file_is_counted_per_set_and_an_old_report_says_nothing(tmp_path: Path) -> None:
    for name, data in (("gm/a.wav", b"gm a"), ("zyn/b.wav", b"zyn b"), ("zyn/c.wav", b"zyn c")):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    files = sorted(tmp_path.glob("*/*.wav"))
    digests = file_digests(files)
    assert sorted(digests) == ["gm/a.wav", "zyn/b.wav", "zyn/c.wav"] and len(set(digests.values())) == 3
    report = tmp_path / "real_sets.json"
    report.write_text(json.dumps({"files": digests}))
    assert changed_since(report, digests) == {}
    (tmp_path / "zyn/c.wav").write_bytes(b"zyn c, recorded again")
    assert changed_since(report, file_digests(files)) == {"zyn": 1}
    (tmp_path / "zyn/d.wav").write_bytes(b"zyn d, never measured")  # not in the report: not counted as changed
    assert changed_since(report, file_digests(sorted(tmp_path.glob("*/*.wav")))) == {"zyn": 1}
    report.write_text(json.dumps({"rows": []}))  # a report from before the digests: nothing to compare
    assert changed_since(report, file_digests(files)) == {}
    assert changed_since(tmp_path / "missing.json", digests) == {}
