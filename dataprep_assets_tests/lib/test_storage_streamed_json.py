"""`StreamedJsonWriter` writes the bytes `atomic_write_json` writes for the whole payload (sorted keys, indent 2,
non-ASCII kept, `default=str`), with the lists fed item by item; on an error nothing is written."""

import random

import pytest

from dataprep_assets.lib.storage import StreamedJsonWriter, atomic_write_json


def _value(rnd: random.Random, depth: int = 0):
    kinds = [
        lambda: rnd.random() * 1000,
        lambda: rnd.randrange(-5, 5),
        lambda: rnd.choice(["a", 'é\n"x', "", "日本", "\\"]),
        lambda: None,
        lambda: rnd.choice([True, False]),
        lambda: [_value(rnd, depth + 1) for _ in range(rnd.randrange(3))],
        lambda: {rnd.choice("abcé"): _value(rnd, depth + 1) for _ in range(rnd.randrange(3))},
    ]
    return kinds[rnd.randrange(len(kinds) if depth < 3 else 5)]()


def test_streamed_json_is_byte_identical_to_the_whole_payload(tmp_path):
    rnd = random.Random(0)
    for _ in range(200):
        fixed = {k: _value(rnd) for k in rnd.sample(["info", "categories", "zeta", "a"], rnd.randrange(4))}
        lists = {k: [_value(rnd) for _ in range(rnd.randrange(4))] for k in rnd.sample(["annotations", "images"], 2)}
        lists = {k: v for k, v in lists.items() if k not in fixed}
        atomic_write_json(tmp_path / "whole.json", {**fixed, **lists})
        with StreamedJsonWriter(tmp_path / "streamed.json", fixed, list(lists)) as writer:
            for key, items in lists.items():
                for item in items:
                    writer.add(key, item)
        assert (tmp_path / "streamed.json").read_bytes() == (tmp_path / "whole.json").read_bytes()


def test_streamed_json_writes_nothing_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError), StreamedJsonWriter(tmp_path / "out.json", {"info": {}}, ["images"]) as writer:
        writer.add("images", {"id": 0})
        raise RuntimeError("a worker failed")
    assert list(tmp_path.iterdir()) == []
