"""Attacks on an unlearned model (many-shot jailbreak, soft-embedding) and the LLM judge."""
