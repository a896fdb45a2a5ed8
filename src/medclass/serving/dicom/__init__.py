"""Hospital integration: DICOM in (a C-STORE node, offline files), DICOM Structured Reports out.

``finding`` turns the one inference path's output into per-instance findings, ``codes`` maps class names to
coded concepts, ``report`` builds the Comprehensive SR with highdicom, ``spool`` keeps every received instance
and what was reported on disk, ``senders`` deliver results (C-STORE SCU or STOW-RS) and ``node`` is the C-STORE
SCP that ties them together.
"""
