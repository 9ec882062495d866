"""The causal-intervention teacher: targets, name mentions, substitutes, chunks, alignment, the chunk and name teachers, compaction, the artifact."""
