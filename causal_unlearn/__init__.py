"""causal_unlearn: targeted unlearning by causal intervention (the library behind the root entry points).

Sub-packages, by concept:
    core/     errors, paths, files, stage markers, run layout, processes, configs, data, models, prompts
    teacher/  the causal-intervention teacher: names, substitutes, chunks, alignment, compaction, artifact
    unlearn/  training items, losses, the Trainer, the forget and finetune stages, methods/
    eval/     decoding, QA evaluation, ROUGE, WPU and TOFU aggregation, strangers, report
    attacks/  many-shot jailbreak, soft-embedding attack, LLM judge
    pipeline_queries.py  what scripts/wpu.sh and scripts/tofu.sh ask of a config
"""
