"""Assessment: what a trained model is worth on labelled images, in one place for every workflow.

``validation`` fits the decision rule on the validation split (temperature, threshold, the operating points
shown beside it) and resolves the positive class; ``scoring`` scores a split (the metrics JSON block, the
predictions CSV), with test-time augmentation when asked; ``referral`` measures accuracy when the most
uncertain cases (MC dropout) are referred; ``epochs`` scores every kept epoch of a run; ``agreement`` compares
an exported bundle with PyTorch; ``predictions`` is the table ``predict`` writes. ``train``, ``evaluate``,
``evaluate --all-epochs``, ``ensemble``, ``export`` and ``predict`` call these; the api only orchestrates.
``validate`` uses ``site_validation`` (the checked plan and the sections of validation.json), ``external`` (a
site scored, summarised, compared with the internal test split, pooled) and ``subgroups``.
"""
