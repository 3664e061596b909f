"""Performance estimation benchmark: tether CBPE/DLE against NannyML on real shifted data."""
