"""Demo data and the campaign calendar of a year."""
