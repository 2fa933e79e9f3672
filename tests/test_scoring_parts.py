"""Scoring in parts of whole schools (ontrack/scoring/parts.py, issue 17 item 1): what a
task runner is given scores the same roster, reasons and contributions as one process,
and a part never scores with another champion than the one the run named."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from ontrack.reports.publish import publish_part
from shared_outputs import clone_output

from ontrack.modeling.bundle import ModelIntegrityError
from ontrack.scoring.parts import ScoringPart, score_part, scoring_parts
from ontrack.scoring.run import score_model


def test_parts_hold_whole_schools_and_every_row_once() -> None:
    from ontrack.config import config_from_dict

    config = config_from_dict({"resources": {"feature_part_rows": 100}})
    cohort = pd.DataFrame({"school_id": ["b"] * 40 + ["a"] * 30 + ["c"] * 20 + ["d"] * 10 + ["a"] * 5})
    kwargs = {"model": "grade8", "as_of": pd.Timestamp("2025-01-31").date(), "version": "3"}
    one = scoring_parts(cohort, config, many=False, **kwargs)
    assert len(one) == 1 and list(one[0].positions) == list(range(len(cohort)))
    parts = scoring_parts(cohort, config, many=True, **kwargs)
    assert len(parts) == 2, "105 rows in parts of at most 100 rows: two, of whole schools"
    assert sorted(p for part in parts for p in part.positions) == list(range(len(cohort)))
    assert not set(parts[0].cohort["school_id"]) & set(parts[1].cohort["school_id"])
    assert all(list(part.cohort.index) == list(part.positions) for part in parts), "rows in cohort order"
    alone = scoring_parts(cohort[cohort["school_id"] == "a"], config, many=True, **kwargs)
    assert [len(p.cohort) for p in alone] == [35], "one school is one part"


def test_scores_computed_in_parts_equal_one_process(trained_grade8: dict, tmp_path: Path) -> None:
    config = trained_grade8["config"]
    here = score_model(clone_output(trained_grade8["out"], tmp_path / "here"), config, model="grade8")
    runner = clone_output(trained_grade8["out"], tmp_path / "runner")
    sent: list[ScoringPart] = []

    def wave(parts: list) -> list:
        sent.extend(parts)
        return [publish_part(runner, config, part) for part in parts]  # each loads the champion itself

    there = score_model(runner, config, model="grade8", run_wave=wave)
    assert len(sent) >= 2 and all(isinstance(p, ScoringPart) for p in sent)
    assert here.run["ranked_by"] == there.run["ranked_by"] == "model"
    pd.testing.assert_frame_equal(there.roster, here.roster)
    pd.testing.assert_frame_equal(there.reasons, here.reasons)
    pd.testing.assert_frame_equal(there.contributions, here.contributions)
    assert there.base_value == here.base_value

    stale = replace(sent[0], version="999")  # the champion the run named is not the registry's now
    with pytest.raises(ModelIntegrityError, match="must stay version 999 for the whole scoring run. "
                                                  r"Got version \d+ instead"):
        score_part(runner, config, stale)
