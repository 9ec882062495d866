"""Replacement names (teacher/substitutes.py): generated ones and ones read from a name map."""

import pytest

from causal_unlearn.core.errors import UserError
from causal_unlearn.teacher.substitutes import generated_names, names_from_map


def test_generated_names_are_deterministic_distinct_and_absent_from_the_document():
    document = "Harlan J. Whitcombe met John Smith in Varnholt."
    names = generated_names("Harlan J. Whitcombe", 40, seed=42, document=document)
    assert names == generated_names("Harlan J. Whitcombe", 40, seed=42, document=document)
    assert len(set(names)) == 40 and all(len(n.split()) == 3 for n in names)
    assert not any(word in document for name in names for word in name.split())
    assert generated_names("Harlan J. Whitcombe", 5, seed=7, document=document) != names[:5]


def test_name_map_errors_name_the_fix():
    with pytest.raises(UserError, match="has no replacement names"):
        names_from_map({"A B": ["C D"]}, "X Y", 1, "map.json")
    with pytest.raises(UserError, match="teacher.N=3"):
        names_from_map({"A B": ["C D", "E F"]}, "A B", 3, "map.json")


def test_a_malformed_name_map_is_one_clear_error(tmp_path):
    from causal_unlearn.teacher.substitutes import load_name_map

    broken = tmp_path / "names.json"
    broken.write_text('{"Ada Quill": ["Bea Stone", ')
    with pytest.raises(UserError, match="names.json is not valid UTF-8 JSON.*map each title"):
        load_name_map(str(broken))
