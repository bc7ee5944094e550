"""The automation: new-data, drift-retraining and packaging sensors (on by default under `make ui`)."""
