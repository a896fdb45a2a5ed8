"""Deployment: exporting a run as a self-describing bundle (ONNX, TorchScript) and serving it over HTTP."""
