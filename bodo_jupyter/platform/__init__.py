"""The control plane: state, tasks and providers. No UI and no Jupyter imports here."""
