"""Reporting: plots (PNG files) and the HTML report, built from the files of a run directory."""
