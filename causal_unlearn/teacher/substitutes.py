"""Replacement (counterfactual) names for a target.

Either from a user-supplied map with the shape of the original's files (title -> list of names,
e.g. replace_name_forget_100.json), or generated deterministically with Faker from the seed:
same number of words as the target's name, distinct, sharing no word with the target and never
already present in the document. N is not capped.
"""

import json
import zlib
from pathlib import Path

from causal_unlearn.core.errors import UserError


def load_name_map(path: str) -> dict[str, list[str]]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"teacher.replace_names: {path} does not exist (set it to null to generate names).")
    try:
        mapping = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not valid UTF-8 JSON ({err}); it must map each title to a list of "
                        f"replacement names.") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, list) for v in mapping.values()):
        raise UserError(f"{path} must map each title to a list of replacement names.")
    return mapping


def names_from_map(mapping: dict[str, list[str]], title: str, n: int, source: str) -> list[str]:
    if title not in mapping:
        raise UserError(f"'{title}' has no replacement names in {source}; add it or set teacher.replace_names=null.")
    names = list(dict.fromkeys(mapping[title]))
    if len(names) < n:
        raise UserError(f"{source} has {len(names)} distinct names for '{title}' but teacher.N={n}; lower N or add names.")
    return names[:n]


def generated_names(title: str, n: int, seed: int, document: str) -> list[str]:
    """n distinct fake person names with the target's word count, reproducible from (title, seed)."""
    from faker import Faker

    faker = Faker("en_US")
    # Seed per target, so adding a target never changes another target's names.
    faker.seed_instance(seed * 1_000_003 + zlib.crc32(title.encode()))
    title_words = {w.lower() for w in title.split()}
    word_count = max(len(title.split()), 1)
    names: list[str] = []
    for _ in range(1000 * n):
        if len(names) == n:
            return names
        name = _fake_name(faker, word_count)
        words = name.split()
        clashes = any(w.lower() in title_words for w in words) or any(w in document for w in words)
        if not clashes and name not in names:
            names.append(name)
    raise UserError(f"Could not generate {n} distinct replacement names for '{title}'; lower teacher.N.")


def _fake_name(faker, word_count: int) -> str:
    if word_count == 1:
        return faker.last_name()
    middle = [faker.first_name() for _ in range(word_count - 2)]
    return " ".join([faker.first_name(), *middle, faker.last_name()])
