"""Profiles: mergeable, serializable summaries of every column of a table.

``Profile.build(data)`` makes one vectorized pass per batch; ``a.merge(b)`` combines profiles of
different rows; ``to_json`` / ``from_json`` store them; ``reference.compare(current)`` says what
changed. See :class:`Profile`.
"""

from tether.profile.column import ColumnProfile
from tether.profile.profile import Profile

__all__ = ["ColumnProfile", "Profile"]
