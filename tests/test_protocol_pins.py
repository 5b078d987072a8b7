from pathlib import Path

import yaml

from snnbench.eval_subsets import subset_info
from snnbench.files import sha256_file

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_yaml_pins_the_bundled_subsets():
    pins = yaml.safe_load((ROOT / "benchmarks.yaml").read_text())["subsets"]
    assert pins, "benchmarks.yaml pins no evaluation subset"
    for name, pin in pins.items():
        info = subset_info(name)
        assert (pin["dataset"], pin["split"], pin["first"]) == (info.dataset, info.split, info.first)
        assert pin["sha256"] == info.sha256 == sha256_file(info.path)
