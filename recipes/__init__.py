"""Entry points (Hydra apps): pfgm-train, pfgm-sample, pfgm-eval, pfgm-bench. They compose a
modality with the core from a config; no mathematics lives here."""
