"""lib.naming: colliding output names get unique deterministic names, or a reject naming the other input."""

import pytest

from dataprep_assets.lib.naming import (
    COLLISION_REASON,
    assert_unique_names,
    find_collisions,
    reject_collisions,
    unique_names,
)
from dataprep_assets.lib.rejects import RejectLog


def test_colliding_output_names_get_unique_deterministic_names_or_a_reject_naming_the_other():
    claims = {"competitor A": "competitor_A", "competitor_A": "competitor_A", "B": "b.png", "b": "B.png", "C": "c.png"}
    assert [c.inputs for c in find_collisions(claims.items())] == [("B", "b"), ("competitor A", "competitor_A")]
    names = unique_names(claims)
    assert len({n.casefold() for n in names.values()}) == 5 and names["C"] == "c.png"
    assert names["B"].startswith("b__") and names["B"].endswith(".png")
    assert unique_names(dict(reversed(list(claims.items())))) == names
    rejects = RejectLog()
    kept = reject_collisions(claims, rejects, "write")
    assert sorted(kept) == ["B", "C", "competitor A"]
    assert sorted((r.item, r.reason) for r in rejects) == [("b", COLLISION_REASON), ("competitor_A", COLLISION_REASON)]
    assert all("competitor A" in r.detail or "'B'" in r.detail for r in rejects)
    with pytest.raises(ValueError, match="claimed by several inputs"):
        assert_unique_names(claims.items(), "crops")


def test_unique_names_never_collide_with_a_name_that_already_has_the_suffix():
    first = unique_names({"x": "a.png", "y": "a.png"})
    crafted = {"x": "a.png", "y": "a.png", "z": first["x"]}
    names = unique_names(crafted)
    assert len({n.casefold() for n in names.values()}) == 3
