"""Validator governance: the ValidatorRegistry system contract's storage (registry.py) and the
attestation field rules (identity.py). Pure: no EVM, storage or network; state/, genesis.py and
the CLI may all import it."""
