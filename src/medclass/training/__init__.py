"""Training: the LightningModule, losses, optimizers/schedulers, callbacks and the fit loop set-up."""
