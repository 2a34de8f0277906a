"""Erasure records: what `smfa unlearn` certifies, `smfa verify` checks, `smfa stream` chains.

record.py owns erasure.json (fields, hashes, reading and validating it), measure.py what a
record measures, signing.py ed25519 signatures and trust, policy.py the verifier's policy,
verify.py the re-check, chain.py what an earlier record must be before a request chains on it,
stream.py chained requests, show.py how records and verdicts print (docs/erasure.md).
"""
