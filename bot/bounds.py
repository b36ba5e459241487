"""Bounds on what people type that several floors check (config, roster, chat, periods): one
place each, so a building number valid in config.yaml is valid in chat too."""

from __future__ import annotations

# The largest building number: an estate numbers its buildings in the tens, a street office's
# largest in the hundreds; 20263号楼 is a typo, not a building.
MAX_BUILDING = 999
MAX_BUILDING_RANGE = 1000  # the most buildings one range (1-6, 1-1000) may name
