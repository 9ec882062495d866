"""ROUGE as the original scores answers: recall of the gold answer's words (Porter-stemmed)."""

from rouge_score import rouge_scorer


def rouge_recalls(references: list[str], candidates: list[str]) -> list[dict]:
    """ROUGE-1 and ROUGE-L recall (stemmed): how much of the gold answer the generation covers."""
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    scores = [scorer.score(reference, candidate) for reference, candidate in zip(references, candidates)]
    return [{"rouge1_recall": s["rouge1"].recall, "rougeL_recall": s["rougeL"].recall} for s in scores]
