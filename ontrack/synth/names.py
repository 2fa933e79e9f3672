"""Student names for the synthetic district: plausible, clearly fictional, hostile.

A first name is a common given name; a last name is built from invented syllables
(two or three of them), so it reads like a surname but matches no real family by
accident. A few carry an apostrophe (``O'Brelvane``), a hyphen (two surnames) or an
accent, because names are hostile input wherever they are shown. Each name is a hash
of (seed, student number), so a student keeps the same name however the rest of the
district is drawn.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_FIRST = (
    "Aaliyah", "Aiden", "Alejandro", "Amara", "Andrés", "Angel", "Anika", "Ava",
    "Benjamin", "Brianna", "Camila", "Carlos", "Chloé", "Daniel", "Destiny", "Diego",
    "Elena", "Elijah", "Emily", "Emmanuel", "Fatima", "Gabriel", "Grace", "Hana",
    "Isabella", "Isaiah", "Jamal", "Jasmine", "Javier", "Jayden", "Jesús", "Jordan",
    "José", "Joshua", "Kai", "Kayla", "Kenji", "Leilani", "Liam", "Lucía", "Luis",
    "Malik", "María", "Mateo", "Maya", "Mia", "Mohammed", "Nadia", "Naomi", "Noah",
    "Linh", "Olivia", "Omar", "Priya", "Rafael", "Renée", "Samuel", "Santiago",
    "Sebastián", "Sofía", "Tariq", "Thanh", "Valentina", "Victoria", "Wei", "Ximena",
    "Yusuf", "Zoë", "Amir", "Layla", "Marcus", "Precious", "Rohan", "Talia",
)  # fmt: skip
_ONSET = (
    "Bre", "Cal", "Dov", "Fen", "Gar", "Hol", "Ith", "Jor", "Kes", "Lun", "Mor", "Nev",
    "Orv", "Pel", "Quil", "Ros", "Sten", "Tav", "Ulm", "Vex", "Wyn", "Yar", "Zel",
    "Brenn", "Corv", "Drum", "Esk", "Falk", "Grim", "Harl", "Kov", "Marr", "Thorv",
)  # fmt: skip
_MIDDLE = (
    "a", "e", "i", "o", "u", "al", "en", "il", "om", "ur", "ar", "eth", "iv", "ol",
    "an", "ev", "ir", "os", "ay", "ew",
)  # fmt: skip
_CODA = (
    "dane", "vick", "more", "stad", "wyn", "rick", "holm", "quist", "vane", "ley",
    "brook", "wen", "daro", "nix", "tell", "ward", "mak", "rion", "zell", "gard",
)  # fmt: skip
_ACCENTED = ("é", "ü", "ó", "á")
_PLAIN = ("e", "u", "o", "a")


def _hash(seed: int, sid: np.ndarray, salt: int) -> np.ndarray:
    """A well-mixed 64-bit hash of (seed, student number, salt) (SplitMix64 finaliser)."""
    with np.errstate(over="ignore"):
        x = np.asarray(sid, np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(
            (seed * 1_000_003 + salt) % 2**63
        )
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def _pick(options: tuple[str, ...], h: np.ndarray) -> list[str]:
    return [options[int(k)] for k in h % np.uint64(len(options))]


def _surname(seed: int, sid: np.ndarray, salt: int) -> list[str]:
    """Invented surnames: onset + (middle) + coda, a few with an accent."""
    onset = _pick(_ONSET, _hash(seed, sid, salt))
    middle = _pick(_MIDDLE, _hash(seed, sid, salt + 1))
    coda = _pick(_CODA, _hash(seed, sid, salt + 2))
    shape = _hash(seed, sid, salt + 3) % np.uint64(100)
    names = []
    for o, m, c, s in zip(onset, middle, coda, shape, strict=True):
        name = o + (m if s >= 30 else "") + c
        if s < 4:  # an accent on a vowel after the onset
            at = [name.find(v, len(o)) for v in _PLAIN]
            found = [(k, v) for v, k in enumerate(at) if k > 0]
            if found:
                k, v = min(found)
                name = name[:k] + _ACCENTED[v] + name[k + 1 :]
        names.append(name)
    return names


def student_names(seed: int, sid: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """First and last names of the students numbered ``sid`` (deterministic per seed)."""
    first = _pick(_FIRST, _hash(seed, sid, 11))
    last = _surname(seed, sid, 21)
    second = _surname(seed, sid, 31)
    style = _hash(seed, sid, 41) % np.uint64(100)
    out = []
    for name, other, s in zip(last, second, style, strict=True):
        if s < 3:
            name = f"{('O', 'D')[int(s) % 2]}'{name}"
        elif s < 7:
            name = f"{name}-{other}"
        out.append(name)
    return pa.array(first, pa.string()), pa.array(out, pa.string())
