"""The committed R outputs are what tests/analysis/r/reference.R produces today.

Regenerate them (after changing make_data.py or a script) with, from the repository root::

    Rscript tests/analysis/r/reference.R
    Rscript tests/analysis/r/reference_section5.R

This test reruns each script into a temporary directory and compares every output with the
committed one; it is skipped where ``Rscript`` or R's ``survey`` package is missing.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from .conftest import R_DIR

SCRIPTS = {
    "reference.R": (
        "reference_estimates.csv",
        "reference_mean_of_items.csv",
        "reference_svyby.csv",
        "reference_weights.csv",
    ),
    "reference_section5.R": (
        "reference_change.csv",
        "reference_below.csv",
        "reference_drivers.csv",
    ),
}


def _has_survey() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(
        ["Rscript", "-e", "quit(status = !requireNamespace('survey', quietly = TRUE))"],
        capture_output=True,
        timeout=120,
    )
    return probe.returncode == 0


@pytest.mark.r
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_committed_r_outputs_are_reproduced(script, tmp_path):
    if not _has_survey():
        pytest.skip("Rscript with the survey package is not installed")
    completed = subprocess.run(
        ["Rscript", str(R_DIR / script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    for name in SCRIPTS[script]:
        committed = pd.read_csv(R_DIR / name, dtype=str, keep_default_na=False)
        fresh = pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False)
        assert list(fresh.columns) == list(committed.columns), name
        assert len(fresh) == len(committed), name
        for column in committed.columns:
            old = pd.to_numeric(committed[column].replace("", np.nan), errors="coerce")
            new = pd.to_numeric(fresh[column].replace("", np.nan), errors="coerce")
            if old.notna().any():
                np.testing.assert_allclose(
                    new.to_numpy(float), old.to_numpy(float), rtol=1e-9, atol=1e-12,
                    err_msg=f"{name}:{column}",
                )
            else:
                assert list(fresh[column]) == list(committed[column]), f"{name}:{column}"
