"""Configs shipped with medclass: the demo's, and the named recipes of ``train --recipe`` (``recipes/``)."""
